// Block groups: where each group's descriptor, bitmaps and inode table are, and the bitmaps
// themselves — including those of groups the filesystem left uninitialized (BLOCK_UNINIT /
// INODE_UNINIT), which are computed as the kernel computes them.
import { corrupt, view } from "../../block/volumes-io.js";
import type { WriteBackCache } from "../write-back-cache.js";
import type { ExtChecksums } from "./checksum.js";
import { COMPAT, hasSuperblockBackup, INCOMPAT, RO_COMPAT, type Superblock } from "./superblock.js";

export const BG_INODE_UNINIT = 0x1;
export const BG_BLOCK_UNINIT = 0x2;

/** One group descriptor's fields over its bytes (32 or 64+ bytes, a view into the cached table). */
export class GroupDescriptor {
  private readonly dv: DataView;
  readonly bytes: Uint8Array;
  constructor(
    readonly group: number,
    /** The descriptor table block holding it, and that block's cached bytes (to mark dirty). */
    readonly tableBlock: number,
    readonly tableBytes: Uint8Array,
    offset: number,
    size: number,
  ) {
    this.bytes = tableBytes.subarray(offset, offset + size);
    this.dv = view(this.bytes);
  }
  private get wide(): boolean {
    return this.bytes.length >= 64;
  }
  private u48(lo: number, hi: number): number {
    return this.dv.getUint32(lo, true) + (this.wide ? this.dv.getUint32(hi, true) * 2 ** 32 : 0);
  }
  private u32(lo: number, hi: number): number {
    return this.dv.getUint16(lo, true) + (this.wide ? this.dv.getUint16(hi, true) * 65536 : 0);
  }
  private setU32(lo: number, hi: number, value: number): void {
    this.dv.setUint16(lo, value & 0xffff, true);
    if (this.wide) this.dv.setUint16(hi, value >>> 16, true);
  }
  get blockBitmap(): number {
    return this.u48(0x0, 0x20);
  }
  get inodeBitmap(): number {
    return this.u48(0x4, 0x24);
  }
  get inodeTable(): number {
    return this.u48(0x8, 0x28);
  }
  get freeBlocks(): number {
    return this.u32(0xc, 0x2c);
  }
  set freeBlocks(value: number) {
    this.setU32(0xc, 0x2c, value);
  }
  get freeInodes(): number {
    return this.u32(0xe, 0x2e);
  }
  set freeInodes(value: number) {
    this.setU32(0xe, 0x2e, value);
  }
  get usedDirs(): number {
    return this.u32(0x10, 0x30);
  }
  set usedDirs(value: number) {
    this.setU32(0x10, 0x30, value);
  }
  get flags(): number {
    return this.dv.getUint16(0x12, true);
  }
  set flags(value: number) {
    this.dv.setUint16(0x12, value, true);
  }
  get itableUnused(): number {
    return this.u32(0x1c, 0x32);
  }
  set itableUnused(value: number) {
    this.setU32(0x1c, 0x32, value);
  }
  set blockBitmapChecksum(value: number) {
    this.setU32(0x18, 0x38, value);
  }
  set inodeBitmapChecksum(value: number) {
    this.setU32(0x1a, 0x3a, value);
  }
  set checksum(value: number) {
    this.dv.setUint16(0x1e, value, true);
  }
}

/**
 * The block groups of one filesystem, read through its metadata cache. Bitmaps of uninitialized
 * groups (only meaningful with group descriptor checksums) are computed, not read.
 */
export class BlockGroups {
  readonly inodeTableBlocks: number;
  private readonly uninitAware: boolean;
  private readonly inodeTables = new Map<number, number>();
  private readonly descriptors = new Map<number, GroupDescriptor>();
  /** Group → the other groups' bitmaps and inode tables (flex_bg) that lie inside it. */
  private foreignMetadata: Map<number, Array<[number, number]>> | undefined;

  constructor(
    private readonly sb: Superblock,
    private readonly cache: WriteBackCache,
    private readonly checksums: ExtChecksums,
  ) {
    this.inodeTableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
    this.uninitAware = sb.hasRoCompat(RO_COMPAT.gdt_csum) || sb.hasRoCompat(RO_COMPAT.metadata_csum);
  }

  checkBlock(block: number, what: string): void {
    if (!Number.isSafeInteger(block) || block >= this.sb.blocksCount || block < this.sb.firstDataBlock) {
      throw corrupt(`${what} points to block ${block}, outside the ${this.sb.blocksCount}-block ext filesystem`);
    }
  }

  firstBlock(group: number): number {
    return this.sb.firstDataBlock + group * this.sb.blocksPerGroup;
  }

  blocksIn(group: number): number {
    return Math.min(this.sb.blocksPerGroup, this.sb.blocksCount - this.firstBlock(group));
  }

  groupOf(block: number): number {
    return Math.floor((block - this.sb.firstDataBlock) / this.sb.blocksPerGroup);
  }

  private hasSuper(group: number): boolean {
    if (this.sb.hasCompat(COMPAT.sparse_super2)) {
      const dv = view(this.sb.bytes);
      return group === 0 || group === dv.getUint32(0x24c, true) || group === dv.getUint32(0x250, true);
    }
    return hasSuperblockBackup(group, this.sb.hasRoCompat(RO_COMPAT.sparse_super));
  }

  private get descPerBlock(): number {
    return this.sb.blockSize / this.sb.descSize;
  }

  /** The block holding group descriptor `group`, with meta_bg's scattered layout. */
  descriptorLocation(group: number): { block: number; offset: number } {
    const descBlock = Math.floor(group / this.descPerBlock);
    const offset = (group % this.descPerBlock) * this.sb.descSize;
    // Descriptors follow the superblock, which is block 1 with 1 KiB blocks even where the first
    // group starts at block 0 (bigalloc).
    const superblock = Math.floor(1024 / this.sb.blockSize);
    if (this.sb.hasIncompat(INCOMPAT.meta_bg) && descBlock >= this.sb.firstMetaBg) {
      const firstGroup = descBlock * this.descPerBlock;
      const start = firstGroup === 0 ? superblock : this.firstBlock(firstGroup);
      return { block: start + (this.hasSuper(firstGroup) ? 1 : 0), offset };
    }
    return { block: superblock + 1 + descBlock, offset };
  }

  async descriptor(group: number): Promise<GroupDescriptor> {
    if (!Number.isInteger(group) || group < 0 || group >= this.sb.groupCount) throw corrupt(`block group ${group} is outside the ${this.sb.groupCount} groups of this ext filesystem`);
    const { block, offset } = this.descriptorLocation(group);
    this.checkBlock(block, `group descriptor ${group}`);
    const bytes = await this.cache.block(block);
    // The same object while its table block stays cached (a re-read block gets a new one).
    const known = this.descriptors.get(group);
    if (known && known.tableBytes === bytes) return known;
    const desc = new GroupDescriptor(group, block, bytes, offset, this.sb.descSize);
    if (this.descriptors.size > 65536) this.descriptors.clear();
    this.descriptors.set(group, desc);
    return desc;
  }

  async inodeTable(group: number): Promise<number> {
    const known = this.inodeTables.get(group);
    if (known !== undefined) return known;
    const table = (await this.descriptor(group)).inodeTable;
    this.checkBlock(table, `the inode table of group ${group}`);
    this.checkBlock(table + this.inodeTableBlocks - 1, `the inode table of group ${group}`);
    // Tables never move; remembering where they are spares a descriptor read per inode.
    if (this.inodeTables.size < 65536) this.inodeTables.set(group, table);
    return table;
  }

  /** The superblock copy and descriptor blocks at the start of a group, as [first, count]. */
  baseOverhead(group: number): [number, number] {
    const start = group === 0 && this.sb.blockSize === 1024 ? 1 : this.firstBlock(group);
    const hasSuper = this.hasSuper(group);
    let count = hasSuper ? 1 : 0;
    const metaBgSize = this.descPerBlock;
    if (!this.sb.hasIncompat(INCOMPAT.meta_bg) || Math.floor(group / metaBgSize) < this.sb.firstMetaBg) {
      if (hasSuper) {
        const oldDescBlocks = this.sb.hasIncompat(INCOMPAT.meta_bg) ? this.sb.firstMetaBg : Math.ceil(this.sb.groupCount / metaBgSize) + this.sb.reservedGdtBlocks;
        count += oldDescBlocks;
      }
    } else {
      const at = group % metaBgSize;
      if (at === 0 || at === 1 || at === metaBgSize - 1) count++;
    }
    return [start, count];
  }

  /** Every group's bitmaps and inode table, by the group whose blocks hold them. */
  private async metadataByHost(): Promise<Map<number, Array<[number, number]>>> {
    if (this.foreignMetadata) return this.foreignMetadata;
    const map = new Map<number, Array<[number, number]>>();
    const add = (block: number, count: number) => {
      for (let b = block; b < block + count; ) {
        const host = this.groupOf(b);
        const end = Math.min(block + count, this.firstBlock(host) + this.sb.blocksPerGroup);
        let list = map.get(host);
        if (!list) map.set(host, (list = []));
        list.push([b, end - b]);
        b = end;
      }
    };
    for (let g = 0; g < this.sb.groupCount; g++) {
      const desc = await this.descriptor(g);
      this.checkBlock(desc.blockBitmap, `the block bitmap of group ${g}`);
      this.checkBlock(desc.inodeBitmap, `the inode bitmap of group ${g}`);
      this.checkBlock(desc.inodeTable + this.inodeTableBlocks - 1, `the inode table of group ${g}`);
      add(desc.blockBitmap, 1);
      add(desc.inodeBitmap, 1);
      add(desc.inodeTable, this.inodeTableBlocks);
    }
    this.foreignMetadata = map;
    return map;
  }

  /** Whether a group's block bitmap is not on disk yet (computed from the layout instead). */
  async blockBitmapUninit(group: number): Promise<boolean> {
    return this.uninitAware && ((await this.descriptor(group)).flags & BG_BLOCK_UNINIT) !== 0;
  }

  async inodeBitmapUninit(group: number): Promise<boolean> {
    return this.uninitAware && ((await this.descriptor(group)).flags & BG_INODE_UNINIT) !== 0;
  }

  /** The block bitmap of an uninitialized group: its base overhead, the metadata inside it, and the padding past its end. */
  async computedBlockBitmap(group: number): Promise<Uint8Array> {
    const bitmap = new Uint8Array(this.sb.blockSize);
    const first = this.firstBlock(group);
    const [start, count] = this.baseOverhead(group);
    setBits(bitmap, start - first, count);
    for (const [block, n] of (await this.metadataByHost()).get(group) ?? []) setBits(bitmap, block - first, n);
    setBits(bitmap, this.blocksIn(group), this.sb.blockSize * 8 - this.blocksIn(group));
    return bitmap;
  }

  /** An uninitialized inode bitmap: all free, padding past inodes_per_group set. */
  computedInodeBitmap(): Uint8Array {
    const bitmap = new Uint8Array(this.sb.blockSize);
    setBits(bitmap, this.sb.inodesPerGroup, this.sb.blockSize * 8 - this.sb.inodesPerGroup);
    return bitmap;
  }

  /** A group's block bitmap as it stands (read, or computed when uninitialized). */
  async blockBitmap(group: number): Promise<Uint8Array> {
    if (await this.blockBitmapUninit(group)) return this.computedBlockBitmap(group);
    const desc = await this.descriptor(group);
    this.checkBlock(desc.blockBitmap, `the block bitmap of group ${group}`);
    return this.cache.block(desc.blockBitmap);
  }

  /** Fills in bitmap and descriptor checksums of the given groups (before their blocks are written). */
  async seal(groups: Iterable<number>): Promise<void> {
    for (const group of groups) {
      const desc = await this.descriptor(group);
      // An uninitialized bitmap is not on disk: its checksum is not kept (e2fsck skips it too).
      if (this.checksums.enabled && !(await this.blockBitmapUninit(group))) {
        desc.blockBitmapChecksum = this.checksums.bitmap((await this.cache.block(desc.blockBitmap)).subarray(0, this.sb.blocksPerGroup / 8));
      }
      if (this.checksums.enabled && !(await this.inodeBitmapUninit(group))) {
        desc.inodeBitmapChecksum = this.checksums.bitmap((await this.cache.block(desc.inodeBitmap)).subarray(0, this.sb.inodesPerGroup / 8));
      }
      desc.checksum = this.checksums.groupDescriptor(group, desc.bytes);
      this.cache.dirty(desc.tableBlock, desc.tableBytes);
    }
  }
}

/** Sets `count` bits from bit `from`. */
export function setBits(bitmap: Uint8Array, from: number, count: number): void {
  fillBits(bitmap, from, from + count, true);
}

/** Clears `count` bits from bit `from`. */
export function clearBits(bitmap: Uint8Array, from: number, count: number): void {
  fillBits(bitmap, from, from + count, false);
}

function fillBits(bitmap: Uint8Array, from: number, end: number, on: boolean): void {
  let bit = from;
  for (; bit < end && bit & 7; bit++) bitmap[bit >> 3] = on ? bitmap[bit >> 3]! | (1 << (bit & 7)) : bitmap[bit >> 3]! & ~(1 << (bit & 7));
  if (bit + 8 <= end) {
    bitmap.fill(on ? 0xff : 0, bit >> 3, (end >> 3));
    bit = end & ~7;
  }
  for (; bit < end; bit++) bitmap[bit >> 3] = on ? bitmap[bit >> 3]! | (1 << (bit & 7)) : bitmap[bit >> 3]! & ~(1 << (bit & 7));
}

export function testBit(bitmap: Uint8Array, bit: number): boolean {
  return (bitmap[bit >> 3]! & (1 << (bit & 7))) !== 0;
}

/** The first clear bit in [from, end), or -1. */
export function findClear(bitmap: Uint8Array, from: number, end: number): number {
  let bit = from;
  while (bit < end && bit & 7) {
    if (!testBit(bitmap, bit)) return bit;
    bit++;
  }
  while (bit + 8 <= end && bitmap[bit >> 3] === 0xff) bit += 8;
  while (bit < end) {
    if (!testBit(bitmap, bit)) return bit;
    bit++;
  }
  return -1;
}

/** The first set bit in [from, end), or `end`. */
export function findSet(bitmap: Uint8Array, from: number, end: number): number {
  let bit = from;
  while (bit < end && bit & 7) {
    if (testBit(bitmap, bit)) return bit;
    bit++;
  }
  while (bit + 8 <= end && bitmap[bit >> 3] === 0) bit += 8;
  while (bit < end) {
    if (testBit(bitmap, bit)) return bit;
    bit++;
  }
  return end;
}
