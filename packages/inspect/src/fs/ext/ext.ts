import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { InodeFilesystem, runsFile, typeOfMode, type DataRun } from "../inode-filesystem.js";
import type { FilesystemDriver, GuestFile, OpenFilesystemOptions, WritableFilesystem } from "../filesystem.js";
import { overlayJournal, replayJournal, type JournalCopy } from "./journal.js";
import { extTypeOf } from "../../block/identify.js";
import { BlockCache, corrupt, cString, readBytes, uuidString, view } from "../../block/volumes-io.js";

const ROOT_INODE = 2;
/** Directories bigger than this are refused: no real /etc comes near it. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const MAX_EXTENT_DEPTH = 5;

const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_FILETYPE = 0x2;
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_64BIT = 0x80;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const INCOMPAT_KNOWN = 0x2 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x4000 | 0x8000 | 0x20000;

const FLAG_EXTENTS = 0x80000;
const FLAG_INLINE_DATA = 0x10000000;
const FLAG_ENCRYPTED = 0x800;

/** A run of file blocks: logical block → physical block; physical undefined is a hole. */
interface Run {
  logical: number;
  physical: number | undefined;
  count: number;
}

interface Inode {
  number: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  rdevMajor: number;
  rdevMinor: number;
  flags: number;
  /** 512-byte sectors (or fs blocks with huge_file), used to tell fast symlinks from slow ones. */
  blocks: number;
  fileAcl: number;
  /** i_block: 60 bytes of block map, extent root, inline data or fast-symlink text. */
  blockArea: Uint8Array;
  raw: Uint8Array;
}

function hasSuperblockBackup(group: number, sparse: boolean): boolean {
  if (!sparse || group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let n = base;
    while (n < group) n *= base;
    if (n === group) return true;
  }
  return false;
}

/**
 * An ext2/3/4 filesystem, read by our own reader: superblock, 32/64-bit group descriptors
 * (meta_bg too), inodes, extent trees of any depth, ext2/3 indirect blocks, linear and htree
 * directories (read linearly), fast and slow symlinks, inline data and sparse files.
 */
export class ExtFilesystem extends InodeFilesystem<number, Inode> {
  protected readonly kind = "ext";
  readonly type: "ext2" | "ext3" | "ext4";
  readonly uuid: string | undefined;
  readonly label: string | undefined;
  private readonly cache: BlockCache;
  private readonly blockSize: number;
  private readonly blocksCount: number;
  private readonly inodesCount: number;
  private readonly inodesPerGroup: number;
  private readonly blocksPerGroup: number;
  private readonly firstDataBlock: number;
  private readonly inodeSize: number;
  private readonly descSize: number;
  private readonly groupCount: number;
  private readonly incompat: number;
  private readonly roCompat: number;
  private readonly firstMetaBg: number;
  /** How many blocks were read from the journal instead of their home location (unclean unmount). */
  replayedBlocks = 0;

  private constructor(private readonly device: BlockDevice, sb: Uint8Array) {
    super();
    const dv = view(sb);
    const logBlock = dv.getUint32(0x18, true);
    if (logBlock > 6) throw corrupt(`the ext superblock claims a block size of 2^${10 + logBlock} bytes`);
    this.blockSize = 1024 << logBlock;
    this.incompat = dv.getUint32(0x60, true);
    this.roCompat = dv.getUint32(0x64, true);
    if (this.incompat & ~INCOMPAT_KNOWN) {
      throw new InspectError("INSPECT_UNSUPPORTED", `this ext filesystem uses features leapp cannot read (incompat 0x${this.incompat.toString(16)})`);
    }
    const is64 = (this.incompat & INCOMPAT_64BIT) !== 0;
    this.blocksCount = dv.getUint32(0x4, true) + (is64 ? dv.getUint32(0x150, true) * 2 ** 32 : 0);
    this.inodesCount = dv.getUint32(0x0, true);
    this.firstDataBlock = dv.getUint32(0x14, true);
    this.blocksPerGroup = dv.getUint32(0x20, true);
    this.inodesPerGroup = dv.getUint32(0x28, true);
    const rev = dv.getUint32(0x4c, true);
    this.inodeSize = rev === 0 ? 128 : dv.getUint16(0x58, true);
    this.descSize = is64 ? dv.getUint16(0xfe, true) : 32;
    this.firstMetaBg = dv.getUint32(0x104, true);
    if (this.blocksPerGroup === 0 || this.blocksPerGroup > this.blockSize * 8) throw corrupt(`the ext superblock claims ${this.blocksPerGroup} blocks per group`);
    if (this.inodesPerGroup === 0 || this.inodesPerGroup > this.blockSize * 8) throw corrupt(`the ext superblock claims ${this.inodesPerGroup} inodes per group`);
    if (this.inodeSize < 128 || this.inodeSize > this.blockSize || (this.inodeSize & (this.inodeSize - 1)) !== 0) throw corrupt(`the ext superblock claims ${this.inodeSize}-byte inodes`);
    if (is64 && (this.descSize < 32 || this.descSize > 1024 || (this.descSize & (this.descSize - 1)) !== 0)) throw corrupt(`the ext superblock claims ${this.descSize}-byte group descriptors`);
    if (this.blocksCount * this.blockSize > device.size) throw corrupt(`the ext filesystem claims ${this.blocksCount} blocks of ${this.blockSize} bytes, more than its ${device.size}-byte device holds`);
    if (this.firstDataBlock >= this.blocksCount) throw corrupt("the ext superblock's first data block lies past its end");
    this.groupCount = Math.ceil((this.blocksCount - this.firstDataBlock) / this.blocksPerGroup);
    if (this.inodesCount > this.groupCount * this.inodesPerGroup) throw corrupt(`the ext superblock claims ${this.inodesCount} inodes in ${this.groupCount} groups`);
    this.type = extTypeOf(dv.getUint32(0x5c, true), this.incompat, this.roCompat);
    this.uuid = uuidString(sb.subarray(0x68, 0x78));
    this.label = cString(sb, 0x78, 16);
    this.cache = new BlockCache(device, this.blockSize, 8192, "ext block");
  }

  static async open(device: BlockDevice): Promise<ExtFilesystem> {
    const sb = await readBytes(device, 1024, 1024, "ext superblock");
    if (view(sb).getUint16(0x38, true) !== 0xef53) throw new InspectError("INSPECT_UNSUPPORTED", "no ext2/3/4 superblock on this volume");
    let fs = new ExtFilesystem(device, sb);
    // A filesystem that was not cleanly unmounted: read it as it will be after journal replay.
    const journalInode = view(sb).getUint32(0xe0, true);
    if (fs.incompat & INCOMPAT_RECOVER && view(sb).getUint32(0x5c, true) & COMPAT_HAS_JOURNAL && journalInode !== 0) {
      const copies = await fs.journalCopies(journalInode);
      if (copies.size > 0) {
        const replayed = overlayJournal(device, fs.blockSize, copies);
        fs = new ExtFilesystem(replayed, await readBytes(replayed, 1024, 1024, "ext superblock"));
        fs.replayedBlocks = copies.size;
      }
    }
    const root = await fs.inode(ROOT_INODE);
    if (typeOfMode(root.mode) !== "directory") throw corrupt("the ext root inode is not a directory");
    return fs;
  }

  /** The journal's committed blocks not yet written home (see ext-journal.ts). */
  private async journalCopies(journalInode: number): Promise<Map<number, JournalCopy>> {
    const inode = await this.inode(journalInode);
    const runs = await this.runs(inode);
    const blocks = Math.floor(inode.size / this.blockSize);
    const journalBlock = (n: number): number => {
      let lo = 0;
      let hi = runs.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const run = runs[mid]!;
        if (n < run.logical) hi = mid - 1;
        else if (n >= run.logical + run.count) lo = mid + 1;
        else return (run.physical! + n - run.logical) * this.blockSize;
      }
      throw corrupt(`block ${n} of the ext journal is a hole`);
    };
    return replayJournal(this.device, this.blockSize, blocks, journalBlock);
  }

  private checkBlock(block: number, what: string): void {
    if (!Number.isSafeInteger(block) || block >= this.blocksCount || block < this.firstDataBlock) {
      throw corrupt(`${what} points to block ${block}, outside the ${this.blocksCount}-block ext filesystem`);
    }
  }

  /** The block holding group descriptor `group`, with meta_bg's scattered layout. */
  private descriptorLocation(group: number): { block: number; offset: number } {
    const perBlock = this.blockSize / this.descSize;
    const descBlock = Math.floor(group / perBlock);
    const offset = (group % perBlock) * this.descSize;
    if ((this.incompat & INCOMPAT_META_BG) && descBlock >= this.firstMetaBg) {
      const firstGroup = descBlock * perBlock;
      const sparse = (this.roCompat & RO_COMPAT_SPARSE_SUPER) !== 0;
      const base = this.firstDataBlock + firstGroup * this.blocksPerGroup;
      return { block: base + (hasSuperblockBackup(firstGroup, sparse) ? 1 : 0), offset };
    }
    return { block: this.firstDataBlock + 1 + descBlock, offset };
  }

  private async inodeTableOf(group: number): Promise<number> {
    const { block, offset } = this.descriptorLocation(group);
    this.checkBlock(block, `group descriptor ${group}`);
    const desc = view((await this.cache.block(block)).subarray(offset, offset + this.descSize));
    const table = desc.getUint32(0x8, true) + (this.descSize >= 64 ? desc.getUint32(0x28, true) * 2 ** 32 : 0);
    const tableBlocks = Math.ceil((this.inodesPerGroup * this.inodeSize) / this.blockSize);
    this.checkBlock(table, `the inode table of group ${group}`);
    this.checkBlock(table + tableBlocks - 1, `the inode table of group ${group}`);
    return table;
  }

  protected async inode(number: number): Promise<Inode> {
    if (!Number.isInteger(number) || number < 1 || number > this.inodesCount) throw corrupt(`a directory entry names inode ${number}, outside 1–${this.inodesCount}`);
    const group = Math.floor((number - 1) / this.inodesPerGroup);
    const index = (number - 1) % this.inodesPerGroup;
    const table = await this.inodeTableOf(group);
    const raw = await this.cache.bytes(table * this.blockSize + index * this.inodeSize, this.inodeSize);
    const dv = view(raw);
    const mode = dv.getUint16(0x0, true);
    const sizeHigh = dv.getUint32(0x6c, true);
    const size = dv.getUint32(0x4, true) + sizeHigh * 2 ** 32;
    if (!Number.isSafeInteger(size)) throw corrupt(`inode ${number} claims a size of ${size} bytes`);
    // Large inodes extend each time with an "extra" word: 2 epoch bits, then nanoseconds.
    const extraSize = this.inodeSize > 128 ? dv.getUint16(0x80, true) : 0;
    const time = (at: number, extraAt: number): bigint => {
      const seconds = BigInt(dv.getInt32(at, true));
      if (extraAt + 4 > 128 + extraSize || extraAt + 4 > raw.length) return seconds * 1_000_000_000n;
      const extra = dv.getUint32(extraAt, true);
      return (seconds + BigInt(extra & 3) * 2n ** 32n) * 1_000_000_000n + BigInt(extra >>> 2);
    };
    const type = mode & 0o170000;
    let rdevMajor = 0;
    let rdevMinor = 0;
    if (type === 0o020000 || type === 0o060000) {
      const old = dv.getUint32(0x28, true);
      if (old !== 0) {
        rdevMajor = (old >> 8) & 0xff;
        rdevMinor = old & 0xff;
      } else {
        const dev = dv.getUint32(0x2c, true);
        rdevMajor = (dev >> 8) & 0xfff;
        rdevMinor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
      }
    }
    return {
      number,
      mode,
      uid: dv.getUint16(0x2, true) | (dv.getUint16(0x78, true) << 16),
      gid: dv.getUint16(0x18, true) | (dv.getUint16(0x7a, true) << 16),
      size,
      nlink: dv.getUint16(0x1a, true),
      atimeNs: time(0x08, 0x8c),
      mtimeNs: time(0x10, 0x88),
      ctimeNs: time(0x0c, 0x84),
      rdevMajor,
      rdevMinor,
      flags: dv.getUint32(0x20, true),
      blocks: dv.getUint32(0x1c, true),
      fileAcl: dv.getUint32(0x68, true),
      blockArea: raw.subarray(0x28, 0x28 + 60),
      raw,
    };
  }

  /** The block runs of a file, in logical order (holes left out), bounded by its size. */
  private async runs(inode: Inode): Promise<Run[]> {
    const maxLogical = Math.ceil(inode.size / this.blockSize);
    if (inode.flags & FLAG_EXTENTS) {
      const runs: Run[] = [];
      await this.walkExtents(inode, inode.blockArea, MAX_EXTENT_DEPTH, new Set(), runs, maxLogical);
      runs.sort((a, b) => a.logical - b.logical);
      return runs;
    }
    return this.walkIndirect(inode, maxLogical);
  }

  private async walkExtents(inode: Inode, node: Uint8Array, depthLeft: number, visited: Set<number>, out: Run[], maxLogical: number): Promise<void> {
    const dv = view(node);
    if (node.length < 12 || dv.getUint16(0, true) !== 0xf30a) throw corrupt(`inode ${inode.number} has a bad extent header`);
    const entries = dv.getUint16(2, true);
    const depth = dv.getUint16(6, true);
    if (12 + entries * 12 > node.length) throw corrupt(`inode ${inode.number}'s extent node claims ${entries} entries`);
    if (depth >= depthLeft) throw corrupt(`inode ${inode.number}'s extent tree is deeper than any ext4 makes`);
    for (let i = 0; i < entries; i++) {
      const at = 12 + i * 12;
      const logical = dv.getUint32(at, true);
      if (depth === 0) {
        let count = dv.getUint16(at + 4, true);
        const uninitialized = count > 32768;
        if (uninitialized) count -= 32768;
        const physical = dv.getUint16(at + 6, true) * 2 ** 32 + dv.getUint32(at + 8, true);
        if (logical >= maxLogical || count === 0) continue;
        count = Math.min(count, maxLogical - logical);
        this.checkBlock(physical, `an extent of inode ${inode.number}`);
        this.checkBlock(physical + count - 1, `an extent of inode ${inode.number}`);
        // Unwritten (preallocated) extents read as zeros, like a hole.
        if (!uninitialized) out.push({ logical, physical, count });
        if (out.length > maxLogical) throw corrupt(`inode ${inode.number} has more extents than blocks`);
      } else {
        const child = dv.getUint32(at + 4, true) + dv.getUint16(at + 8, true) * 2 ** 32;
        this.checkBlock(child, `an extent index of inode ${inode.number}`);
        if (visited.has(child)) throw corrupt(`inode ${inode.number}'s extent tree loops through block ${child}`);
        visited.add(child);
        await this.walkExtents(inode, await this.cache.block(child), depth, visited, out, maxLogical);
      }
    }
  }

  /** ext2/3 block maps: 12 direct pointers, then single, double and triple indirect blocks. */
  private async walkIndirect(inode: Inode, maxLogical: number): Promise<Run[]> {
    const runs: Run[] = [];
    const perBlock = this.blockSize / 4;
    const visited = new Set<number>();
    const add = (logical: number, physical: number) => {
      if (physical === 0 || logical >= maxLogical) return;
      this.checkBlock(physical, `a block pointer of inode ${inode.number}`);
      const last = runs[runs.length - 1];
      if (last && last.physical !== undefined && last.logical + last.count === logical && last.physical + last.count === physical) last.count++;
      else runs.push({ logical, physical, count: 1 });
    };
    const walk = async (block: number, level: number, firstLogical: number): Promise<void> => {
      if (block === 0 || firstLogical >= maxLogical) return;
      this.checkBlock(block, `an indirect block of inode ${inode.number}`);
      if (visited.has(block)) throw corrupt(`inode ${inode.number}'s block map uses block ${block} twice`);
      visited.add(block);
      const dv = view(await this.cache.block(block));
      const span = perBlock ** (level - 1);
      for (let i = 0; i < perBlock; i++) {
        const pointer = dv.getUint32(i * 4, true);
        if (level === 1) add(firstLogical + i, pointer);
        else await walk(pointer, level - 1, firstLogical + i * span);
      }
    };
    const area = view(inode.blockArea);
    for (let i = 0; i < 12; i++) add(i, area.getUint32(i * 4, true));
    await walk(area.getUint32(48, true), 1, 12);
    await walk(area.getUint32(52, true), 2, 12 + perBlock);
    await walk(area.getUint32(56, true), 3, 12 + perBlock + perBlock ** 2);
    return runs;
  }

  /** The "system.data" extended attribute in the inode body: the tail of inline data. */
  private inlineXattr(inode: Inode): Uint8Array {
    if (this.inodeSize <= 128) return new Uint8Array(0);
    const dv = view(inode.raw);
    const extra = dv.getUint16(0x80, true);
    const start = 128 + extra;
    if (extra % 4 !== 0 || start + 4 > this.inodeSize || dv.getUint32(start, true) !== 0xea020000) return new Uint8Array(0);
    const first = start + 4;
    let at = first;
    while (at + 16 <= this.inodeSize) {
      const nameLen = inode.raw[at]!;
      const nameIndex = inode.raw[at + 1]!;
      if (nameLen === 0 && nameIndex === 0 && dv.getUint32(at, true) === 0) break;
      const valueOffset = dv.getUint16(at + 2, true);
      const valueSize = dv.getUint32(at + 8, true);
      const name = String.fromCharCode(...inode.raw.subarray(at + 16, at + 16 + nameLen));
      if (nameIndex === 7 && name === "data") {
        if (first + valueOffset + valueSize > this.inodeSize) throw corrupt(`inode ${inode.number}'s inline data attribute overruns the inode`);
        return inode.raw.subarray(first + valueOffset, first + valueOffset + valueSize);
      }
      at += (16 + nameLen + 3) & ~3;
    }
    return new Uint8Array(0);
  }

  private async content(inode: Inode, maxBytes: number, path: string): Promise<Uint8Array> {
    if (inode.size > maxBytes) {
      throw new InspectError("INSPECT_TOO_LARGE", `${path} is ${inode.size} bytes, over the ${maxBytes}-byte limit; raise maxBytes if it is really needed`, { path });
    }
    if (inode.flags & FLAG_INLINE_DATA) {
      const out = new Uint8Array(inode.size);
      const head = inode.blockArea.subarray(0, Math.min(60, inode.size));
      out.set(head);
      if (inode.size > 60) {
        const tail = this.inlineXattr(inode);
        if (60 + tail.length < inode.size) throw corrupt(`inode ${inode.number}'s inline data is shorter than its size`);
        out.set(tail.subarray(0, inode.size - 60), 60);
      }
      return out;
    }
    const out = new Uint8Array(inode.size);
    const runs = await this.runs(inode);
    for (const [i, run] of runs.entries()) {
      if (run.physical === undefined) continue;
      const offset = run.logical * this.blockSize;
      // Runs are sorted; overlapping ones (a lying tree) stop where the next begins, so the bytes
      // read never exceed the file's size.
      const count = Math.min(run.count, (runs[i + 1]?.logical ?? Infinity) - run.logical);
      const length = Math.min(count * this.blockSize, inode.size - offset);
      if (length <= 0) continue;
      // File data goes straight to the device in one read per extent, bypassing the metadata cache.
      const data = await readBytes(this.device, run.physical * this.blockSize, length, `data of inode ${inode.number}`);
      out.set(data, offset);
    }
    return out;
  }

  private parseDirectoryBlock(bytes: Uint8Array, inode: number, entries: Map<string, number>): void {
    const dv = view(bytes);
    const fileType = (this.incompat & INCOMPAT_FILETYPE) !== 0;
    let at = 0;
    while (at + 8 <= bytes.length) {
      const child = dv.getUint32(at, true);
      const recLen = dv.getUint16(at + 4, true);
      const nameLen = fileType ? bytes[at + 6]! : dv.getUint16(at + 6, true);
      if (recLen < 8 || recLen % 4 !== 0 || at + recLen > bytes.length || 8 + nameLen > recLen) {
        throw corrupt(`directory inode ${inode} has a malformed entry at offset ${at}`);
      }
      if (child !== 0 && nameLen > 0) {
        const name = new TextDecoder().decode(bytes.subarray(at + 8, at + 8 + nameLen));
        if (name !== "." && name !== "..") entries.set(name, child);
      }
      at += recLen;
    }
  }

  protected async readDirectory(inode: Inode): Promise<Map<string, number>> {
    if (inode.flags & FLAG_ENCRYPTED) throw new InspectError("INSPECT_UNSUPPORTED", `directory inode ${inode.number} is encrypted; leapp cannot read it`);
    const entries = new Map<string, number>();
    if (inode.flags & FLAG_INLINE_DATA) {
      // i_block: the parent's inode number, then entries; the rest in the system.data attribute.
      const body = inode.blockArea.subarray(4, 60);
      this.parseDirectoryBlock(body, inode.number, entries);
      const tail = this.inlineXattr(inode);
      if (tail.length > 0) this.parseDirectoryBlock(tail, inode.number, entries);
      return entries;
    }
    const data = await this.content(inode, MAX_DIRECTORY_BYTES, `directory inode ${inode.number}`);
    for (let at = 0; at + this.blockSize <= data.length; at += this.blockSize) {
      const block = data.subarray(at, at + this.blockSize);
      // A hole in a directory (never made by ext4 itself) reads as an empty block.
      if (block.every((b) => b === 0)) continue;
      this.parseDirectoryBlock(block, inode.number, entries);
    }
    return entries;
  }

  protected rootInodeNumber(): number {
    return ROOT_INODE;
  }

  protected fileContent(inode: Inode, maxBytes: number, path: string): Promise<Uint8Array> {
    return this.content(inode, maxBytes, path);
  }

  protected async openInode(inode: Inode, path: string): Promise<GuestFile> {
    if (inode.flags & FLAG_INLINE_DATA) return runsFile(this.device, inode.size, await this.content(inode, inode.size, path));
    const runs = await this.runs(inode);
    const data: DataRun[] = [];
    for (const [i, run] of runs.entries()) {
      if (run.physical === undefined) continue;
      const offset = run.logical * this.blockSize;
      const count = Math.min(run.count, (runs[i + 1]?.logical ?? Infinity) - run.logical);
      const length = Math.min(count * this.blockSize, inode.size - offset);
      if (length > 0) data.push({ offset, at: run.physical * this.blockSize, length });
    }
    return runsFile(this.device, inode.size, data);
  }

  protected async inodeXattrs(_inode: Inode, path: string): Promise<Map<string, Uint8Array>> {
    throw new InspectError("INSPECT_UNSUPPORTED", `${path}: reading ext extended attributes is not implemented yet`, { path });
  }

  // eslint-disable-next-line require-yield
  async *freeRanges(): AsyncIterable<{ offset: number; length: number }> {
    throw new InspectError("INSPECT_UNSUPPORTED", "listing the free blocks of an ext filesystem is not implemented yet");
  }

  protected async symlinkTarget(inode: Inode, path: string): Promise<Uint8Array> {
    if (inode.size > 4096) throw corrupt(`symlink ${path} claims a ${inode.size}-byte target`);
    const eaBlocks = inode.fileAcl !== 0 ? this.blockSize / 512 : 0;
    const fast = !(inode.flags & (FLAG_EXTENTS | FLAG_INLINE_DATA)) && inode.blocks - eaBlocks <= 0 && inode.size < 60;
    return fast ? inode.blockArea.subarray(0, inode.size) : await this.content(inode, 4096, path);
  }

}

export function openExt(device: BlockDevice): Promise<ExtFilesystem> {
  return ExtFilesystem.open(device);
}

/** The ext driver. Writing is not implemented yet: a writable open is refused. */
export const extDriver: FilesystemDriver = {
  types: ["ext2", "ext3", "ext4"],
  async open(device: BlockDevice, options: OpenFilesystemOptions = {}): Promise<WritableFilesystem> {
    if (options.writable) throw new InspectError("INSPECT_UNSUPPORTED", "writing ext filesystems is not implemented yet");
    return (await ExtFilesystem.open(device)) as unknown as WritableFilesystem;
  },
} as FilesystemDriver;
