// ext2/3/4 directories: entry blocks (with their checksum tail under metadata_csum) and the
// hash-indexed (htree) form — lookup, insertion with leaf and index splits, conversion of a full
// one-block directory to an index, and removal.
import { corrupt, view } from "../../block/volumes-io.js";
import type { WriteBackCache } from "../write-back-cache.js";
import type { ExtChecksums } from "./checksum.js";
import { noSpace } from "./allocator.js";
import { HASH_UNSIGNED_OFFSET, nameHash } from "./htree-hash.js";

export const FILE_TYPES: Readonly<Record<string, number>> = { file: 1, directory: 2, chardev: 3, blockdev: 4, fifo: 5, socket: 6, symlink: 7 };

const TAIL_SIZE = 12;
const TAIL_FILE_TYPE = 0xde;
const ROOT_INFO = 24;
const ROOT_ENTRIES = 32;
const NODE_ENTRIES = 8;

/** The size an entry with a name of `length` bytes takes. */
export const recordSize = (length: number): number => (8 + length + 3) & ~3;

/** One directory entry as found in a block. */
export interface RawEntry {
  at: number;
  inode: number;
  recLen: number;
  name: Uint8Array;
  type: number;
}

/** Parses the entries of one directory block (or inline area) of `length` bytes, checking each. */
export function* blockEntries(bytes: Uint8Array, length: number, fileType: boolean, owner: number): Generator<RawEntry> {
  const dv = view(bytes);
  let at = 0;
  while (at + 8 <= length) {
    const inode = dv.getUint32(at, true);
    const recLen = dv.getUint16(at + 4, true);
    const nameLength = fileType ? bytes[at + 6]! : dv.getUint16(at + 6, true);
    if (recLen < 8 || recLen % 4 !== 0 || at + recLen > length || 8 + nameLength > recLen) {
      throw corrupt(`directory inode ${owner} has a malformed entry at offset ${at}`);
    }
    yield { at, inode, recLen, name: bytes.subarray(at + 8, at + 8 + nameLength), type: fileType ? bytes[at + 7]! : 0 };
    at += recLen;
  }
}

/** What the directory code needs of the filesystem. */
export interface DirectoryContext {
  readonly blockSize: number;
  readonly cache: WriteBackCache;
  readonly checksums: ExtChecksums;
  readonly fileType: boolean;
  /** Whether new indexes may be made (dir_index), and how deep they may grow (large_dir: 3). */
  readonly dirIndex: boolean;
  readonly maxIndexLevels: number;
  readonly defaultHashVersion: number;
  readonly unsignedHash: boolean;
  readonly hashSeed: Uint32Array;
  readonly inodesCount: number;
}

/** A directory opened for changes: its blocks in logical order, and how to grow it. */
export interface DirectoryFile {
  readonly number: number;
  readonly seed: number;
  /** Physical block of each logical block (a directory has no holes). */
  readonly blocks: number[];
  indexed: boolean;
  /** Adds one zero-filled block at the end, fresh in the cache; returns its logical number. */
  append(): Promise<number>;
}

interface Frame {
  logical: number;
  bytes: Uint8Array;
  countOffset: number;
  /** Index of the entry followed. */
  at: number;
}

export class Directories {
  constructor(private readonly ctx: DirectoryContext) {}

  private get usable(): number {
    return this.ctx.checksums.enabled ? this.ctx.blockSize - TAIL_SIZE : this.ctx.blockSize;
  }

  /** The seal of a leaf block: its checksum tail. */
  private leafSeal(dir: DirectoryFile): ((bytes: Uint8Array) => void) | undefined {
    if (!this.ctx.checksums.enabled) return undefined;
    return (bytes) => this.ctx.checksums.sealDirectoryBlock(dir.seed, bytes);
  }

  private indexSeal(dir: DirectoryFile, countOffset: number): ((bytes: Uint8Array) => void) | undefined {
    if (!this.ctx.checksums.enabled) return undefined;
    return (bytes) => this.ctx.checksums.sealIndexBlock(dir.seed, bytes, countOffset);
  }

  private async block(dir: DirectoryFile, logical: number): Promise<Uint8Array> {
    const physical = dir.blocks[logical];
    if (physical === undefined) throw corrupt(`directory inode ${dir.number} points to its block ${logical}, past its end`);
    return this.ctx.cache.block(physical);
  }

  private dirtyLeaf(dir: DirectoryFile, logical: number, bytes: Uint8Array): void {
    this.ctx.cache.dirty(dir.blocks[logical]!, bytes, this.leafSeal(dir));
  }

  /** Lays out an empty leaf block (one unused entry spanning it, and the checksum tail). */
  private emptyLeaf(bytes: Uint8Array): void {
    bytes.fill(0);
    view(bytes).setUint16(4, this.usable, true);
    this.writeTail(bytes);
  }

  private writeTail(bytes: Uint8Array): void {
    if (!this.ctx.checksums.enabled) return;
    const tail = this.ctx.blockSize - TAIL_SIZE;
    bytes.fill(0, tail);
    view(bytes).setUint16(tail + 4, TAIL_SIZE, true);
    bytes[tail + 7] = TAIL_FILE_TYPE;
  }

  private writeEntry(bytes: Uint8Array, at: number, recLen: number, inode: number, name: Uint8Array, type: number): void {
    const dv = view(bytes);
    dv.setUint32(at, inode, true);
    dv.setUint16(at + 4, recLen, true);
    if (this.ctx.fileType) {
      bytes[at + 6] = name.length;
      bytes[at + 7] = type;
    } else {
      dv.setUint16(at + 6, name.length, true);
    }
    bytes.set(name, at + 8);
    bytes.fill(0, at + 8 + name.length, at + recordSize(name.length));
  }

  /** The first block of a new directory: `.` and `..`. */
  initialize(dir: DirectoryFile, bytes: Uint8Array, parent: number): void {
    this.emptyLeaf(bytes);
    this.writeEntry(bytes, 0, 12, dir.number, Uint8Array.of(0x2e), FILE_TYPES.directory!);
    this.writeEntry(bytes, 12, this.usable - 12, parent, Uint8Array.of(0x2e, 0x2e), FILE_TYPES.directory!);
    this.dirtyLeaf(dir, 0, bytes);
  }

  /** Entries of a leaf block (the checksum tail and unused slots left out). */
  private *live(dir: DirectoryFile, bytes: Uint8Array): Generator<RawEntry> {
    for (const entry of blockEntries(bytes, this.usable, this.ctx.fileType, dir.number)) {
      if (entry.inode !== 0) yield entry;
    }
  }

  private effectiveHash(root: Uint8Array): number {
    const version = root[ROOT_INFO + 4]!;
    return version < HASH_UNSIGNED_OFFSET && this.ctx.unsignedHash ? version + HASH_UNSIGNED_OFFSET : version;
  }

  private hash(name: Uint8Array, version: number): number {
    return nameHash(name, version, this.ctx.hashSeed);
  }

  /** Follows the index from the root to the leaf that holds `hash`. */
  private async probe(dir: DirectoryFile, hash: number): Promise<{ frames: Frame[]; leaf: number }> {
    const root = await this.block(dir, 0);
    const info = view(root);
    const infoLength = root[ROOT_INFO + 5]!;
    const levels = root[ROOT_INFO + 6]!;
    if (info.getUint32(ROOT_INFO, true) !== 0 || infoLength !== 8 || levels >= this.ctx.maxIndexLevels) throw corrupt(`directory inode ${dir.number} has a bad htree root`);
    const frames: Frame[] = [];
    let bytes = root;
    let logical = 0;
    let countOffset = ROOT_ENTRIES;
    for (let level = 0; ; level++) {
      const dv = view(bytes);
      const limit = dv.getUint16(countOffset, true);
      const count = dv.getUint16(countOffset + 2, true);
      if (count === 0 || count > limit || countOffset + limit * 8 > this.ctx.blockSize) throw corrupt(`directory inode ${dir.number} has a bad htree node at block ${logical}`);
      // The last entry whose hash is not above `hash` (entry 0 stands for every hash below entry 1's).
      let lo = 1;
      let hi = count - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (dv.getUint32(countOffset + mid * 8, true) > hash) hi = mid - 1;
        else lo = mid + 1;
      }
      const at = lo - 1;
      frames.push({ logical, bytes, countOffset, at });
      const child = dv.getUint32(countOffset + at * 8 + 4, true);
      if (child === 0 || child >= dir.blocks.length || frames.some((f) => f.logical === child)) throw corrupt(`directory inode ${dir.number}'s htree points to block ${child}`);
      if (level === levels) return { frames, leaf: child };
      logical = child;
      bytes = await this.block(dir, child);
      countOffset = NODE_ENTRIES;
    }
  }

  /** Finds an entry: its block and offset (and the entry before it in the block). */
  async find(dir: DirectoryFile, name: Uint8Array): Promise<{ logical: number; entry: RawEntry; previous: RawEntry | undefined } | undefined> {
    if (dir.indexed) {
      const root = await this.block(dir, 0);
      const hash = this.hash(name, this.effectiveHash(root));
      const { frames, leaf } = await this.probe(dir, hash);
      // Entries of one hash may continue into the next leaves (their index hash has bit 0 set).
      let logical = leaf;
      const last = frames[frames.length - 1]!;
      for (let next = last.at + 1; ; next++) {
        const found = this.findInBlock(dir, await this.block(dir, logical), name);
        if (found) return { logical, ...found };
        const dv = view(last.bytes);
        if (next >= dv.getUint16(last.countOffset + 2, true)) break;
        const nextHash = dv.getUint32(last.countOffset + next * 8, true);
        if ((nextHash & 1) === 0 || (nextHash & ~1) >>> 0 !== hash) break;
        logical = dv.getUint32(last.countOffset + next * 8 + 4, true);
        if (logical >= dir.blocks.length) break;
      }
      return undefined;
    }
    for (let logical = 0; logical < dir.blocks.length; logical++) {
      const found = this.findInBlock(dir, await this.block(dir, logical), name);
      if (found) return { logical, ...found };
    }
    return undefined;
  }

  private findInBlock(dir: DirectoryFile, bytes: Uint8Array, name: Uint8Array): { entry: RawEntry; previous: RawEntry | undefined } | undefined {
    if (isIndexNode(bytes, this.ctx.blockSize)) return undefined;
    let previous: RawEntry | undefined;
    for (const entry of blockEntries(bytes, this.usable, this.ctx.fileType, dir.number)) {
      if (entry.inode !== 0 && sameBytes(entry.name, name)) return { entry, previous };
      previous = entry;
    }
    return undefined;
  }

  /** Removes an entry; returns the inode it named, or undefined when there is none. */
  async remove(dir: DirectoryFile, name: Uint8Array): Promise<number | undefined> {
    const found = await this.find(dir, name);
    if (!found) return undefined;
    const bytes = await this.block(dir, found.logical);
    const dv = view(bytes);
    if (found.previous) dv.setUint16(found.previous.at + 4, found.previous.recLen + found.entry.recLen, true);
    else dv.setUint32(found.entry.at, 0, true);
    this.dirtyLeaf(dir, found.logical, bytes);
    return found.entry.inode;
  }

  /** Points an existing entry at another inode (rename over an existing name). */
  async replace(dir: DirectoryFile, name: Uint8Array, inode: number, type: number): Promise<number> {
    const found = await this.find(dir, name);
    if (!found) throw corrupt(`directory inode ${dir.number} lost an entry it listed`);
    const bytes = await this.block(dir, found.logical);
    view(bytes).setUint32(found.entry.at, inode, true);
    if (this.ctx.fileType) bytes[found.entry.at + 7] = type;
    this.dirtyLeaf(dir, found.logical, bytes);
    return found.entry.inode;
  }

  /** Points `..` at a new parent. */
  async setParent(dir: DirectoryFile, parent: number): Promise<void> {
    const bytes = await this.block(dir, 0);
    const entries = blockEntries(bytes, this.usable, this.ctx.fileType, dir.number);
    entries.next();
    const dotdot = entries.next();
    if (dotdot.done || dotdot.value.name.length !== 2 || dotdot.value.name[0] !== 0x2e || dotdot.value.name[1] !== 0x2e) throw corrupt(`directory inode ${dir.number} has no '..' entry where it belongs`);
    view(bytes).setUint32(dotdot.value.at, parent, true);
    if (dir.indexed) this.ctx.cache.dirty(dir.blocks[0]!, bytes, this.indexSeal(dir, ROOT_ENTRIES));
    else this.dirtyLeaf(dir, 0, bytes);
  }

  /** Whether the directory holds nothing but `.` and `..`. */
  async isEmpty(dir: DirectoryFile): Promise<boolean> {
    for (const entry of await this.entries(dir)) {
      if (!isDot(entry.name)) return false;
    }
    return true;
  }

  /** Every live entry, `.` and `..` included. */
  async entries(dir: DirectoryFile): Promise<RawEntry[]> {
    const out: RawEntry[] = [];
    for (let logical = 0; logical < dir.blocks.length; logical++) {
      const bytes = await this.block(dir, logical);
      if (logical > 0 && isIndexNode(bytes, this.ctx.blockSize)) continue;
      const length = dir.indexed && logical === 0 ? 24 : this.usable;
      for (const entry of blockEntries(bytes, length, this.ctx.fileType, dir.number)) if (entry.inode !== 0) out.push(entry);
    }
    return out;
  }

  /**
   * Adds an entry (the name must not exist). Grows the directory as needed: a new block for a
   * linear one, a leaf split (and index splits) for an indexed one, an index for a full one-block one.
   */
  async add(dir: DirectoryFile, name: Uint8Array, inode: number, type: number): Promise<void> {
    if (inode < 1 || inode > this.ctx.inodesCount) throw new Error(`directory entry for inode ${inode}, outside the filesystem`);
    if (dir.indexed) return this.addIndexed(dir, name, inode, type);
    for (let logical = 0; logical < dir.blocks.length; logical++) {
      const bytes = await this.block(dir, logical);
      if (this.insertInLeaf(dir, bytes, name, inode, type)) {
        this.dirtyLeaf(dir, logical, bytes);
        return;
      }
    }
    if (this.ctx.dirIndex && dir.blocks.length === 1) {
      await this.makeIndexed(dir);
      return this.addIndexed(dir, name, inode, type);
    }
    const logical = await dir.append();
    const bytes = await this.block(dir, logical);
    this.emptyLeaf(bytes);
    if (!this.insertInLeaf(dir, bytes, name, inode, type)) throw new Error("a new directory block cannot hold one entry");
    this.dirtyLeaf(dir, logical, bytes);
  }

  /** Puts an entry into a leaf block if it has room; true when it did. */
  private insertInLeaf(dir: DirectoryFile, bytes: Uint8Array, name: Uint8Array, inode: number, type: number): boolean {
    // The hot path of every create: a plain walk over the record lengths, nothing allocated.
    const need = recordSize(name.length);
    const end = this.usable;
    for (let at = 0; at + 8 <= end; ) {
      const recLen = bytes[at + 4]! | (bytes[at + 5]! << 8);
      const nameLength = this.ctx.fileType ? bytes[at + 6]! : bytes[at + 6]! | (bytes[at + 7]! << 8);
      if (recLen < 8 || recLen % 4 !== 0 || at + recLen > end || 8 + nameLength > recLen) throw corrupt(`directory inode ${dir.number} has a malformed entry at offset ${at}`);
      const live = (bytes[at]! | bytes[at + 1]! | bytes[at + 2]! | bytes[at + 3]!) !== 0;
      const used = live ? recordSize(nameLength) : 0;
      if (recLen - used >= need) {
        if (used === 0) {
          this.writeEntry(bytes, at, recLen, inode, name, type);
        } else {
          bytes[at + 4] = used & 0xff;
          bytes[at + 5] = used >> 8;
          this.writeEntry(bytes, at + used, recLen - used, inode, name, type);
        }
        return true;
      }
      at += recLen;
    }
    return false;
  }

  /** Rewrites a leaf block to hold exactly `entries`, packed from its start. */
  private packLeaf(bytes: Uint8Array, entries: ReadonlyArray<{ inode: number; name: Uint8Array; type: number }>): void {
    this.emptyLeaf(bytes);
    let at = 0;
    entries.forEach((e, i) => {
      const size = recordSize(e.name.length);
      this.writeEntry(bytes, at, i === entries.length - 1 ? this.usable - at : size, e.inode, e.name, e.type);
      at += size;
    });
  }

  private rootLimit(): number {
    return Math.floor((this.ctx.blockSize - ROOT_ENTRIES) / 8) - (this.ctx.checksums.enabled ? 1 : 0);
  }

  private nodeLimit(): number {
    return Math.floor((this.ctx.blockSize - NODE_ENTRIES) / 8) - (this.ctx.checksums.enabled ? 1 : 0);
  }

  /**
   * Turns a full one-block directory into an indexed one, as the kernel does: the entries move to
   * two new leaves split by hash, and block 0 becomes the index root.
   */
  private async makeIndexed(dir: DirectoryFile): Promise<void> {
    const rootBytes = await this.block(dir, 0);
    const all = [...this.live(dir, rootBytes)];
    const dot = all.find((e) => e.name.length === 1 && e.name[0] === 0x2e);
    const dotdot = all.find((e) => e.name.length === 2 && isDot(e.name));
    if (!dot || !dotdot) throw corrupt(`directory inode ${dir.number} lacks its '.' or '..' entry`);
    const version = this.ctx.defaultHashVersion;
    const effective = version < HASH_UNSIGNED_OFFSET && this.ctx.unsignedHash ? version + HASH_UNSIGNED_OFFSET : version;
    const entries = all.filter((e) => !isDot(e.name)).map((e) => ({ inode: e.inode, name: e.name.slice(), type: e.type, hash: this.hash(e.name, effective) }));
    entries.sort((a, b) => a.hash - b.hash);
    const first = await dir.append();
    const second = await dir.append();
    const split = this.splitPoint(entries);
    const splitHash = (entries[split]?.hash ?? 0) + (split > 0 && entries[split]?.hash === entries[split - 1]?.hash ? 1 : 0);
    const firstBytes = await this.block(dir, first);
    this.packLeaf(firstBytes, entries.slice(0, split));
    this.dirtyLeaf(dir, first, firstBytes);
    const secondBytes = await this.block(dir, second);
    this.packLeaf(secondBytes, entries.slice(split));
    this.dirtyLeaf(dir, second, secondBytes);
    // The root: '.', '..' spanning the rest of the block, the index info, two entries.
    rootBytes.fill(0);
    this.writeEntry(rootBytes, 0, 12, dot.inode, Uint8Array.of(0x2e), FILE_TYPES.directory!);
    this.writeEntry(rootBytes, 12, this.ctx.blockSize - 12, dotdot.inode, Uint8Array.of(0x2e, 0x2e), FILE_TYPES.directory!);
    rootBytes[ROOT_INFO + 4] = version;
    rootBytes[ROOT_INFO + 5] = 8;
    const dv = view(rootBytes);
    dv.setUint16(ROOT_ENTRIES, this.rootLimit(), true);
    dv.setUint16(ROOT_ENTRIES + 2, 2, true);
    dv.setUint32(ROOT_ENTRIES + 4, first, true);
    dv.setUint32(ROOT_ENTRIES + 8, splitHash, true);
    dv.setUint32(ROOT_ENTRIES + 12, second, true);
    this.ctx.cache.dirty(dir.blocks[0]!, rootBytes, this.indexSeal(dir, ROOT_ENTRIES));
    dir.indexed = true;
  }

  /** Where to split hash-sorted entries so each half takes about half a block (never 0 of them). */
  private splitPoint(entries: ReadonlyArray<{ name: Uint8Array }>): number {
    let size = 0;
    let move = 0;
    for (let i = entries.length - 1; i >= 0; i--) {
      const s = recordSize(entries[i]!.name.length);
      if (size + s / 2 > this.ctx.blockSize / 2) break;
      size += s;
      move++;
    }
    const split = entries.length - move;
    return split > 0 && split < entries.length ? split : Math.max(1, Math.floor(entries.length / 2));
  }

  private async addIndexed(dir: DirectoryFile, name: Uint8Array, inode: number, type: number): Promise<void> {
    const root = await this.block(dir, 0);
    const version = this.effectiveHash(root);
    const hash = this.hash(name, version);
    const { frames, leaf } = await this.probe(dir, hash);
    const leafBytes = await this.block(dir, leaf);
    if (this.insertInLeaf(dir, leafBytes, name, inode, type)) {
      this.dirtyLeaf(dir, leaf, leafBytes);
      return;
    }
    // A full index cannot take the new leaf: refuse before anything changes.
    if (!this.indexHasRoom(frames)) throw noSpace(`more entries in directory inode ${dir.number} (its index is full and at its deepest)`);
    // Split the leaf: the upper half (by hash) moves to a new block the index points to.
    const entries = [...this.live(dir, leafBytes)].map((e) => ({ inode: e.inode, name: e.name.slice(), type: e.type, hash: this.hash(e.name, version) }));
    entries.sort((a, b) => a.hash - b.hash);
    const split = this.splitPoint(entries);
    const continued = entries[split]!.hash === entries[split - 1]!.hash ? 1 : 0;
    const splitKey = entries[split]!.hash + continued;
    const created = await dir.append();
    const createdBytes = await this.block(dir, created);
    this.packLeaf(leafBytes, entries.slice(0, split));
    this.packLeaf(createdBytes, entries.slice(split));
    this.dirtyLeaf(dir, leaf, leafBytes);
    this.dirtyLeaf(dir, created, createdBytes);
    await this.insertIndex(dir, frames, frames.length - 1, splitKey, created);
    const target = hash >= splitKey ? createdBytes : leafBytes;
    if (!this.insertInLeaf(dir, target, name, inode, type)) throw new Error(`directory inode ${dir.number}: a split leaf cannot take the new entry`);
    this.dirtyLeaf(dir, target === createdBytes ? created : leaf, target);
  }

  /** Whether one more entry fits the index below the root (splitting full nodes), or by growing a level. */
  private indexHasRoom(frames: readonly Frame[]): boolean {
    for (let level = frames.length - 1; level >= 0; level--) {
      const frame = frames[level]!;
      const dv = view(frame.bytes);
      if (dv.getUint16(frame.countOffset + 2, true) < dv.getUint16(frame.countOffset, true)) return true;
    }
    return frames[0]!.bytes[ROOT_INFO + 6]! + 1 < this.ctx.maxIndexLevels;
  }

  /** Inserts (hash → block) after the followed entry of frame `level`, splitting full nodes upward. */
  private async insertIndex(dir: DirectoryFile, frames: Frame[], level: number, hash: number, child: number): Promise<void> {
    const frame = frames[level]!;
    const dv = view(frame.bytes);
    const limit = dv.getUint16(frame.countOffset, true);
    const count = dv.getUint16(frame.countOffset + 2, true);
    if (count < limit) {
      const at = frame.countOffset + (frame.at + 1) * 8;
      frame.bytes.copyWithin(at + 8, at, frame.countOffset + count * 8);
      dv.setUint32(at, hash, true);
      dv.setUint32(at + 4, child, true);
      dv.setUint16(frame.countOffset + 2, count + 1, true);
      this.ctx.cache.dirty(dir.blocks[frame.logical]!, frame.bytes, this.indexSeal(dir, frame.countOffset));
      return;
    }
    if (level === 0) {
      // A full root: its entries move to a new node below it, and the tree grows one level.
      const levels = frame.bytes[ROOT_INFO + 6]!;
      if (levels + 1 >= this.ctx.maxIndexLevels) throw noSpace(`more entries in directory inode ${dir.number} (its index is at its deepest)`);
      const node = await dir.append();
      const nodeBytes = await this.block(dir, node);
      nodeBytes.fill(0);
      view(nodeBytes).setUint16(4, this.ctx.blockSize, true);
      nodeBytes.set(frame.bytes.subarray(frame.countOffset, frame.countOffset + count * 8), NODE_ENTRIES);
      view(nodeBytes).setUint16(NODE_ENTRIES, this.nodeLimit(), true);
      dv.setUint16(frame.countOffset + 2, 1, true);
      dv.setUint32(frame.countOffset + 4, node, true);
      frame.bytes.fill(0, frame.countOffset + 8, frame.countOffset + limit * 8 + 8);
      frame.bytes[ROOT_INFO + 6] = levels + 1;
      this.ctx.cache.dirty(dir.blocks[0]!, frame.bytes, this.indexSeal(dir, ROOT_ENTRIES));
      frames.splice(1, 0, { logical: node, bytes: nodeBytes, countOffset: NODE_ENTRIES, at: frame.at });
      frame.at = 0;
      return this.insertIndex(dir, frames, 1, hash, child);
    }
    // A full node splits in two; the upper half's first hash goes up a level.
    const half = Math.floor(count / 2);
    const sibling = await dir.append();
    const siblingBytes = await this.block(dir, sibling);
    siblingBytes.fill(0);
    const sv = view(siblingBytes);
    sv.setUint16(4, this.ctx.blockSize, true);
    siblingBytes.set(frame.bytes.subarray(frame.countOffset + half * 8, frame.countOffset + count * 8), NODE_ENTRIES);
    const upHash = sv.getUint32(NODE_ENTRIES, true);
    sv.setUint16(NODE_ENTRIES, this.nodeLimit(), true);
    sv.setUint16(NODE_ENTRIES + 2, count - half, true);
    dv.setUint16(frame.countOffset + 2, half, true);
    frame.bytes.fill(0, frame.countOffset + half * 8, frame.countOffset + limit * 8 + 8);
    this.ctx.cache.dirty(dir.blocks[frame.logical]!, frame.bytes, this.indexSeal(dir, frame.countOffset));
    this.ctx.cache.dirty(dir.blocks[sibling]!, siblingBytes, this.indexSeal(dir, NODE_ENTRIES));
    await this.insertIndex(dir, frames, level - 1, upHash, sibling);
    // A root that grew a level moved every frame one down: find this one again.
    const at = frames.indexOf(frame);
    if (frame.at >= half) {
      frames[at] = { logical: sibling, bytes: siblingBytes, countOffset: NODE_ENTRIES, at: frame.at - half };
    }
    return this.insertIndex(dir, frames, at, hash, child);
  }
}

/** An htree index node looks like one unused entry spanning the block. */
function isIndexNode(bytes: Uint8Array, blockSize: number): boolean {
  const dv = view(bytes);
  return dv.getUint32(0, true) === 0 && dv.getUint16(4, true) === blockSize && bytes[6] === 0;
}

function isDot(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
