// On-disk constants and small codecs of XFS shared by the reader and the writer.
import type { BlockDevice } from "@leapp/storage";
import { crc32c, readBytes } from "../../block/volumes-io.js";

export const FORMAT_DEV = 0;
export const FORMAT_LOCAL = 1;
export const FORMAT_EXTENTS = 2;
export const FORMAT_BTREE = 3;

/** Directory data blocks live below this byte offset; leaf blocks from it, free-index blocks from twice it. */
export const DIR_LEAF_OFFSET = 32 * 2 ** 30;
export const DIR_FREE_OFFSET = 2 * DIR_LEAF_OFFSET;

export const NULL_AGINO = 0xffffffff;
export const NULL_AGBLOCK = 0xffffffff;

/** Attribute entry flags: the namespace and the value's place. */
export const ATTR_LOCAL = 0x1;
export const ATTR_ROOT = 0x2;
export const ATTR_SECURE = 0x4;
export const ATTR_INCOMPLETE = 0x80;

/** Magic numbers of the directory and attribute (da) blocks, [v4, v5]. */
export const MAGIC = {
  dirBlock: ["XD2B", "XDB3"],
  dirData: ["XD2D", "XDD3"],
  dirFree: ["XD2F", "XDF3"],
  leaf1: [0xd2f1, 0x3df1],
  leafn: [0xd2ff, 0x3dff],
  daNode: [0xfebe, 0x3ebe],
  attrLeaf: [0xfbee, 0x3bee],
} as const;

/** A mapping of file blocks: `count` blocks at file block `offset` are at filesystem block `block`. */
export interface Extent {
  offset: number;
  block: number;
  count: number;
  unwritten: boolean;
}

/** The longest extent a 21-bit record length holds. */
export const MAX_EXTENT_BLOCKS = 2 ** 21 - 1;

export function parseExtent(dv: DataView, at: number): Extent {
  const hi = dv.getBigUint64(at, false);
  const lo = dv.getBigUint64(at + 8, false);
  return {
    unwritten: hi >> 63n === 1n,
    offset: Number((hi & 0x7fffffffffffffffn) >> 9n),
    block: Number(((hi & 0x1ffn) << 43n) | (lo >> 21n)),
    count: Number(lo & 0x1fffffn),
  };
}

export function packExtent(dv: DataView, at: number, e: Extent): void {
  const block = BigInt(e.block);
  const hi = (e.unwritten ? 1n << 63n : 0n) | (BigInt(e.offset) << 9n) | (block >> 43n);
  const lo = ((block & ((1n << 43n) - 1n)) << 21n) | BigInt(e.count);
  dv.setBigUint64(at, hi, false);
  dv.setBigUint64(at + 8, lo, false);
}

/** The name hash of directories and attributes (xfs_da_hashname). */
export function daHash(name: Uint8Array): number {
  const rol = (x: number, n: number) => ((x << n) | (x >>> (32 - n))) >>> 0;
  let hash = 0;
  let i = 0;
  for (; name.length - i >= 4; i += 4) hash = ((name[i]! << 21) ^ (name[i + 1]! << 14) ^ (name[i + 2]! << 7) ^ name[i + 3]! ^ rol(hash, 28)) >>> 0;
  switch (name.length - i) {
    case 3:
      return ((name[i]! << 14) ^ (name[i + 1]! << 7) ^ name[i + 2]! ^ rol(hash, 21)) >>> 0;
    case 2:
      return ((name[i]! << 7) ^ name[i + 1]! ^ rol(hash, 14)) >>> 0;
    case 1:
      return (name[i]! ^ rol(hash, 7)) >>> 0;
    default:
      return hash;
  }
}

/** Stores the CRC32C of `block` (with its CRC field taken as zero) at `at`, little-endian as XFS keeps it. */
export function setCrc(block: Uint8Array, at: number): void {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  dv.setUint32(at, 0, true);
  dv.setUint32(at, crc32c(block), true);
}

/** The ftype byte of directory entries for a POSIX mode. */
export function ftypeOfMode(mode: number): number {
  switch (mode & 0o170000) {
    case 0o100000: return 1;
    case 0o040000: return 2;
    case 0o020000: return 3;
    case 0o060000: return 4;
    case 0o010000: return 5;
    case 0o140000: return 6;
    case 0o120000: return 7;
    default: return 0;
  }
}

/** Names are kept as their raw bytes in a binary string (one char per byte): guests need not use UTF-8. */
export const nameKey = (bytes: Uint8Array): string => String.fromCharCode(...bytes);
export const keyBytes = (key: string): Uint8Array => Uint8Array.from(key, (c) => c.charCodeAt(0));
export const ascii = (bytes: Uint8Array, offset: number, length: number): string => String.fromCharCode(...bytes.subarray(offset, offset + length));

/**
 * Metadata blocks of a device behind a bounded LRU cache that writes go through, so reads through
 * an open filesystem see its own writes at once.
 */
export class MetadataCache {
  private readonly blocks = new Map<number, Uint8Array>();
  constructor(
    private readonly device: BlockDevice,
    readonly blockSize: number,
    private readonly capacity: number,
  ) {}

  async block(index: number, what: string): Promise<Uint8Array> {
    const hit = this.blocks.get(index);
    if (hit) {
      this.blocks.delete(index);
      this.blocks.set(index, hit);
      return hit;
    }
    const bytes = await readBytes(this.device, index * this.blockSize, this.blockSize, `${what} ${index}`);
    this.remember(index, bytes);
    return bytes;
  }

  /** `length` bytes at a byte offset, assembled from cached blocks. */
  async bytes(offset: number, length: number, what: string): Promise<Uint8Array> {
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    if (first === last) {
      const b = await this.block(first, what);
      const start = offset - first * this.blockSize;
      return b.subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const b = await this.block(i, what);
      const from = Math.max(offset, i * this.blockSize);
      const to = Math.min(offset + length, (i + 1) * this.blockSize);
      out.set(b.subarray(from - i * this.blockSize, to - i * this.blockSize), from - offset);
    }
    return out;
  }

  /** Writes bytes at a byte offset to the device and into any cached block they cover. */
  async write(offset: number, data: Uint8Array): Promise<void> {
    await this.device.write(data, offset);
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + data.length - 1) / this.blockSize);
    for (let i = first; i <= last; i++) {
      const cached = this.blocks.get(i);
      if (!cached) continue;
      const from = Math.max(offset, i * this.blockSize);
      const to = Math.min(offset + data.length, (i + 1) * this.blockSize);
      cached.set(data.subarray(from - offset, to - offset), from - i * this.blockSize);
    }
  }

  private remember(index: number, bytes: Uint8Array): void {
    this.blocks.set(index, bytes);
    if (this.blocks.size > this.capacity) {
      const oldest = this.blocks.keys().next().value;
      if (oldest !== undefined) this.blocks.delete(oldest);
    }
  }
}
