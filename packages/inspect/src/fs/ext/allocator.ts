// Block and inode allocation over the group bitmaps, keeping every counter the filesystem has in
// step: the group descriptors' free blocks, free inodes, directories and unused inode table tail,
// and the superblock's totals.
import { InspectError } from "../../errors.js";
import { corrupt } from "../../block/volumes-io.js";
import type { WriteBackCache } from "../write-back-cache.js";
import { BG_BLOCK_UNINIT, BG_INODE_UNINIT, clearBits, findClear, findSet, setBits, testBit, type BlockGroups, type GroupDescriptor } from "./groups.js";
import type { Superblock } from "./superblock.js";

/** A run of `count` blocks from `start`. */
export interface BlockRun {
  start: number;
  count: number;
}

export function noSpace(what: string): InspectError {
  return new InspectError("INSPECT_NO_SPACE", `the ext filesystem has no room left for ${what}; free some space in it (or grow the image and its filesystem) first`);
}

export class Allocator {
  /** Groups whose descriptor or bitmaps changed since the last seal. */
  readonly dirtyGroups = new Set<number>();
  /** Per group: every block bit below this is known to be in use. */
  private readonly blockHint = new Map<number, number>();

  constructor(
    private readonly sb: Superblock,
    private readonly groups: BlockGroups,
    private readonly cache: WriteBackCache,
  ) {}

  private touch(desc: GroupDescriptor): void {
    this.cache.dirty(desc.tableBlock, desc.tableBytes);
    this.dirtyGroups.add(desc.group);
  }

  /** The group's block bitmap, made real on disk first if the group was uninitialized. */
  private async writableBlockBitmap(desc: GroupDescriptor): Promise<Uint8Array> {
    this.groups.checkBlock(desc.blockBitmap, `the block bitmap of group ${desc.group}`);
    if (await this.groups.blockBitmapUninit(desc.group)) {
      const computed = await this.groups.computedBlockBitmap(desc.group);
      this.cache.fresh(desc.blockBitmap).set(computed);
      desc.flags &= ~BG_BLOCK_UNINIT;
      this.touch(desc);
    }
    return this.cache.block(desc.blockBitmap);
  }

  private async writableInodeBitmap(desc: GroupDescriptor): Promise<Uint8Array> {
    this.groups.checkBlock(desc.inodeBitmap, `the inode bitmap of group ${desc.group}`);
    if (await this.groups.inodeBitmapUninit(desc.group)) {
      this.cache.fresh(desc.inodeBitmap).set(this.groups.computedInodeBitmap());
      desc.flags &= ~BG_INODE_UNINIT;
      this.touch(desc);
    }
    return this.cache.block(desc.inodeBitmap);
  }

  /**
   * One run of free blocks, the first at or after `goal` (wrapping around), at most `want` long.
   * Leaves at least `keep` blocks free (the reserve for metadata of the operation under way).
   */
  async allocate(goal: number, want: number, keep = 0): Promise<BlockRun> {
    if (this.sb.freeBlocks <= keep) throw noSpace(`${want} more blocks`);
    const groupCount = this.sb.groupCount;
    const clamped = goal >= this.sb.firstDataBlock && goal < this.sb.blocksCount ? goal : this.sb.firstDataBlock;
    const goalGroup = this.groups.groupOf(clamped);
    for (let i = 0; i <= groupCount; i++) {
      const group = (goalGroup + i) % groupCount;
      const desc = await this.groups.descriptor(group);
      if (desc.freeBlocks === 0) continue;
      const size = this.groups.blocksIn(group);
      const hint = this.blockHint.get(group) ?? 0;
      // The goal group is searched from the goal first, and from its start last.
      const from = i === 0 ? Math.max(hint, clamped - this.groups.firstBlock(group)) : hint;
      const to = i === groupCount ? clamped - this.groups.firstBlock(group) : size;
      const bitmap = await this.groups.blockBitmap(group);
      const bit = findClear(bitmap, from, to);
      if (bit < 0) {
        if (i !== 0 && from === hint) this.blockHint.set(group, size);
        continue;
      }
      const room = Math.min(want, this.sb.freeBlocks - keep);
      const end = findSet(bitmap, bit, Math.min(size, bit + room));
      const count = end - bit;
      if (desc.freeBlocks < count) throw corrupt(`group ${group}'s descriptor counts ${desc.freeBlocks} free blocks, fewer than its bitmap shows`);
      const writable = await this.writableBlockBitmap(desc);
      setBits(writable, bit, count);
      this.cache.dirty(desc.blockBitmap, writable);
      if (from === hint && bit === hint) this.blockHint.set(group, end);
      desc.freeBlocks -= count;
      this.sb.freeBlocks -= count;
      this.touch(desc);
      return { start: this.groups.firstBlock(group) + bit, count };
    }
    throw noSpace(`${want} more blocks`);
  }

  /** Exactly `count` blocks, in as few runs as the free space allows; all or nothing. */
  async allocateAll(goal: number, count: number, keep = 0): Promise<BlockRun[]> {
    const runs: BlockRun[] = [];
    let left = count;
    try {
      while (left > 0) {
        const run = await this.allocate(goal, left, keep);
        runs.push(run);
        left -= run.count;
        goal = run.start + run.count;
      }
    } catch (err) {
      for (const run of runs) await this.free(run.start, run.count);
      throw err;
    }
    return runs;
  }

  /** Returns blocks to the free pool (they must be in use). */
  async free(start: number, count: number): Promise<void> {
    this.groups.checkBlock(start, "a block to free");
    this.groups.checkBlock(start + count - 1, "a block to free");
    for (let block = start; block < start + count; ) {
      const group = this.groups.groupOf(block);
      const first = this.groups.firstBlock(group);
      const n = Math.min(start + count, first + this.sb.blocksPerGroup) - block;
      const desc = await this.groups.descriptor(group);
      if (await this.groups.blockBitmapUninit(group)) throw corrupt(`block ${block} is in use by a file, yet its group ${group} is marked as never used`);
      const bitmap = await this.writableBlockBitmap(desc);
      for (let bit = block - first; bit < block - first + n; bit++) {
        if (!testBit(bitmap, bit)) throw corrupt(`block ${first + bit} is in use by a file, yet the bitmap marks it free`);
      }
      clearBits(bitmap, block - first, n);
      this.cache.dirty(desc.blockBitmap, bitmap);
      const hint = this.blockHint.get(group);
      if (hint !== undefined && hint > block - first) this.blockHint.set(group, block - first);
      desc.freeBlocks += n;
      this.sb.freeBlocks += n;
      this.touch(desc);
      block += n;
    }
  }

  /**
   * A free inode number, in `nearGroup` if it has one, else in the next group that has; and where
   * that group's never-used inode table tail began before (inodes from there were never written).
   */
  async allocateInode(nearGroup: number, directory: boolean): Promise<{ number: number; unusedFrom: number }> {
    if (this.sb.freeInodes === 0) throw noSpace("another inode (every inode is in use)");
    const ipg = this.sb.inodesPerGroup;
    for (let i = 0; i < this.sb.groupCount; i++) {
      const group = (nearGroup + i) % this.sb.groupCount;
      const desc = await this.groups.descriptor(group);
      if (desc.freeInodes === 0) continue;
      const bitmap = (await this.groups.inodeBitmapUninit(group)) ? this.groups.computedInodeBitmap() : await this.writableInodeBitmap(desc);
      const lowest = group === 0 ? this.sb.firstInode - 1 : 0;
      const last = Math.min(ipg, this.sb.inodesCount - group * ipg);
      const bit = findClear(bitmap, lowest, last);
      if (bit < 0) continue;
      const writable = await this.writableInodeBitmap(desc);
      setBits(writable, bit, 1);
      this.cache.dirty(desc.inodeBitmap, writable);
      desc.freeInodes -= 1;
      this.sb.freeInodes -= 1;
      if (directory) desc.usedDirs += 1;
      // Inodes past the table's used part are never read by fsck: move the mark past this one.
      const unusedFrom = ipg - desc.itableUnused;
      if (bit >= unusedFrom) desc.itableUnused = ipg - bit - 1;
      this.touch(desc);
      return { number: group * ipg + bit + 1, unusedFrom: group * ipg + unusedFrom + 1 };
    }
    throw noSpace("another inode (every inode is in use)");
  }

  async freeInode(number: number, directory: boolean): Promise<void> {
    const group = Math.floor((number - 1) / this.sb.inodesPerGroup);
    const bit = (number - 1) % this.sb.inodesPerGroup;
    const desc = await this.groups.descriptor(group);
    if (await this.groups.inodeBitmapUninit(group)) throw corrupt(`inode ${number} is in use, yet its group ${group} is marked as never used`);
    const bitmap = await this.writableInodeBitmap(desc);
    if (!testBit(bitmap, bit)) throw corrupt(`inode ${number} is in use, yet the bitmap marks it free`);
    clearBits(bitmap, bit, 1);
    this.cache.dirty(desc.inodeBitmap, bitmap);
    desc.freeInodes += 1;
    this.sb.freeInodes += 1;
    if (directory) desc.usedDirs = Math.max(0, desc.usedDirs - 1);
    this.touch(desc);
  }
}
