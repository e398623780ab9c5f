// Microsoft Virtual PC / Hyper-V VHD ("vpc" in qemu), read-only: fixed (the data, then a 512-byte
// footer) and dynamic (a footer copy at the start, a dynamic header, a block table, and blocks
// that each begin with a sector bitmap). Everything is big-endian.
//
// qemu-img probes a fixed VHD as raw, since its only signature is the footer at the very end.
// leapp recognises it by that footer — the "conectix" cookie and a valid checksum — so a fixed
// VHD is read without its footer showing up as the last 512 bytes of the disk.
import type { FormatDriver } from "./block-device.js";
import type { ImageFile } from "./image-file.js";
import { corrupt, isPowerOfTwoIn, mappedImage, safeU64, unsupported, type BlockLocation } from "./mapped-image.js";

const FOOTER_BYTES = 512;
const COOKIE = Buffer.from("conectix", "latin1");
const DYNAMIC_COOKIE = Buffer.from("cxsparse", "latin1");
const TYPE_FIXED = 2;
const TYPE_DYNAMIC = 3;
const TYPE_DIFFERENCING = 4;
const UNALLOCATED = 0xffffffff;
/** The largest geometry a VHD can name; disks that big carry their real size in `currentSize`. */
const MAX_GEOMETRY_SECTORS = 65535 * 16 * 255;

/** The one's complement of the byte sum of a footer, its checksum field counted as zero. */
function footerChecksum(footer: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < FOOTER_BYTES; i++) if (i < 64 || i >= 68) sum += footer[i]!;
  return ~sum >>> 0;
}

function isFooter(bytes: Uint8Array): boolean {
  if (bytes.length < FOOTER_BYTES || !COOKIE.equals(bytes.subarray(0, 8))) return false;
  const stored = new DataView(bytes.buffer, bytes.byteOffset, FOOTER_BYTES).getUint32(64, false);
  return stored === footerChecksum(bytes);
}

export const vpcDriver: FormatDriver = {
  format: "vpc",
  probe(head, tail, fileSize) {
    if (head.length >= 8 && COOKIE.equals(head.subarray(0, 8))) return true;
    return fileSize >= FOOTER_BYTES && tail.length >= FOOTER_BYTES && isFooter(tail.subarray(tail.length - FOOTER_BYTES));
  },
  async open(file) {
    try {
      return await openVpc(file);
    } catch (error) {
      await file.close();
      throw error;
    }
  },
};

async function openVpc(file: ImageFile) {
  const { path } = file;
  let footer = await file.readBytes(0, Math.min(FOOTER_BYTES, file.size), "VHD footer");
  // A dynamic disk starts with a copy of its footer; a fixed one has it only at the end.
  if (!COOKIE.equals(footer.subarray(0, 8))) {
    if (file.size < FOOTER_BYTES) throw corrupt(path, "too small to hold a VHD footer");
    footer = await file.readBytes(file.size - FOOTER_BYTES, FOOTER_BYTES, "VHD footer");
  }
  if (footer.length < FOOTER_BYTES || !COOKIE.equals(footer.subarray(0, 8))) throw corrupt(path, "no VHD footer (\"conectix\")");
  if (footer.readUInt32BE(64) !== footerChecksum(footer)) throw corrupt(path, "the VHD footer checksum does not match");

  const diskType = footer.readUInt32BE(60);
  if (diskType === TYPE_DIFFERENCING) throw unsupported(path, "differencing VHDs are not supported; merge the chain first (e.g. with Hyper-V or `qemu-img convert`)");
  if (diskType !== TYPE_FIXED && diskType !== TYPE_DYNAMIC) throw corrupt(path, `unknown VHD disk type ${diskType}`);
  const size = virtualSize(footer, path);

  if (diskType === TYPE_FIXED) {
    if (size > file.size - FOOTER_BYTES) throw corrupt(path, `the fixed VHD claims ${size} bytes but the file holds only ${file.size - FOOTER_BYTES}; it is truncated`);
    const blockSize = 2 * 1024 * 1024;
    const blocks = Math.ceil(size / blockSize);
    return mappedImage({ format: "vpc", size, blockSize, file, locate: (index) => ({ kind: "data", fileOffset: index * blockSize, count: blocks - index }) });
  }

  const headerOffset = safeU64(footer.readBigUInt64BE(16), "dynamic header offset", path);
  const header = await file.readBytes(headerOffset, 1024, "VHD dynamic header");
  if (!DYNAMIC_COOKIE.equals(header.subarray(0, 8))) throw corrupt(path, "no VHD dynamic header (\"cxsparse\") where the footer points");
  const tableOffset = safeU64(header.readBigUInt64BE(16), "block table offset", path);
  const tableEntries = header.readUInt32BE(28);
  const blockSize = header.readUInt32BE(32);
  if (!isPowerOfTwoIn(blockSize, 512, 1024 * 1024 * 1024)) throw corrupt(path, `VHD block size ${blockSize} is not a power of two between 512 B and 1 GiB`);
  const blockCount = Math.ceil(size / blockSize);
  if (tableEntries < blockCount) throw corrupt(path, `the VHD block table has ${tableEntries} entries, fewer than the ${blockCount} blocks of the disk`);
  const table = await file.readBytes(tableOffset, blockCount * 4, "VHD block table");
  // Each block starts with a bitmap of its sectors, padded to whole sectors. qemu reads a block's
  // data whatever its bitmap says, so the bitmap only matters to differencing disks.
  const bitmapBytes = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  const locations: BlockLocation[] = new Array(blockCount);
  for (let i = 0; i < blockCount; i++) {
    const sector = table.readUInt32BE(i * 4);
    if (sector === UNALLOCATED) locations[i] = { kind: "unallocated" };
    else {
      const fileOffset = sector * 512 + bitmapBytes;
      if (fileOffset >= file.size) throw corrupt(path, `VHD block ${i} points to offset ${fileOffset}, past the end of the ${file.size}-byte file`);
      locations[i] = { kind: "data", fileOffset };
    }
  }
  return mappedImage({ format: "vpc", size, blockSize, file, locate: (index) => locations[index]!, details: { clusterSize: blockSize } });
}

/**
 * The disk size as qemu computes it: Virtual PC and qemu's own images are sized by their CHS
 * geometry, everything else (Hyper-V, disk2vhd, XenServer…) by `currentSize` — as is any disk
 * whose geometry is the maximum, which cannot express its size.
 */
function virtualSize(footer: Buffer, path: string): number {
  const creator = footer.toString("latin1", 28, 32);
  const geometrySectors = footer.readUInt16BE(56) * footer.readUInt8(58) * footer.readUInt8(59);
  const useGeometry = (creator === "vpc " || creator === "qemu") && geometrySectors !== MAX_GEOMETRY_SECTORS;
  const currentSize = safeU64(footer.readBigUInt64BE(48), "disk size", path);
  return useGeometry ? geometrySectors * 512 : Math.floor(currentSize / 512) * 512;
}
