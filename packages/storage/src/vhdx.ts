// Hyper-V VHDX, read-only: fixed and dynamic disks. The layout (MS-VHDX): a file identifier, two
// headers of which the valid one with the higher sequence number is current, a region table
// locating the block allocation table (BAT) and the metadata region, and payload blocks. BAT
// entries for payload blocks are interleaved with sector-bitmap entries, one per "chunk".
// Differencing disks and disks whose log still needs replaying are refused with a clear message.
import type { FormatDriver } from "./block-device.js";
import type { ImageFile } from "./image-file.js";
import { corrupt, isPowerOfTwoIn, mappedImage, safeU64, unsupported, type BlockLocation } from "./mapped-image.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const FILE_SIGNATURE = Buffer.from("vhdxfile", "latin1");
const HEADER_OFFSETS = [64 * KIB, 128 * KIB];
const HEADER_BYTES = 4 * KIB;
const REGION_TABLE_OFFSETS = [192 * KIB, 256 * KIB];
const REGION_TABLE_BYTES = 64 * KIB;
const MAX_TABLE_ENTRIES = 2047;

/** A GUID as stored on disk: the first three fields little-endian, the rest as written. */
function guid(text: string): string {
  const hex = text.replace(/-/g, "").toLowerCase();
  const swap = (s: string) => s.match(/../g)!.reverse().join("");
  return swap(hex.slice(0, 8)) + swap(hex.slice(8, 12)) + swap(hex.slice(12, 16)) + hex.slice(16);
}

const REGION_BAT = guid("2DC27766-F623-4200-9D64-115E9BFD4A08");
const REGION_METADATA = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E");
const META_FILE_PARAMETERS = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
const META_VIRTUAL_DISK_SIZE = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
const META_LOGICAL_SECTOR_SIZE = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
const KNOWN_METADATA = new Set([
  META_FILE_PARAMETERS,
  META_VIRTUAL_DISK_SIZE,
  META_LOGICAL_SECTOR_SIZE,
  guid("BECA12AB-B2E6-4523-93EF-C309E000C746"), // virtual disk id
  guid("CDA348C7-445D-4471-9CC9-E9885251C556"), // physical sector size
  guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C"), // parent locator
]);

const STATE_NOT_PRESENT = 0;
const STATE_UNDEFINED = 1;
const STATE_ZERO = 2;
const STATE_UNMAPPED = 3;
const STATE_FULLY_PRESENT = 6;
const STATE_PARTIALLY_PRESENT = 7;

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli) of `data` with the 4 bytes at `skip` counted as zero. */
export function crc32c(data: Uint8Array, skip = -1): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const byte = skip >= 0 && i >= skip && i < skip + 4 ? 0 : data[i]!;
    crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export const vhdxDriver: FormatDriver = {
  format: "vhdx",
  probe(head) {
    return head.length >= 8 && FILE_SIGNATURE.equals(head.subarray(0, 8));
  },
  async open(file) {
    try {
      return await openVhdx(file);
    } catch (error) {
      await file.close();
      throw error;
    }
  },
};

async function currentHeader(file: ImageFile): Promise<Buffer> {
  let best: { sequence: bigint; header: Buffer } | undefined;
  for (const offset of HEADER_OFFSETS) {
    const header = await file.readBytes(offset, HEADER_BYTES, "VHDX header");
    const valid = header.toString("latin1", 0, 4) === "head" && header.readUInt32LE(4) === crc32c(header, 4) && header.readUInt16LE(66) === 1;
    if (!valid) continue;
    const sequence = header.readBigUInt64LE(8);
    if (!best || sequence > best.sequence) best = { sequence, header };
  }
  if (!best) throw corrupt(file.path, "neither VHDX header is valid");
  return best.header;
}

async function regionTable(file: ImageFile): Promise<Map<string, { offset: number; length: number }>> {
  for (const offset of REGION_TABLE_OFFSETS) {
    const table = await file.readBytes(offset, REGION_TABLE_BYTES, "VHDX region table");
    if (table.toString("latin1", 0, 4) !== "regi" || table.readUInt32LE(4) !== crc32c(table, 4)) continue;
    const count = table.readUInt32LE(8);
    if (count > MAX_TABLE_ENTRIES) throw corrupt(file.path, `the VHDX region table claims ${count} entries`);
    const regions = new Map<string, { offset: number; length: number }>();
    for (let i = 0; i < count; i++) {
      const at = 16 + i * 32;
      const id = table.toString("hex", at, at + 16);
      const region = { offset: safeU64(table.readBigUInt64LE(at + 16), "region offset", file.path), length: table.readUInt32LE(at + 24) };
      const required = (table.readUInt32LE(at + 28) & 1) !== 0;
      if (id !== REGION_BAT && id !== REGION_METADATA && required) throw unsupported(file.path, `the VHDX needs region ${id}, which leapp does not know`);
      regions.set(id, region);
    }
    return regions;
  }
  throw corrupt(file.path, "neither VHDX region table is valid");
}

async function openVhdx(file: ImageFile) {
  const { path } = file;
  const identifier = await file.readBytes(0, 8, "VHDX file identifier");
  if (!FILE_SIGNATURE.equals(identifier)) throw corrupt(path, "no VHDX file identifier");
  const header = await currentHeader(file);
  if (header.subarray(48, 64).some((b) => b !== 0)) {
    throw unsupported(path, "the VHDX log holds changes that were never applied (the disk was not closed cleanly); leapp does not replay logs: open it once read-write in Hyper-V, or run `qemu-img check -r all` on a copy, then retry");
  }
  const regions = await regionTable(file);
  const batRegion = regions.get(REGION_BAT);
  const metadataRegion = regions.get(REGION_METADATA);
  if (!batRegion || !metadataRegion) throw corrupt(path, "the VHDX region table lacks the BAT or the metadata region");

  // Metadata: a table of items, each at an offset inside the region (a few KiB in practice).
  if (metadataRegion.length > 32 * MIB) throw corrupt(path, `the VHDX metadata region claims ${metadataRegion.length} bytes`);
  const metadata = await file.readBytes(metadataRegion.offset, metadataRegion.length, "VHDX metadata region");
  if (metadata.length < 32 || metadata.toString("latin1", 0, 8) !== "metadata") throw corrupt(path, "no VHDX metadata table");
  const itemCount = metadata.readUInt16LE(10);
  if (itemCount > MAX_TABLE_ENTRIES || 32 + itemCount * 32 > metadata.length) throw corrupt(path, `the VHDX metadata table claims ${itemCount} entries`);
  const items = new Map<string, Buffer>();
  for (let i = 0; i < itemCount; i++) {
    const at = 32 + i * 32;
    const id = metadata.toString("hex", at, at + 16);
    const offset = metadata.readUInt32LE(at + 16);
    const length = metadata.readUInt32LE(at + 20);
    const required = (metadata.readUInt32LE(at + 24) & 4) !== 0;
    if (!KNOWN_METADATA.has(id) && required) throw unsupported(path, `the VHDX needs metadata item ${id}, which leapp does not know`);
    if (offset + length > metadata.length) throw corrupt(path, `VHDX metadata item ${id} lies outside the metadata region`);
    items.set(id, metadata.subarray(offset, offset + length));
  }
  const item = (id: string, name: string, bytes: number): Buffer => {
    const value = items.get(id);
    if (!value || value.length < bytes) throw corrupt(path, `the VHDX metadata lacks the ${name}`);
    return value;
  };
  const parameters = item(META_FILE_PARAMETERS, "file parameters", 8);
  const blockSize = parameters.readUInt32LE(0);
  const hasParent = (parameters.readUInt32LE(4) & 2) !== 0;
  const size = safeU64(item(META_VIRTUAL_DISK_SIZE, "virtual disk size", 8).readBigUInt64LE(0), "virtual disk size", path);
  const sectorSize = item(META_LOGICAL_SECTOR_SIZE, "logical sector size", 4).readUInt32LE(0);
  if (hasParent) throw unsupported(path, "differencing VHDX disks are not supported; merge the chain first (Hyper-V \"Merge\" or `qemu-img convert`)");
  if (!isPowerOfTwoIn(blockSize, MIB, 256 * MIB)) throw corrupt(path, `VHDX block size ${blockSize} is not a power of two between 1 MiB and 256 MiB`);
  if (sectorSize !== 512 && sectorSize !== 4096) throw corrupt(path, `VHDX logical sector size ${sectorSize} is neither 512 nor 4096`);
  if (size > 64 * 1024 * 1024 * MIB) throw corrupt(path, `the VHDX virtual size ${size} exceeds the format's 64 TiB limit`);

  // One sector-bitmap entry follows every `chunkRatio` payload entries.
  const chunkRatio = (2 ** 23 * sectorSize) / blockSize;
  const blockCount = Math.ceil(size / blockSize);
  const entryCount = blockCount === 0 ? 0 : blockCount + Math.floor((blockCount - 1) / chunkRatio);
  if (entryCount * 8 > batRegion.length) throw corrupt(path, `the VHDX BAT region (${batRegion.length} bytes) is too small for ${entryCount} entries`);
  const bat = await file.readBytes(batRegion.offset, entryCount * 8, "VHDX BAT");
  const locations: BlockLocation[] = new Array(blockCount);
  for (let i = 0; i < blockCount; i++) {
    const at = (i + Math.floor(i / chunkRatio)) * 8;
    const low = bat.readUInt32LE(at);
    const high = bat.readUInt32LE(at + 4);
    const state = low & 7;
    switch (state) {
      case STATE_NOT_PRESENT:
      case STATE_UNDEFINED:
      case STATE_UNMAPPED:
        locations[i] = { kind: "unallocated" };
        break;
      case STATE_ZERO:
        locations[i] = { kind: "zero" };
        break;
      case STATE_FULLY_PRESENT: {
        const fileOffset = (high * 4096 + (low >>> 20)) * MIB;
        if (fileOffset < MIB || fileOffset >= file.size) {
          throw corrupt(path, `VHDX block ${i} points to offset ${fileOffset}, outside the ${file.size}-byte file's payload area`);
        }
        locations[i] = { kind: "data", fileOffset };
        break;
      }
      case STATE_PARTIALLY_PRESENT:
        throw unsupported(path, `VHDX block ${i} is partially present, which only differencing disks use`);
      default:
        throw corrupt(path, `VHDX block ${i} has the invalid state ${state}`);
    }
  }
  return mappedImage({ format: "vhdx", size, blockSize, file, locate: (index) => locations[index]!, details: { clusterSize: blockSize } });
}
