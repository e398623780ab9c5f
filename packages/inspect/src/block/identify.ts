import type { BlockDevice } from "@leapp/storage";
import { cString, readBytes, uuidString, view } from "./volumes-io.js";

export type FsType = "ext2" | "ext3" | "ext4" | "xfs" | "vfat" | "swap";

/** What the start of a device says it holds, as blkid would tell it. */
export interface Identity {
  content: "filesystem" | "swap" | "lvm-pv" | "unknown";
  fsType: FsType | undefined;
  uuid: string | undefined;
  label: string | undefined;
}

const UNKNOWN: Identity = { content: "unknown", fsType: undefined, uuid: undefined, label: undefined };
/** Enough for every signature we look at: LVM labels (sectors 0–3), ext (1 KiB + 1 KiB), swap (≤ 64 KiB page). */
const PROBE_BYTES = 64 * 1024;

/** LVM2 PV, swap, XFS, ext2/3/4 or vfat, from the first 64 KiB of a device; never throws on garbage. */
export async function identify(device: BlockDevice): Promise<Identity> {
  const head = await readBytes(device, 0, Math.min(PROBE_BYTES, device.size), "signature probe");
  const identity = identifyHead(head);
  if (identity.fsType === "vfat") {
    // Like blkid, prefer the volume label entry in the root directory to the boot sector's copy.
    const rootLabel = await vfatRootDirectoryLabel(device, head).catch(() => undefined);
    if (rootLabel !== undefined) return { ...identity, label: rootLabel === "" ? undefined : rootLabel };
  }
  return identity;
}

/** The volume-label entry of a FAT root directory (its first 16 KiB / first cluster), if any. */
async function vfatRootDirectoryLabel(device: BlockDevice, boot: Uint8Array): Promise<string | undefined> {
  const dv = view(boot);
  const bytesPerSector = dv.getUint16(11, true);
  const sectorsPerCluster = boot[13]!;
  const reserved = dv.getUint16(14, true);
  const fats = boot[16]!;
  const rootEntries = dv.getUint16(17, true);
  const fatSectors = dv.getUint16(22, true) || dv.getUint32(36, true);
  let offset: number;
  let length: number;
  if (rootEntries > 0) {
    offset = (reserved + fats * fatSectors) * bytesPerSector;
    length = rootEntries * 32;
  } else {
    const rootCluster = dv.getUint32(44, true);
    const rootDirSectors = 0;
    const firstDataSector = reserved + fats * fatSectors + rootDirSectors;
    offset = (firstDataSector + (rootCluster - 2) * sectorsPerCluster) * bytesPerSector;
    length = sectorsPerCluster * bytesPerSector;
  }
  length = Math.min(length, 16 * 1024);
  if (offset + length > device.size || rootEntries === 0 && dv.getUint32(44, true) < 2) return undefined;
  const dir = await readBytes(device, offset, length, "FAT root directory");
  for (let at = 0; at + 32 <= dir.length; at += 32) {
    const first = dir[at]!;
    if (first === 0) break;
    const attributes = dir[at + 11]!;
    if (first === 0xe5 || attributes === 0x0f || (attributes & 0x18) !== 0x08) continue;
    return ascii(dir, at, 11).replace(/[ \0]+$/, "");
  }
  return undefined;
}

export function identifyHead(head: Uint8Array): Identity {
  return identifyLvm(head) ?? identifySwap(head) ?? identifyXfs(head) ?? identifyExt(head) ?? identifyVfat(head) ?? UNKNOWN;
}

const ascii = (bytes: Uint8Array, offset: number, length: number): string =>
  String.fromCharCode(...bytes.subarray(offset, offset + length));

function identifyLvm(head: Uint8Array): Identity | undefined {
  for (let sector = 0; sector < 4; sector++) {
    const at = sector * 512;
    if (head.length >= at + 32 && ascii(head, at, 8) === "LABELONE" && ascii(head, at + 24, 8) === "LVM2 001") {
      // The PV UUID, dashed 6-4-4-4-4-4-6 as blkid and pvs print it.
      const headerAt = at + view(head).getUint32(at + 20, true);
      const raw = headerAt + 32 <= at + 512 && headerAt + 32 <= head.length ? ascii(head, headerAt, 32) : "";
      const uuid = /^[A-Za-z0-9!#]{32}$/.test(raw) ? [0, 6, 10, 14, 18, 22, 26].map((from, i, all) => raw.slice(from, all[i + 1] ?? 32)).join("-") : undefined;
      return { content: "lvm-pv", fsType: undefined, uuid, label: undefined };
    }
  }
  return undefined;
}

function identifySwap(head: Uint8Array): Identity | undefined {
  for (const page of [4096, 8192, 16384, 65536]) {
    if (head.length < page) break;
    const magic = ascii(head, page - 10, 10);
    if (magic === "SWAPSPACE2" || magic === "SWAP-SPACE") {
      const v1 = magic === "SWAPSPACE2";
      return {
        content: "swap",
        fsType: "swap",
        uuid: v1 ? uuidString(head.subarray(1036, 1052)) : undefined,
        label: v1 ? cString(head, 1052, 16) : undefined,
      };
    }
  }
  return undefined;
}

function identifyXfs(head: Uint8Array): Identity | undefined {
  if (head.length < 512 || ascii(head, 0, 4) !== "XFSB") return undefined;
  return { content: "filesystem", fsType: "xfs", uuid: uuidString(head.subarray(32, 48)), label: cString(head, 108, 12) };
}

/** ext feature bits that ext2/ext3 drivers know; anything else makes blkid call it ext4. */
const EXT3_INCOMPAT = 0x0002 | 0x0004 | 0x0010; // filetype, recover, meta_bg
const EXT3_RO_COMPAT = 0x0001 | 0x0002 | 0x0004; // sparse_super, large_file, btree_dir
const COMPAT_HAS_JOURNAL = 0x0004;
const INCOMPAT_JOURNAL_DEV = 0x0008;

export function extTypeOf(compat: number, incompat: number, roCompat: number): "ext2" | "ext3" | "ext4" {
  if ((incompat & ~EXT3_INCOMPAT) !== 0 || (roCompat & ~EXT3_RO_COMPAT) !== 0) return "ext4";
  return compat & COMPAT_HAS_JOURNAL ? "ext3" : "ext2";
}

function identifyExt(head: Uint8Array): Identity | undefined {
  if (head.length < 2048) return undefined;
  const sb = head.subarray(1024, 2048);
  const dv = view(sb);
  if (dv.getUint16(0x38, true) !== 0xef53) return undefined;
  const incompat = dv.getUint32(0x60, true);
  if (incompat & INCOMPAT_JOURNAL_DEV) return undefined; // an external journal, not a filesystem
  return {
    content: "filesystem",
    fsType: extTypeOf(dv.getUint32(0x5c, true), incompat, dv.getUint32(0x64, true)),
    uuid: uuidString(sb.subarray(0x68, 0x78)),
    label: cString(sb, 0x78, 16),
  };
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function identifyVfat(head: Uint8Array): Identity | undefined {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return undefined;
  if (head[0] !== 0xeb && head[0] !== 0xe9) return undefined;
  const dv = view(head);
  const bytesPerSector = dv.getUint16(11, true);
  const sectorsPerCluster = head[13]!;
  if (!isPowerOfTwo(bytesPerSector) || bytesPerSector < 512 || bytesPerSector > 4096 || !isPowerOfTwo(sectorsPerCluster)) return undefined;
  if (head[16] === 0 || dv.getUint16(14, true) === 0) return undefined; // FAT count, reserved sectors
  let idAt: number;
  let labelAt: number;
  if (ascii(head, 82, 5) === "FAT32") {
    idAt = 67;
    labelAt = 71;
  } else if (ascii(head, 54, 4) === "FAT1" || ascii(head, 54, 3) === "FAT") {
    idAt = 39;
    labelAt = 43;
  } else {
    return undefined;
  }
  const id = dv.getUint32(idAt, true);
  const uuid = `${(id >>> 16).toString(16).padStart(4, "0")}-${(id & 0xffff).toString(16).padStart(4, "0")}`.toUpperCase();
  const rawLabel = ascii(head, labelAt, 11).replace(/[ \0]+$/, "");
  return { content: "filesystem", fsType: "vfat", uuid, label: rawLabel === "" || rawLabel === "NO NAME" ? undefined : rawLabel };
}
