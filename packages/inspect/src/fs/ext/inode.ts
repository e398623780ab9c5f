// One ext2/3/4 inode's bytes: where each field lives, read and written in one place.
import { view } from "../../block/volumes-io.js";
import type { InodeBase } from "../inode-filesystem.js";

export const FLAG_INDEX = 0x1000;
export const FLAG_HUGE_FILE = 0x40000;
export const FLAG_EXTENTS = 0x80000;
export const FLAG_INLINE_DATA = 0x10000000;
export const FLAG_ENCRYPTED = 0x800;
export const FLAG_VERITY = 0x100000;
export const FLAG_CASEFOLD = 0x40000000;
/** Immutable and append-only: a write must fail as it would through the kernel. */
export const FLAG_IMMUTABLE = 0x10;
export const FLAG_APPEND = 0x20;

/** The 60-byte i_block area: block map, extent root, inline data or fast-symlink text. */
export const BLOCK_AREA = 0x28;
export const BLOCK_AREA_SIZE = 60;

const TIMES = { atime: [0x08, 0x8c], ctime: [0x0c, 0x84], mtime: [0x10, 0x88], crtime: [0x90, 0x94] } as const;
export type TimeField = keyof typeof TIMES;

/** An inode as the drivers use it: the parsed fields and its live bytes. */
export interface ExtInode extends InodeBase<number> {
  flags: number;
  /** 512-byte sectors in use (data, mapping blocks, the xattr block). */
  sectors: number;
  fileAcl: number;
  generation: number;
  blockArea: Uint8Array;
  raw: Uint8Array;
}

/**
 * Field access over one inode's bytes (`raw`, a view into a cached inode table block).
 * `inodeSize` bounds the large-inode fields: times with nanoseconds, i_checksum_hi, crtime.
 */
export class RawInode {
  readonly dv: DataView;
  constructor(
    readonly raw: Uint8Array,
    private readonly hugeFile: boolean,
  ) {
    this.dv = view(raw);
  }

  get mode(): number {
    return this.dv.getUint16(0x0, true);
  }
  set mode(value: number) {
    this.dv.setUint16(0x0, value, true);
  }
  get uid(): number {
    return (this.dv.getUint16(0x2, true) | (this.dv.getUint16(0x78, true) << 16)) >>> 0;
  }
  set uid(value: number) {
    this.dv.setUint16(0x2, value & 0xffff, true);
    this.dv.setUint16(0x78, value >>> 16, true);
  }
  get gid(): number {
    return (this.dv.getUint16(0x18, true) | (this.dv.getUint16(0x7a, true) << 16)) >>> 0;
  }
  set gid(value: number) {
    this.dv.setUint16(0x18, value & 0xffff, true);
    this.dv.setUint16(0x7a, value >>> 16, true);
  }
  get size(): number {
    return this.dv.getUint32(0x4, true) + this.dv.getUint32(0x6c, true) * 2 ** 32;
  }
  set size(value: number) {
    this.dv.setUint32(0x4, value % 2 ** 32, true);
    this.dv.setUint32(0x6c, Math.floor(value / 2 ** 32), true);
  }
  get links(): number {
    return this.dv.getUint16(0x1a, true);
  }
  set links(value: number) {
    this.dv.setUint16(0x1a, value, true);
  }
  get dtime(): number {
    return this.dv.getUint32(0x14, true);
  }
  set dtime(value: number) {
    this.dv.setUint32(0x14, value, true);
  }
  get flags(): number {
    return this.dv.getUint32(0x20, true);
  }
  set flags(value: number) {
    this.dv.setUint32(0x20, value >>> 0, true);
  }
  get generation(): number {
    return this.dv.getUint32(0x64, true);
  }
  set generation(value: number) {
    this.dv.setUint32(0x64, value >>> 0, true);
  }
  get fileAcl(): number {
    return this.dv.getUint32(0x68, true) + this.dv.getUint16(0x76, true) * 2 ** 32;
  }
  set fileAcl(value: number) {
    this.dv.setUint32(0x68, value % 2 ** 32, true);
    this.dv.setUint16(0x76, Math.floor(value / 2 ** 32), true);
  }
  /** i_blocks in 512-byte sectors (48 bits with huge_file; fs blocks when the inode says so). */
  sectors(blockSize: number): number {
    const low = this.dv.getUint32(0x1c, true);
    if (!this.hugeFile) return low;
    const count = low + this.dv.getUint16(0x74, true) * 2 ** 32;
    return this.flags & FLAG_HUGE_FILE ? count * (blockSize / 512) : count;
  }
  setSectors(value: number): void {
    this.dv.setUint32(0x1c, value % 2 ** 32, true);
    this.dv.setUint16(0x74, this.hugeFile ? Math.floor(value / 2 ** 32) : 0, true);
    this.flags &= ~FLAG_HUGE_FILE;
  }
  get blockArea(): Uint8Array {
    return this.raw.subarray(BLOCK_AREA, BLOCK_AREA + BLOCK_AREA_SIZE);
  }
  /** i_extra_isize: how much of the inode past 128 bytes holds fields (the rest, xattrs). */
  get extraIsize(): number {
    return this.raw.length > 128 ? this.dv.getUint16(0x80, true) : 0;
  }
  set extraIsize(value: number) {
    if (this.raw.length > 128) this.dv.setUint16(0x80, value, true);
  }

  private extraFits(at: number): boolean {
    return at + 4 <= 128 + this.extraIsize && at + 4 <= this.raw.length;
  }

  /** A time in nanoseconds since the epoch (whole seconds where the inode has no extra word). */
  time(field: TimeField): bigint {
    const [at, extraAt] = TIMES[field];
    if (field === "crtime" && !this.extraFits(at)) return 0n;
    const seconds = BigInt(this.dv.getInt32(at, true));
    if (!this.extraFits(extraAt)) return seconds * 1_000_000_000n;
    const extra = this.dv.getUint32(extraAt, true);
    return (seconds + BigInt(extra & 3) * 2n ** 32n) * 1_000_000_000n + BigInt(extra >>> 2);
  }

  /** Stores a time: 32 signed bits of seconds, then 2 epoch bits and the nanoseconds where they fit. */
  setTime(field: TimeField, ns: bigint): void {
    const [at, extraAt] = TIMES[field];
    if (field === "crtime" && !this.extraFits(at)) return;
    let seconds = ns / 1_000_000_000n;
    let nanos = ns % 1_000_000_000n;
    if (nanos < 0n) {
      nanos += 1_000_000_000n;
      seconds -= 1n;
    }
    const low = BigInt.asIntN(32, seconds);
    this.dv.setInt32(at, Number(low), true);
    if (this.extraFits(extraAt)) {
      const epoch = Number(((seconds - low) >> 32n) & 3n);
      this.dv.setUint32(extraAt, ((Number(nanos) << 2) | epoch) >>> 0, true);
    }
  }

  /** Device numbers, in the old (8:8 bits in i_block[0]) or new (12:20 bits in i_block[1]) encoding. */
  get rdev(): { major: number; minor: number } {
    const old = this.dv.getUint32(BLOCK_AREA, true);
    if (old !== 0) return { major: (old >> 8) & 0xff, minor: old & 0xff };
    const dev = this.dv.getUint32(BLOCK_AREA + 4, true);
    return { major: (dev >> 8) & 0xfff, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
  }
  setRdev(major: number, minor: number): void {
    this.blockArea.fill(0);
    if (major < 256 && minor < 256) this.dv.setUint32(BLOCK_AREA, (major << 8) | minor, true);
    else this.dv.setUint32(BLOCK_AREA + 4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
  }

  /** The parsed view the path layer and readers use. */
  parse(number: number, blockSize: number): ExtInode {
    const mode = this.mode;
    const type = mode & 0o170000;
    const device = type === 0o020000 || type === 0o060000 ? this.rdev : { major: 0, minor: 0 };
    return {
      number,
      mode,
      uid: this.uid,
      gid: this.gid,
      size: this.size,
      nlink: this.links,
      atimeNs: this.time("atime"),
      mtimeNs: this.time("mtime"),
      ctimeNs: this.time("ctime"),
      rdevMajor: device.major,
      rdevMinor: device.minor,
      flags: this.flags,
      sectors: this.sectors(blockSize),
      fileAcl: this.fileAcl,
      generation: this.generation,
      blockArea: this.blockArea,
      raw: this.raw,
    };
  }
}
