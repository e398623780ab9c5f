import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { InodeFilesystem, runsFile, typeOfMode, type DataRun } from "../inode-filesystem.js";
import type { Filesystem, FilesystemDriver, GuestFile, OpenFilesystemOptions } from "../filesystem.js";
import { WriteBackCache } from "../write-back-cache.js";
import { overlayJournal, replayJournal, type JournalCopy } from "./journal.js";
import { extTypeOf } from "../../block/identify.js";
import { corrupt, cString, readBytes, uuidString, view } from "../../block/volumes-io.js";
import { readMapping, type Mapping } from "./block-map.js";
import { ExtChecksums } from "./checksum.js";
import { blockEntries } from "./directory.js";
import { BlockGroups, findClear, findSet } from "./groups.js";
import { FLAG_ENCRYPTED, FLAG_EXTENTS, FLAG_INLINE_DATA, RawInode, type ExtInode } from "./inode.js";
import { COMPAT, INCOMPAT, RO_COMPAT, STATE_ERROR, STATE_VALID, Superblock } from "./superblock.js";
import { aclFromDisk, fullName, isAcl, isInlineData, parseEntries, XATTR_BLOCK_HEADER, XATTR_MAGIC, type XattrEntry } from "./xattr.js";

export const ROOT_INODE = 2;
/** Directories bigger than this are refused: no real /etc comes near it. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** Clean metadata kept in memory, whatever the block size. */
const CACHED_BYTES = 32 * 1024 * 1024;

/** Reads the primary superblock, refusing what is not ext2/3/4. */
export async function readSuperblock(device: BlockDevice): Promise<Superblock> {
  const bytes = await readBytes(device, 1024, 1024, "ext superblock");
  if (view(bytes).getUint16(0x38, true) !== 0xef53) throw new InspectError("INSPECT_UNSUPPORTED", "no ext2/3/4 superblock on this volume");
  return new Superblock(bytes, device.size);
}

/**
 * An ext2/3/4 filesystem, read by our own reader: superblock, 32/64-bit group descriptors
 * (meta_bg too), inodes, extent trees of any depth, ext2/3 indirect blocks, linear and htree
 * directories (read linearly), fast and slow symlinks, inline data, sparse files, extended
 * attributes (in the inode and in a block) and the free-block bitmaps.
 */
export class ExtFilesystem extends InodeFilesystem<number, ExtInode> {
  protected readonly kind = "ext";
  readonly type: "ext2" | "ext3" | "ext4";
  readonly uuid: string | undefined;
  readonly label: string | undefined;
  protected readonly cache: WriteBackCache;
  protected readonly groups: BlockGroups;
  protected readonly checksums: ExtChecksums;
  protected readonly blockSize: number;
  /** How many blocks were read from the journal instead of their home location (unclean unmount). */
  replayedBlocks = 0;

  protected constructor(
    protected readonly device: BlockDevice,
    protected readonly sb: Superblock,
    writable: boolean,
  ) {
    super();
    this.blockSize = sb.blockSize;
    this.type = extTypeOf(sb.compat, sb.incompat, sb.roCompat);
    this.uuid = uuidString(sb.uuid);
    this.label = cString(sb.bytes, 0x78, 16);
    this.cache = new WriteBackCache(device, sb.blockSize, CACHED_BYTES / sb.blockSize, "ext block", !writable);
    const kind = sb.hasRoCompat(RO_COMPAT.metadata_csum) ? "metadata_csum" : sb.hasRoCompat(RO_COMPAT.gdt_csum) ? "gdt_csum" : "none";
    this.checksums = new ExtChecksums(kind, sb.uuid, sb.checksumSeed, sb.descSize, sb.inodeSize);
    this.groups = new BlockGroups(sb, this.cache, this.checksums);
  }

  static async open(device: BlockDevice): Promise<ExtFilesystem> {
    const sb = await readSuperblock(device);
    let fs = new ExtFilesystem(device, sb, false);
    // A filesystem that was not cleanly unmounted: read it as it will be after journal replay.
    const journalInode = sb.journalInode;
    if (sb.hasIncompat(INCOMPAT.needs_recovery) && sb.hasCompat(COMPAT.has_journal) && journalInode !== 0) {
      const copies = await fs.journalCopies(journalInode);
      if (copies.size > 0) {
        const replayed = overlayJournal(device, fs.blockSize, copies);
        fs = new ExtFilesystem(replayed, await readSuperblock(replayed), false);
        fs.replayedBlocks = copies.size;
      }
    }
    await fs.checkRoot();
    return fs;
  }

  protected async checkRoot(): Promise<void> {
    const root = await this.inode(ROOT_INODE);
    if (typeOfMode(root.mode) !== "directory") throw corrupt("the ext root inode is not a directory");
  }

  /** The journal's committed blocks not yet written home (see journal.ts). */
  protected async journalCopies(journalInode: number): Promise<Map<number, JournalCopy>> {
    const inode = await this.inode(journalInode);
    const { extents } = await this.mapping(inode);
    const blocks = Math.floor(inode.size / this.blockSize);
    const journalBlock = (n: number): number => {
      let lo = 0;
      let hi = extents.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const run = extents[mid]!;
        if (n < run.logical) hi = mid - 1;
        else if (n >= run.logical + run.count) lo = mid + 1;
        else return (run.physical + n - run.logical) * this.blockSize;
      }
      throw corrupt(`block ${n} of the ext journal is a hole`);
    };
    return replayJournal(this.device, this.blockSize, blocks, journalBlock);
  }

  /** Where inode `number` lives: its inode table block and the byte offset in it. */
  protected async inodeLocation(number: number): Promise<{ block: number; offset: number }> {
    if (!Number.isInteger(number) || number < 1 || number > this.sb.inodesCount) throw corrupt(`a directory entry names inode ${number}, outside 1–${this.sb.inodesCount}`);
    const group = Math.floor((number - 1) / this.sb.inodesPerGroup);
    const index = (number - 1) % this.sb.inodesPerGroup;
    const table = await this.groups.inodeTable(group);
    const byte = index * this.sb.inodeSize;
    return { block: table + Math.floor(byte / this.blockSize), offset: byte % this.blockSize };
  }

  protected rawInode(raw: Uint8Array): RawInode {
    return new RawInode(raw, this.sb.hasRoCompat(RO_COMPAT.huge_file));
  }

  protected async inode(number: number): Promise<ExtInode> {
    const { block, offset } = await this.inodeLocation(number);
    const raw = (await this.cache.block(block)).subarray(offset, offset + this.sb.inodeSize);
    const inode = this.rawInode(raw).parse(number, this.blockSize);
    if (!Number.isSafeInteger(inode.size)) throw corrupt(`inode ${number} claims a size of ${inode.size} bytes`);
    return inode;
  }

  /** The file's extents; readers pass the size bound, so blocks past the end are never read. */
  protected mapping(inode: ExtInode, limit?: number): Promise<Mapping> {
    return readMapping({ blockSize: this.blockSize, blocksCount: this.sb.blocksCount, cache: this.cache, checkBlock: (b, w) => this.groups.checkBlock(b, w) }, inode, limit);
  }

  /** The written data runs of a file, clipped to its size; unwritten extents read as holes. */
  private async dataRuns(inode: ExtInode): Promise<DataRun[]> {
    const { extents } = await this.mapping(inode, Math.ceil(inode.size / this.blockSize));
    const data: DataRun[] = [];
    for (const [i, run] of extents.entries()) {
      if (run.unwritten) continue;
      const offset = run.logical * this.blockSize;
      // Runs are sorted; overlapping ones (a lying tree) stop where the next begins, so the bytes
      // read never exceed the file's size.
      const count = Math.min(run.count, (extents[i + 1]?.logical ?? Infinity) - run.logical);
      const length = Math.min(count * this.blockSize, inode.size - offset);
      if (length > 0) data.push({ offset, at: run.physical * this.blockSize, length });
    }
    return data;
  }

  /** The attributes stored in the inode body, after i_extra_isize (none in 128-byte inodes). */
  protected inodeBodyXattrs(inode: ExtInode): XattrEntry[] {
    if (this.sb.inodeSize <= 128) return [];
    const extra = view(inode.raw).getUint16(0x80, true);
    const start = 128 + extra;
    if (extra % 4 !== 0 || start + 4 > this.sb.inodeSize || view(inode.raw).getUint32(start, true) !== XATTR_MAGIC) return [];
    return parseEntries(inode.raw, start + 4, start + 4, this.sb.inodeSize, `inode ${inode.number}'s attributes`);
  }

  /** The attribute block's entries and header, checked. */
  protected async xattrBlock(inode: ExtInode): Promise<{ entries: XattrEntry[]; bytes: Uint8Array; refcount: number } | undefined> {
    if (inode.fileAcl === 0) return undefined;
    this.groups.checkBlock(inode.fileAcl, `the attribute block of inode ${inode.number}`);
    const bytes = await this.cache.block(inode.fileAcl);
    const dv = view(bytes);
    if (dv.getUint32(0, true) !== XATTR_MAGIC || dv.getUint32(8, true) !== 1) throw corrupt(`inode ${inode.number}'s attribute block ${inode.fileAcl} has a bad header`);
    return { entries: parseEntries(bytes, XATTR_BLOCK_HEADER, 0, this.blockSize, `attribute block ${inode.fileAcl}`), bytes, refcount: dv.getUint32(4, true) };
  }

  /** The inline-data attribute (system.data): the tail of inline data past the 60 i_block bytes. */
  private inlineTail(inode: ExtInode): Uint8Array {
    return this.inodeBodyXattrs(inode).find(isInlineData)?.value ?? new Uint8Array(0);
  }

  private async content(inode: ExtInode, maxBytes: number, path: string): Promise<Uint8Array> {
    if (inode.size > maxBytes) {
      throw new InspectError("INSPECT_TOO_LARGE", `${path} is ${inode.size} bytes, over the ${maxBytes}-byte limit; raise maxBytes if it is really needed`, { path });
    }
    const out = new Uint8Array(inode.size);
    if (inode.flags & FLAG_INLINE_DATA) {
      out.set(inode.blockArea.subarray(0, Math.min(60, inode.size)));
      if (inode.size > 60) {
        const tail = this.inlineTail(inode);
        if (60 + tail.length < inode.size) throw corrupt(`inode ${inode.number}'s inline data is shorter than its size`);
        out.set(tail.subarray(0, inode.size - 60), 60);
      }
      return out;
    }
    // File data goes straight to the device in one read per extent, bypassing the metadata cache.
    for (const run of await this.dataRuns(inode)) out.set(await readBytes(this.device, run.at, run.length, `data of inode ${inode.number}`), run.offset);
    return out;
  }

  private parseDirectoryBlock(bytes: Uint8Array, length: number, inode: number, entries: Map<string, number>): void {
    for (const entry of blockEntries(bytes, length, this.sb.hasIncompat(INCOMPAT.filetype), inode)) {
      if (entry.inode === 0 || entry.name.length === 0) continue;
      const name = new TextDecoder().decode(entry.name);
      if (name !== "." && name !== "..") entries.set(name, entry.inode);
    }
  }

  protected async readDirectory(inode: ExtInode): Promise<Map<string, number>> {
    if (inode.flags & FLAG_ENCRYPTED) throw new InspectError("INSPECT_UNSUPPORTED", `directory inode ${inode.number} is encrypted; leapp cannot read it`);
    const entries = new Map<string, number>();
    if (inode.flags & FLAG_INLINE_DATA) {
      // i_block: the parent's inode number, then entries; the rest in the system.data attribute.
      this.parseDirectoryBlock(inode.blockArea.subarray(4), 56, inode.number, entries);
      const tail = this.inlineTail(inode);
      if (tail.length > 0) this.parseDirectoryBlock(tail, tail.length, inode.number, entries);
      return entries;
    }
    if (inode.size > MAX_DIRECTORY_BYTES) throw new InspectError("INSPECT_TOO_LARGE", `directory inode ${inode.number} is ${inode.size} bytes, over the ${MAX_DIRECTORY_BYTES}-byte limit`);
    // Through the metadata cache, so a writer's changes not yet written back are read too.
    const { extents } = await this.mapping(inode, Math.ceil(inode.size / this.blockSize));
    for (const run of extents) {
      if (run.unwritten) continue;
      for (const block of await this.cache.blocks(run.physical, run.count)) {
        // A hole or a never-written block (not made by ext4 itself) reads as an empty block.
        if (block.every((b) => b === 0)) continue;
        this.parseDirectoryBlock(block, block.length, inode.number, entries);
      }
    }
    return entries;
  }

  protected rootInodeNumber(): number {
    return ROOT_INODE;
  }

  protected fileContent(inode: ExtInode, maxBytes: number, path: string): Promise<Uint8Array> {
    return this.content(inode, maxBytes, path);
  }

  protected async openInode(inode: ExtInode, path: string): Promise<GuestFile> {
    if (inode.flags & FLAG_INLINE_DATA) return runsFile(this.device, inode.size, await this.content(inode, inode.size, path));
    return runsFile(this.device, inode.size, await this.dataRuns(inode));
  }

  /** Every extended attribute by its full name; POSIX ACLs in the form getxattr returns. */
  protected async inodeXattrs(inode: ExtInode, path: string): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const block = await this.xattrBlock(inode);
    for (const entry of [...(block?.entries ?? []), ...this.inodeBodyXattrs(inode)]) {
      const name = fullName(entry);
      if (name === undefined || isInlineData(entry)) continue;
      out.set(name, isAcl(entry.index) ? aclFromDisk(entry.value, `${path}: ${name}`) : entry.value);
    }
    return out;
  }

  /**
   * The runs of blocks the block bitmaps mark free (those of never-used groups computed from the
   * layout), as device byte ranges. Refused where the bitmaps cannot be trusted: a filesystem marked
   * as having errors, or one without a journal that was not cleanly unmounted.
   */
  async *freeRanges(): AsyncIterable<{ offset: number; length: number }> {
    this.checkOpen();
    if (this.sb.state & STATE_ERROR || (!(this.sb.state & STATE_VALID) && !this.sb.hasCompat(COMPAT.has_journal))) {
      throw new InspectError("INSPECT_DIRTY", "this ext filesystem may have wrong block bitmaps (it is marked as having errors or was not cleanly unmounted); run e2fsck on a copy before skipping its free space");
    }
    if (this.sb.clusterRatio > 1) throw new InspectError("INSPECT_UNSUPPORTED", "listing the free space of a bigalloc ext filesystem (bitmaps of clusters) is not supported");
    let pending: { offset: number; length: number } | undefined;
    for (let group = 0; group < this.sb.groupCount; group++) {
      const bitmap = await this.groups.blockBitmap(group);
      const first = this.groups.firstBlock(group);
      const size = this.groups.blocksIn(group);
      for (let bit = findClear(bitmap, 0, size); bit >= 0; bit = findClear(bitmap, bit, size)) {
        const end = findSet(bitmap, bit, size);
        const offset = (first + bit) * this.blockSize;
        const length = (end - bit) * this.blockSize;
        if (pending && pending.offset + pending.length === offset) pending.length += length;
        else {
          if (pending) yield pending;
          pending = { offset, length };
        }
        bit = end;
        if (bit >= size) break;
      }
    }
    if (pending) yield pending;
  }

  protected async symlinkTarget(inode: ExtInode, path: string): Promise<Uint8Array> {
    if (inode.size > 4096) throw corrupt(`symlink ${path} claims a ${inode.size}-byte target`);
    const eaSectors = inode.fileAcl !== 0 ? this.blockSize / 512 : 0;
    const fast = !(inode.flags & (FLAG_EXTENTS | FLAG_INLINE_DATA)) && inode.sectors - eaSectors <= 0 && inode.size < 60;
    return fast ? inode.blockArea.slice(0, inode.size) : await this.content(inode, 4096, path);
  }
}

export function openExt(device: BlockDevice): Promise<ExtFilesystem> {
  return ExtFilesystem.open(device);
}

/** The ext driver: read-only opens read through journal replay; writable ones need a clean filesystem. */
export const extDriver: FilesystemDriver = {
  types: ["ext2", "ext3", "ext4"],
  open: (async (device: BlockDevice, options: OpenFilesystemOptions = {}): Promise<Filesystem> => {
    if (!options.writable) return ExtFilesystem.open(device);
    // Loaded on first use: read-only callers never pay for the writer.
    const { openWritableExt } = await import("./ext-write.js");
    return openWritableExt(device);
  }) as FilesystemDriver["open"],
};
