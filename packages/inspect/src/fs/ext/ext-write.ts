// The ext2/3/4 writer: POSIX operations on a clean filesystem over a writable device, with no
// kernel, mount or root. Changes go to memory first (metadata blocks in the write-back cache, file
// data straight to newly allocated blocks) and reach the device in order — data, then metadata,
// then the superblock marked clean — when `flush` runs or too much is pending.
import { randomInt } from "node:crypto";
import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { corrupt, view } from "../../block/volumes-io.js";
import { typeOfMode } from "../inode-filesystem.js";
import { writeBehind } from "../write-behind-device.js";
import type { FilesystemUsage, GuestFile, GuestStat, NodeAttributes, WritableFilesystem, WriteOptions } from "../filesystem.js";
import { Allocator, noSpace } from "./allocator.js";
import { blockMapLimit, mappingNodes, normalizeExtents, writeMapping, type Extent, type MappingContext } from "./block-map.js";
import { blockEntries, Directories, FILE_TYPES, type DirectoryFile } from "./directory.js";
import { ExtFilesystem, readSuperblock } from "./ext.js";
import { BLOCK_AREA_SIZE, FLAG_APPEND, FLAG_ENCRYPTED, FLAG_EXTENTS, FLAG_IMMUTABLE, FLAG_INDEX, FLAG_INLINE_DATA, FLAG_VERITY, type ExtInode, type RawInode } from "./inode.js";
import { COMPAT, INCOMPAT, RO_COMPAT, STATE_VALID, type Superblock } from "./superblock.js";
import { aclToDisk, blockHash, findEntry, INDEX_SYSTEM, isAcl, isInlineData, sortForBlock, spaceNeeded, splitName, writeEntries, XATTR_BLOCK_HEADER, XATTR_MAGIC, type XattrEntry } from "./xattr.js";

/** Blocks kept free while file data is written, so the directory entry and mapping that follow always fit. */
const METADATA_RESERVE = 64;
/** Blocks a directory insertion may take at most (leaf and index splits, a deeper index, mapping growth). */
const DIRECTORY_RESERVE = 16;
const LINK_MAX = 65000;
/** File data is written in pieces of this size; an abort is noticed between them. */
const WRITE_PIECE = 8 * 1024 * 1024;
/** Pending metadata beyond this is written back between operations (RSS stays bounded). */
const WRITE_BACK_BYTES = 32 * 1024 * 1024;
const INLINE_DATA_NAME = new TextEncoder().encode("data");
/** An extent tree root with no entries: magic, 0 entries, room for 4, depth 0. */
const EMPTY_EXTENT_ROOT = Uint8Array.of(0x0a, 0xf3, 0, 0, 4, 0, 0, 0);
const encoder = new TextEncoder();

const now = (): bigint => BigInt(Date.now()) * 1_000_000n;

function invalidName(path: string, why: string): InspectError {
  return new InspectError("INSPECT_INVALID_NAME", `${path}: ${why}`, { path });
}

/** A path split into checked components: absolute, no NUL, no `..`, every name at most 255 bytes. */
function components(path: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/")) throw new InspectError("INSPECT_NOT_FOUND", `${String(path)} is not an absolute path`, { path: String(path) });
  if (path.includes("\0")) throw invalidName(path, "a path cannot hold a NUL byte");
  const parts = path.split("/").filter((c) => c !== "" && c !== ".");
  for (const part of parts) {
    if (part === "..") throw invalidName(path, "paths given to a filesystem cannot climb with '..'; resolve them first");
    if (encoder.encode(part).length > 255) throw invalidName(path, `the name ${part.slice(0, 40)}… is longer than the 255 bytes ext allows`);
  }
  return parts;
}

interface Place {
  parentPath: string;
  parent: ExtInode;
  name: string;
  nameBytes: Uint8Array;
  /** The inode the name points to now, if any. */
  existing: number | undefined;
}

/** Opens a clean ext2/3/4 filesystem for writing (see extDriver). */
export function openWritableExt(device: BlockDevice): Promise<WritableExtFilesystem> {
  return WritableExtFilesystem.openWritable(device);
}

export class WritableExtFilesystem extends ExtFilesystem implements WritableFilesystem {
  override readonly writable = true as const;
  private readonly allocator: Allocator;
  private readonly dirs: Directories;
  private queue: Promise<unknown> = Promise.resolve();
  /** The superblock on the device says "not clean" (set before the first change reaches it). */
  private markedDirty = false;
  /** Inodes changed by the operation under way: their checksums are sealed when it ends. */
  private readonly touched = new Map<number, { block: number; bytes: Uint8Array; raw: RawInode }>();
  /** A zeroed block for padding the last block of file data (the write copies it). */
  private readonly zeroBlock: Uint8Array;
  /** Directories opened for changes by the operation under way. */
  private readonly openDirs = new Map<number, DirectoryFile>();
  /** Where the next file's data goes: just after the last one, so a copy-in lays files out in order. */
  private dataCursor = 0;

  private constructor(device: BlockDevice, sb: Superblock) {
    super(device, sb, true);
    this.zeroBlock = new Uint8Array(sb.blockSize);
    this.allocator = new Allocator(sb, this.groups, this.cache);
    this.dirs = new Directories({
      blockSize: this.blockSize,
      cache: this.cache,
      checksums: this.checksums,
      fileType: sb.hasIncompat(INCOMPAT.filetype),
      dirIndex: sb.hasCompat(COMPAT.dir_index),
      maxIndexLevels: sb.hasIncompat(INCOMPAT.large_dir) ? 3 : 2,
      defaultHashVersion: sb.defaultHashVersion,
      unsignedHash: sb.unsignedHash,
      hashSeed: sb.hashSeed,
      inodesCount: sb.inodesCount,
    });
  }

  static async openWritable(device: BlockDevice): Promise<WritableExtFilesystem> {
    if (!device.writable) throw new InspectError("INSPECT_READ_ONLY", "this device is read-only: open the image writable (an overlay, or the image itself for in-place edits) to change its filesystem");
    const sb = await readSuperblock(device);
    sb.checkClean();
    sb.checkWritable();
    if (sb.blockSize > 32768) throw new InspectError("INSPECT_UNSUPPORTED", `leapp cannot write ext filesystems with ${sb.blockSize}-byte blocks`);
    // Small files laid out one after another reach the device in large writes.
    const fs = new WritableExtFilesystem(writeBehind(device), sb);
    await fs.checkJournal();
    await fs.checkRoot();
    return fs;
  }

  /** Refuses a journal that still holds transactions (a replay would undo our changes). */
  private async checkJournal(): Promise<void> {
    if (!this.sb.hasCompat(COMPAT.has_journal) || this.sb.journalInode === 0) return;
    const journal = await this.inode(this.sb.journalInode);
    const { extents } = await this.mapping(journal, 1);
    const first = extents[0];
    if (!first || first.logical !== 0) throw corrupt("the ext journal inode has no first block");
    const jsb = await this.cache.block(first.physical);
    if (view(jsb).getUint32(0, false) === 0xc03b3998 && view(jsb).getUint32(28, false) !== 0) {
      throw new InspectError("INSPECT_DIRTY", "this ext filesystem's journal holds transactions not yet written home; run e2fsck on it (or mount it once) so it is consistent, then open it again");
    }
  }

  // ---- serialization: one operation at a time, reads included, so none sees another half done ----

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs a change: marks the filesystem not clean on the device first, seals what it touched last. */
  private change<T>(op: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.checkOpen();
      await this.markNotClean();
      try {
        return await op();
      } finally {
        this.sealTouched();
        this.openDirs.clear();
        if (this.cache.dirtyBytes > WRITE_BACK_BYTES) await this.writeBack();
        this.cache.trim();
      }
    });
  }

  override lstat(path: string): Promise<GuestStat> {
    return this.exclusive(() => super.lstat(path));
  }
  override readdir(path: string): Promise<string[]> {
    return this.exclusive(() => super.readdir(path));
  }
  override readFile(path: string, options?: { maxBytes?: number }): Promise<Uint8Array> {
    return this.exclusive(() => super.readFile(path, options));
  }
  /**
   * A file opened here reads what the file holds at each read, under the same lock as changes, so
   * it never reads blocks a later change freed; a file deleted meanwhile reads as INSPECT_NOT_FOUND.
   */
  override openFile(path: string): Promise<GuestFile> {
    return this.exclusive(async () => {
      const opened = await super.openFile(path);
      const { number, generation } = await this.lookup(path);
      const current = async (): Promise<GuestFile> => {
        const inode = await this.inode(number);
        if (inode.nlink === 0 || inode.generation !== generation || typeOfMode(inode.mode) !== "file") {
          throw new InspectError("INSPECT_NOT_FOUND", `${path} was deleted after it was opened`, { path });
        }
        return this.openInode(inode, path);
      };
      const ranges = () =>
        this.exclusive(async () => {
          const out: Array<{ offset: number; length: number }> = [];
          for await (const range of (await current()).dataRanges()) out.push(range);
          return out;
        });
      return {
        size: opened.size,
        read: (buffer, position) => this.exclusive(async () => (await current()).read(buffer, position)),
        async *dataRanges() {
          yield* await ranges();
        },
        close: async () => {},
      };
    });
  }
  override readlink(path: string): Promise<string> {
    return this.exclusive(() => super.readlink(path));
  }
  override xattrs(path: string): Promise<Map<string, Uint8Array>> {
    return this.exclusive(() => super.xattrs(path));
  }
  override async *freeRanges(): AsyncIterable<{ offset: number; length: number }> {
    const ranges = await this.exclusive(async () => {
      const out: Array<{ offset: number; length: number }> = [];
      for await (const range of super.freeRanges()) out.push(range);
      return out;
    });
    yield* ranges;
  }

  // ---- the superblock and write-back ----

  private async writeSuperblock(): Promise<void> {
    const dv = view(this.sb.bytes);
    dv.setUint32(0x30, Math.floor(Date.now() / 1000), true);
    if (this.checksums.enabled) dv.setUint32(0x3fc, this.checksums.superblock(this.sb.bytes), true);
    await this.device.write(this.sb.bytes, 1024);
  }

  private async markNotClean(): Promise<void> {
    if (this.markedDirty) return;
    this.sb.state &= ~STATE_VALID;
    await this.writeSuperblock();
    await this.device.flush();
    this.markedDirty = true;
  }

  /** Seals group descriptors and writes every pending metadata block back. */
  private async writeBack(): Promise<void> {
    await this.groups.seal(this.allocator.dirtyGroups);
    this.allocator.dirtyGroups.clear();
    await this.cache.writeBack();
  }

  async flush(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.markedDirty) return;
      this.checkOpen();
      await this.writeBack();
      await this.device.flush();
      this.sb.state |= STATE_VALID;
      await this.writeSuperblock();
      await this.device.flush();
      this.markedDirty = false;
    });
  }

  override async close(): Promise<void> {
    await this.flush();
    await this.exclusive(() => super.close());
  }

  async usage(): Promise<FilesystemUsage> {
    return this.exclusive(async () => ({
      blockSize: this.blockSize,
      totalBlocks: this.sb.blocksCount,
      freeBlocks: this.sb.freeBlocks,
      totalInodes: this.sb.inodesCount,
      freeInodes: this.sb.freeInodes,
    }));
  }

  // ---- inodes ----

  /** An inode's bytes for changing; its checksum is sealed and its block marked dirty when the operation ends. */
  private async edit(number: number): Promise<RawInode> {
    const known = this.touched.get(number);
    if (known) return known.raw;
    const { block, offset } = await this.inodeLocation(number);
    const bytes = await this.cache.block(block);
    const raw = this.rawInode(bytes.subarray(offset, offset + this.sb.inodeSize));
    this.touched.set(number, { block, bytes, raw });
    this.cache.dirty(block, bytes);
    return raw;
  }

  private sealTouched(): void {
    for (const [number, { block, bytes, raw }] of this.touched) {
      this.checksums.sealInode(number, raw.raw);
      this.cache.dirty(block, bytes);
    }
    this.touched.clear();
  }

  private mappingContext(): MappingContext {
    return { blockSize: this.blockSize, blocksCount: this.sb.blocksCount, cache: this.cache, checkBlock: (b, w) => this.groups.checkBlock(b, w) };
  }

  private groupOfInode(number: number): number {
    return Math.floor((number - 1) / this.sb.inodesPerGroup);
  }

  /** A new inode, zeroed and stamped (mode, owner, times, generation); links and content are the caller's. */
  private async createInode(near: ExtInode, mode: number, attributes: NodeAttributes, directory: boolean): Promise<{ number: number; raw: RawInode }> {
    const { number, unusedFrom } = await this.allocator.allocateInode(this.groupOfInode(near.number), directory);
    // A table block wholly in the never-used tail holds nothing: start it zeroed instead of reading it.
    const perBlock = this.blockSize / this.sb.inodeSize;
    const firstInBlock = number - ((number - 1) % this.sb.inodesPerGroup) % perBlock;
    if (this.checksums.kind !== "none" && firstInBlock >= unusedFrom && !this.touched.has(number)) {
      const { block } = await this.inodeLocation(number);
      if (!this.cache.isDirty(block)) this.cache.fresh(block);
    }
    const raw = await this.edit(number);
    raw.raw.fill(0);
    if (this.sb.inodeSize > 128) {
      const want = this.sb.wantExtraIsize >= 4 ? this.sb.wantExtraIsize : 32;
      raw.extraIsize = Math.min(want & ~3, this.sb.inodeSize - 128);
    }
    raw.mode = mode;
    raw.uid = attributes.uid ?? 0;
    raw.gid = attributes.gid ?? 0;
    raw.generation = randomInt(0, 2 ** 32 - 1);
    const t = now();
    raw.setTime("atime", attributes.atimeNs ?? t);
    raw.setTime("mtime", attributes.mtimeNs ?? t);
    raw.setTime("ctime", t);
    raw.setTime("crtime", t);
    return { number, raw };
  }

  private seedOf(number: number, raw: RawInode): number {
    return this.checksums.enabled ? this.checksums.inodeSeed(number, raw.generation) : 0;
  }

  /** Whether an inode's i_block holds a block mapping (not text, device numbers or inline data). */
  private mapsBlocks(inode: ExtInode): boolean {
    if (inode.flags & FLAG_INLINE_DATA) return false;
    const type = typeOfMode(inode.mode);
    if (type === "file" || type === "directory") return true;
    if (type !== "symlink") return false;
    const eaSectors = inode.fileAcl !== 0 ? this.blockSize / 512 : 0;
    return !!(inode.flags & FLAG_EXTENTS) || inode.sectors - eaSectors > 0 || inode.size >= 60;
  }

  /**
   * Replaces an inode's block mapping with `extents` (old mapping blocks reused or freed, new ones
   * allocated first, so a failure changes nothing) and sets i_blocks. Frees nothing of the data:
   * the caller frees what it dropped.
   */
  private async setMapping(number: number, raw: RawInode, extents: Extent[], oldNodes: number[], keep: number, useExtents = (raw.flags & FLAG_EXTENTS) !== 0): Promise<void> {
    const normalized = normalizeExtents(extents, !useExtents);
    const last = normalized[normalized.length - 1];
    if (!useExtents && last && last.logical + last.count > blockMapLimit(this.blockSize)) throw new InspectError("INSPECT_TOO_LARGE", `inode ${number} would reach past what an ext2/3 block map can address`);
    const need = mappingNodes(normalized, useExtents, this.blockSize);
    const nodes = oldNodes.slice(0, need);
    if (need > nodes.length) {
      const goal = normalized[0]?.physical ?? this.groups.firstBlock(this.groupOfInode(number));
      const runs = await this.allocator.allocateAll(goal, need - nodes.length, keep);
      for (const run of runs) for (let b = run.start; b < run.start + run.count; b++) nodes.push(b);
    }
    // A block map holds 32-bit block numbers (a 64bit filesystem without extents past 16 TiB).
    if (!useExtents && [...normalized.map((e) => e.physical + e.count - 1), ...nodes].some((b) => b >= 2 ** 32)) {
      for (const block of nodes.slice(oldNodes.slice(0, need).length)) await this.allocator.free(block, 1);
      throw new InspectError("INSPECT_UNSUPPORTED", `inode ${number} would need blocks past 2^32, which a block map cannot address; this filesystem needs the extent feature`);
    }
    for (const block of oldNodes.slice(need)) {
      this.cache.forget(block);
      await this.allocator.free(block, 1);
    }
    const seed = this.seedOf(number, raw);
    const seal = useExtents && this.checksums.enabled ? (bytes: Uint8Array) => this.checksums.sealExtentBlock(seed, bytes) : undefined;
    const written = writeMapping(this.mappingContext(), normalized, useExtents, nodes, seal);
    raw.blockArea.set(written.blockArea);
    const dataBlocks = normalized.reduce((n, e) => n + e.count, 0);
    raw.setSectors((dataBlocks + nodes.length + (raw.fileAcl !== 0 ? 1 : 0)) * (this.blockSize / 512));
  }

  /**
   * Empties i_block: an extent inode keeps a valid empty extent header, as the kernel leaves it
   * (fsck counts an extent inode without one as garbage, even a free one).
   */
  private clearMapping(raw: RawInode): void {
    raw.blockArea.fill(0);
    if (raw.flags & FLAG_EXTENTS) raw.blockArea.set(EMPTY_EXTENT_ROOT);
  }

  /** Frees data blocks listed as extents. */
  private async freeExtents(extents: readonly Extent[]): Promise<void> {
    for (const e of extents) await this.allocator.free(e.physical, e.count);
  }

  private async freeNodes(nodes: readonly number[]): Promise<void> {
    for (const block of nodes) {
      this.cache.forget(block);
      await this.allocator.free(block, 1);
    }
  }

  /** Drops one link; the last one frees the inode, its blocks and its share of an attribute block. */
  private async dropLink(number: number): Promise<void> {
    const inode = await this.inode(number);
    const raw = await this.edit(number);
    const directory = typeOfMode(inode.mode) === "directory";
    if (!directory && raw.links > 1) {
      raw.links -= 1;
      raw.setTime("ctime", now());
      return;
    }
    if (this.mapsBlocks(inode)) {
      const { extents, nodes } = await this.mapping(inode);
      await this.freeExtents(extents);
      await this.freeNodes(nodes);
      if (directory) for (const e of extents) for (let b = e.physical; b < e.physical + e.count; b++) this.cache.forget(b);
    }
    if (inode.fileAcl !== 0) await this.releaseXattrBlock(inode.fileAcl, number);
    raw.links = 0;
    raw.size = 0;
    raw.setSectors(0);
    raw.fileAcl = 0;
    raw.flags &= ~(FLAG_INLINE_DATA | FLAG_INDEX);
    this.clearMapping(raw);
    raw.dtime = Math.floor(Date.now() / 1000);
    await this.allocator.freeInode(number, directory);
    if (directory) this.forgetDirectory(number);
  }

  // ---- paths and directories ----

  /** Where `path` goes: its parent directory (which must exist) and its name there. */
  private async place(path: string): Promise<Place | undefined> {
    const parts = components(path);
    if (parts.length === 0) return undefined;
    const parentPath = `/${parts.slice(0, -1).join("/")}`;
    const parent = await this.lookup(parentPath);
    if (typeOfMode(parent.mode) !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${parentPath} is not a directory`, { path });
    if (parent.flags & FLAG_ENCRYPTED) throw new InspectError("INSPECT_UNSUPPORTED", `${parentPath} is an encrypted directory; leapp cannot write into it`, { path });
    const name = parts[parts.length - 1]!;
    const existing = (await this.directory(parent)).get(name);
    return { parentPath, parent, name, nameBytes: encoder.encode(name), existing };
  }

  /** A directory opened for changes (an inline one is first moved to a block, as the kernel does). */
  private async openDirectory(number: number): Promise<DirectoryFile> {
    const open = this.openDirs.get(number);
    if (open) return open;
    let inode = await this.inode(number);
    if (inode.flags & FLAG_INLINE_DATA) {
      await this.convertInlineDirectory(inode);
      inode = await this.inode(number);
    }
    const { extents, nodes } = await this.mapping(inode);
    const blocks: number[] = [];
    for (const e of extents) {
      if (e.unwritten || e.logical !== blocks.length) throw corrupt(`directory inode ${number} has a hole or an unwritten block; run e2fsck on it`);
      for (let k = 0; k < e.count; k++) blocks.push(e.physical + k);
    }
    if (blocks.length === 0 || blocks.length * this.blockSize !== inode.size) throw corrupt(`directory inode ${number}'s size does not match its ${blocks.length} blocks; run e2fsck on it`);
    const raw = await this.edit(number);
    let nodeBlocks = nodes;
    const dir: DirectoryFile = {
      number,
      seed: this.seedOf(number, raw),
      blocks,
      get indexed() {
        return (raw.flags & FLAG_INDEX) !== 0;
      },
      set indexed(on: boolean) {
        raw.flags = on ? raw.flags | FLAG_INDEX : raw.flags & ~FLAG_INDEX;
      },
      append: async () => {
        const run = await this.allocator.allocate(blocks[blocks.length - 1]! + 1, 1);
        this.cache.fresh(run.start);
        blocks.push(run.start);
        const next = blocks.map((physical, logical) => ({ logical, physical, count: 1, unwritten: false }));
        try {
          await this.setMapping(number, raw, next, nodeBlocks, 0);
        } catch (err) {
          blocks.pop();
          this.cache.forget(run.start);
          await this.allocator.free(run.start, 1);
          throw err;
        }
        nodeBlocks = (await this.mapping(await this.inode(number))).nodes;
        raw.size = blocks.length * this.blockSize;
        return blocks.length - 1;
      },
    };
    this.openDirs.set(number, dir);
    return dir;
  }

  /** Moves an inline directory's entries into a block of its own. */
  private async convertInlineDirectory(inode: ExtInode): Promise<void> {
    const fileType = this.sb.hasIncompat(INCOMPAT.filetype);
    const parent = view(inode.blockArea).getUint32(0, true);
    const body = this.inodeBodyXattrs(inode);
    const tail = body.find(isInlineData)?.value ?? new Uint8Array(0);
    const entries = [...blockEntries(inode.blockArea.subarray(4), 56, fileType, inode.number), ...blockEntries(tail, tail.length, fileType, inode.number)]
      .filter((e) => e.inode !== 0)
      .map((e) => ({ inode: e.inode, name: e.name.slice(), type: e.type }));
    const run = await this.allocator.allocate(this.groups.firstBlock(this.groupOfInode(inode.number)), 1);
    const raw = await this.edit(inode.number);
    const bytes = this.cache.fresh(run.start);
    const temporary: DirectoryFile = {
      number: inode.number,
      seed: this.seedOf(inode.number, raw),
      blocks: [run.start],
      indexed: false,
      append: () => Promise.reject(corrupt(`inline directory inode ${inode.number} holds more than one block of entries`)),
    };
    this.dirs.initialize(temporary, bytes, parent);
    for (const e of entries) await this.dirs.add(temporary, e.name, e.inode, e.type);
    this.writeBodyXattrs(raw, body.filter((e) => !isInlineData(e)));
    raw.flags = (raw.flags & ~FLAG_INLINE_DATA) | (this.sb.hasIncompat(INCOMPAT.extent) ? FLAG_EXTENTS : 0);
    raw.blockArea.fill(0);
    await this.setMapping(inode.number, raw, [{ logical: 0, physical: run.start, count: 1, unwritten: false }], [], 0);
    raw.size = this.blockSize;
  }

  /** Adds a name to a directory (room for its growth checked first) and keeps the cached listing in step. */
  private async addEntry(place: Place, number: number, type: number): Promise<void> {
    if (this.sb.freeBlocks < DIRECTORY_RESERVE) throw noSpace(`a new entry in ${place.parentPath}`);
    const dir = await this.openDirectory(place.parent.number);
    await this.dirs.add(dir, place.nameBytes, number, type);
    (await this.directory(place.parent)).set(place.name, number);
    await this.touchDirectory(place.parent.number);
  }

  private async removeEntry(place: Place): Promise<number> {
    const dir = await this.openDirectory(place.parent.number);
    const removed = await this.dirs.remove(dir, place.nameBytes);
    if (removed === undefined) throw corrupt(`${place.parentPath} lists ${place.name} yet holds no such entry`);
    (await this.directory(place.parent)).delete(place.name);
    await this.touchDirectory(place.parent.number);
    return removed;
  }

  private async touchDirectory(number: number): Promise<void> {
    const raw = await this.edit(number);
    const t = now();
    raw.setTime("mtime", t);
    raw.setTime("ctime", t);
  }

  /** Adds (+1) or drops (-1) a directory's link from a subdirectory's `..`, with dir_nlink's overflow to 1. */
  private async adjustSubdirectoryLinks(number: number, delta: 1 | -1): Promise<void> {
    const raw = await this.edit(number);
    if (delta > 0) {
      if (raw.links === 1) return;
      this.checkSubdirectoryRoom(raw.links, number);
      raw.links = raw.links + 1 >= LINK_MAX ? 1 : raw.links + 1;
      return;
    }
    if (raw.links === 1) {
      // Overflowed: count the subdirectories again.
      const dir = await this.openDirectory(number);
      let subdirectories = 0;
      for (const e of await this.dirs.entries(dir)) if (e.type === FILE_TYPES.directory && !(e.name.length <= 2 && e.name.every((c) => c === 0x2e))) subdirectories++;
      const count = 2 + subdirectories;
      raw.links = count >= LINK_MAX ? 1 : count;
      return;
    }
    raw.links = Math.max(2, raw.links - 1);
  }

  /** Refuses one more subdirectory where the link count would overflow and dir_nlink is off. */
  private checkSubdirectoryRoom(links: number, number: number): void {
    if (links !== 1 && links + 1 >= LINK_MAX && !this.sb.hasRoCompat(RO_COMPAT.dir_nlink)) {
      throw new InspectError("INSPECT_INVALID", `directory inode ${number} has too many subdirectories for this filesystem (no dir_nlink feature)`);
    }
  }

  private fileTypeOf(mode: number): number {
    return FILE_TYPES[typeOfMode(mode)] ?? 0;
  }

  // ---- file data ----

  /** Whether a new small file may keep its bytes in the inode (inline_data, room for system.data). */
  private inlineAllowed(body: readonly XattrEntry[]): boolean {
    if (!this.sb.hasIncompat(INCOMPAT.inline_data) || this.sb.inodeSize <= 128) return false;
    const extra = this.sb.wantExtraIsize >= 4 ? this.sb.wantExtraIsize : 32;
    const room = this.sb.inodeSize - 128 - extra - 4;
    const entries = body.some(isInlineData) ? body : [...body, { index: INDEX_SYSTEM, name: INLINE_DATA_NAME, value: new Uint8Array(0) }];
    return spaceNeeded(entries) <= room;
  }

  /**
   * Writes content into newly allocated blocks (or keeps it for inline storage when it is small
   * enough): all or nothing — a failure or an abort frees what was allocated.
   */
  private async writeData(content: Uint8Array | AsyncIterable<Uint8Array>, goal: number, signal: AbortSignal | undefined, inline: boolean): Promise<{ inline?: Uint8Array; extents: Extent[]; size: number }> {
    const extents: Extent[] = [];
    const bs = this.blockSize;
    let cursor = goal;
    const put = async (piece: Uint8Array, logical: number) => {
      signal?.throwIfAborted();
      const blocks = Math.ceil(piece.length / bs);
      const runs = await this.allocator.allocateAll(cursor, blocks, METADATA_RESERVE);
      let at = 0;
      for (const run of runs) {
        extents.push({ logical: logical + at, physical: run.start, count: run.count, unwritten: false });
        at += run.count;
      }
      at = 0;
      for (const run of runs) {
        const from = at * bs;
        const to = Math.min(piece.length, (at + run.count) * bs);
        const whole = Math.floor((to - from) / bs) * bs;
        if (whole > 0) await this.device.write(piece.subarray(from, from + whole), run.start * bs);
        if (from + whole < to) {
          // The tail, then zeros to the end of its block (the device copies what it keeps).
          await this.device.write(piece.subarray(from + whole, to), (run.start + whole / bs) * bs);
          await this.device.write(this.zeroBlock.subarray(0, bs - (to - from - whole)), (run.start + whole / bs) * bs + (to - from - whole));
        }
        at += run.count;
      }
      cursor = runs[runs.length - 1]!.start + runs[runs.length - 1]!.count;
    };
    try {
      if (content instanceof Uint8Array) {
        if (inline && content.length <= BLOCK_AREA_SIZE) return { inline: content.slice(), extents, size: content.length };
        for (let at = 0; at < content.length; at += WRITE_PIECE) await put(content.subarray(at, at + WRITE_PIECE), at / bs);
        this.dataCursor = cursor;
        return { extents, size: content.length };
      }
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      let written = 0;
      const drain = async (all: boolean) => {
        const take = all ? pendingBytes : Math.floor(pendingBytes / bs) * bs;
        if (take === 0) return;
        const joined = new Uint8Array(pendingBytes);
        let at = 0;
        for (const chunk of pending) {
          joined.set(chunk, at);
          at += chunk.length;
        }
        await put(joined.subarray(0, take), written / bs);
        written += take;
        pending = take < pendingBytes ? [joined.slice(take)] : [];
        pendingBytes -= take;
      };
      for await (const chunk of content) {
        signal?.throwIfAborted();
        if (!(chunk instanceof Uint8Array)) throw new InspectError("INSPECT_INVALID", "file content chunks must be Uint8Arrays");
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_PIECE) await drain(false);
      }
      signal?.throwIfAborted();
      if (inline && written === 0 && pendingBytes <= BLOCK_AREA_SIZE) {
        const bytes = new Uint8Array(pendingBytes);
        let at = 0;
        for (const chunk of pending) {
          bytes.set(chunk, at);
          at += chunk.length;
        }
        return { inline: bytes, extents, size: pendingBytes };
      }
      await drain(true);
      this.dataCursor = cursor;
      return { extents, size: written };
    } catch (err) {
      await this.freeExtents(extents);
      throw err;
    }
  }

  /** Points an inode at new content (inline or extents), freeing what it had; sets size and times. */
  private async setContent(number: number, raw: RawInode, data: { inline?: Uint8Array; extents: Extent[]; size: number }, keep: number): Promise<void> {
    const before = await this.inode(number);
    const old = this.mapsBlocks(before) ? await this.mapping(before) : { extents: [], nodes: [] };
    let body = this.inodeBodyXattrs(before);
    if (data.inline) {
      await this.setMapping(number, raw, [], old.nodes, keep);
      raw.flags = (raw.flags & ~FLAG_EXTENTS) | FLAG_INLINE_DATA;
      raw.blockArea.fill(0);
      raw.blockArea.set(data.inline);
      if (!body.some(isInlineData)) body = [...body, { index: INDEX_SYSTEM, name: INLINE_DATA_NAME, value: new Uint8Array(0) }];
      this.writeBodyXattrs(raw, body.map((e) => (isInlineData(e) ? { ...e, value: new Uint8Array(0) } : e)));
    } else {
      // The mapping first: it allocates, so a lack of space leaves the inode as it was.
      const useExtents = this.sb.hasIncompat(INCOMPAT.extent) || ((raw.flags & FLAG_EXTENTS) !== 0 && !(raw.flags & FLAG_INLINE_DATA));
      await this.setMapping(number, raw, data.extents, old.nodes, keep, useExtents);
      if (raw.flags & FLAG_INLINE_DATA) this.writeBodyXattrs(raw, body.filter((e) => !isInlineData(e)));
      raw.flags = (raw.flags & ~(FLAG_INLINE_DATA | FLAG_EXTENTS)) | (useExtents ? FLAG_EXTENTS : 0);
    }
    raw.size = data.size;
    await this.freeExtents(old.extents);
  }

  private checkFileSize(size: number, path: string): void {
    const extents = this.sb.hasIncompat(INCOMPAT.extent);
    const max = extents ? (2 ** 32 - 1) * this.blockSize : blockMapLimit(this.blockSize) * this.blockSize;
    if (size > max) throw new InspectError("INSPECT_TOO_LARGE", `${path}: ${size} bytes is more than a file on this ext filesystem can hold (${max})`, { path });
    if (size >= 2 ** 31 && !this.sb.hasRoCompat(RO_COMPAT.large_file)) {
      throw new InspectError("INSPECT_TOO_LARGE", `${path}: files of 2 GiB or more need the large_file feature (tune2fs -O large_file)`, { path });
    }
  }

  private static checkWritableInode(inode: ExtInode, path: string): void {
    if (inode.flags & (FLAG_IMMUTABLE | FLAG_APPEND)) throw new InspectError("INSPECT_INVALID", `${path} is immutable or append-only (chattr +i / +a); clear that first`, { path });
    if (inode.flags & (FLAG_ENCRYPTED | FLAG_VERITY)) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is encrypted or fs-verity protected; leapp cannot change it`, { path });
  }

  // ---- the WritableFilesystem operations ----

  async writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes: NodeAttributes = {}, options: WriteOptions = {}): Promise<void> {
    return this.change(async () => {
      options.signal?.throwIfAborted();
      const place = await this.place(path);
      if (!place) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is the root directory`, { path });
      if (place.existing !== undefined) {
        const inode = await this.inode(place.existing);
        const type = typeOfMode(inode.mode);
        if (type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
        if (type !== "file") throw new InspectError("INSPECT_EXISTS", `${path} exists and is a ${type}, not a regular file`, { path });
        WritableExtFilesystem.checkWritableInode(inode, path);
        const data = await this.writeData(content, this.dataCursor || this.groups.firstBlock(this.groupOfInode(inode.number)), options.signal, this.inlineAllowed(this.inodeBodyXattrs(inode)));
        try {
          this.checkFileSize(data.size, path);
          const raw = await this.edit(inode.number);
          await this.setContent(inode.number, raw, data, DIRECTORY_RESERVE);
          if (attributes.mode !== undefined) raw.mode = (raw.mode & 0o170000) | (attributes.mode & 0o7777);
          if (attributes.uid !== undefined) raw.uid = attributes.uid;
          if (attributes.gid !== undefined) raw.gid = attributes.gid;
          const t = now();
          raw.setTime("mtime", attributes.mtimeNs ?? t);
          if (attributes.atimeNs !== undefined) raw.setTime("atime", attributes.atimeNs);
          raw.setTime("ctime", t);
        } catch (err) {
          await this.freeExtents(data.extents);
          throw err;
        }
        return;
      }
      this.checkAttributes(attributes, path);
      const inline = this.inlineAllowed([]);
      const data = await this.writeData(content, this.dataCursor || this.groups.firstBlock(this.groupOfInode(place.parent.number)), options.signal, inline);
      let number: number | undefined;
      try {
        this.checkFileSize(data.size, path);
        const created = await this.createInode(place.parent, 0o100000 | ((attributes.mode ?? 0o644) & 0o7777), attributes, false);
        number = created.number;
        created.raw.links = 1;
        await this.setContent(number, created.raw, data, DIRECTORY_RESERVE);
        await this.addEntry(place, number, FILE_TYPES.file!);
      } catch (err) {
        if (number !== undefined) {
          const raw = await this.edit(number);
          raw.links = 0;
          raw.dtime = Math.floor(Date.now() / 1000);
          const written = await this.inode(number);
          if (this.mapsBlocks(written)) await this.freeNodes((await this.mapping(written)).nodes);
          raw.flags &= ~FLAG_INLINE_DATA;
          this.clearMapping(raw);
          await this.allocator.freeInode(number, false);
        }
        await this.freeExtents(data.extents);
        throw err;
      }
    });
  }

  async truncate(path: string, size: number): Promise<void> {
    return this.change(async () => {
      if (!Number.isSafeInteger(size) || size < 0) throw new InspectError("INSPECT_INVALID", `${path}: ${size} is not a file size`, { path });
      const inode = await this.lookup(path);
      const type = typeOfMode(inode.mode);
      if (type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
      if (type !== "file") throw new InspectError("INSPECT_INVALID", `${path} is a ${type}, not a regular file`, { path });
      WritableExtFilesystem.checkWritableInode(inode, path);
      this.checkFileSize(size, path);
      const raw = await this.edit(inode.number);
      const bs = this.blockSize;
      if (inode.flags & FLAG_INLINE_DATA) {
        const bytes = await this.fileContent(inode, inode.size, path);
        if (size <= BLOCK_AREA_SIZE) {
          raw.blockArea.fill(0);
          raw.blockArea.set(bytes.subarray(0, size));
          // Data past the 60 i_block bytes lives in system.data: none is left.
          this.writeBodyXattrs(raw, this.inodeBodyXattrs(inode).map((e) => (isInlineData(e) ? { ...e, value: new Uint8Array(0) } : e)));
          raw.size = size;
        } else {
          const data = await this.writeData(bytes, this.dataCursor, undefined, false);
          await this.setContent(inode.number, raw, { extents: data.extents, size }, 0);
        }
      } else {
        const { extents, nodes } = await this.mapping(inode);
        const keepBlocks = Math.ceil(size / bs);
        const kept: Extent[] = [];
        const dropped: Extent[] = [];
        for (const e of extents) {
          if (e.logical >= keepBlocks) dropped.push(e);
          else if (e.logical + e.count > keepBlocks) {
            const cut = keepBlocks - e.logical;
            kept.push({ ...e, count: cut });
            dropped.push({ logical: keepBlocks, physical: e.physical + cut, count: e.count - cut, unwritten: e.unwritten });
          } else kept.push(e);
        }
        // Bytes past the new (or old, when growing) end of a partial last block must read as zeros.
        const edge = Math.min(size, inode.size);
        if (edge % bs !== 0) {
          const block = Math.floor(edge / bs);
          const holding = kept.find((e) => e.logical <= block && block < e.logical + e.count && !e.unwritten);
          if (holding) await this.device.write(new Uint8Array(bs - (edge % bs)), (holding.physical + block - holding.logical) * bs + (edge % bs));
        }
        if (dropped.length > 0) {
          await this.setMapping(inode.number, raw, kept, nodes, 0);
          await this.freeExtents(dropped);
        }
        raw.size = size;
      }
      const t = now();
      raw.setTime("mtime", t);
      raw.setTime("ctime", t);
    });
  }

  private checkAttributes(attributes: NodeAttributes, path: string): void {
    for (const id of [attributes.uid, attributes.gid]) {
      if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > 0xffffffff)) throw new InspectError("INSPECT_INVALID", `${path}: ${id} is not a 32-bit user or group id`, { path });
    }
    if (attributes.mode !== undefined && (!Number.isInteger(attributes.mode) || attributes.mode < 0)) throw new InspectError("INSPECT_INVALID", `${path}: ${attributes.mode} is not a mode`, { path });
  }

  async mkdir(path: string, attributes: NodeAttributes = {}): Promise<void> {
    return this.change(async () => {
      const place = await this.place(path);
      if (!place || place.existing !== undefined) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      this.checkAttributes(attributes, path);
      if (this.sb.freeBlocks < DIRECTORY_RESERVE + 1) throw noSpace(`the directory ${path}`);
      this.checkSubdirectoryRoom(place.parent.nlink, place.parent.number);
      const { number, raw } = await this.createInode(place.parent, 0o040000 | ((attributes.mode ?? 0o755) & 0o7777), attributes, true);
      const run = await this.allocator.allocate(this.groups.firstBlock(this.groupOfInode(number)), 1);
      raw.links = 2;
      if (this.sb.hasIncompat(INCOMPAT.extent)) raw.flags |= FLAG_EXTENTS;
      await this.setMapping(number, raw, [{ logical: 0, physical: run.start, count: 1, unwritten: false }], [], 0);
      raw.size = this.blockSize;
      const dir: DirectoryFile = { number, seed: this.seedOf(number, raw), blocks: [run.start], indexed: false, append: () => Promise.reject(new Error("a new directory does not grow")) };
      this.dirs.initialize(dir, this.cache.fresh(run.start), place.parent.number);
      this.forgetDirectory(number);
      await this.addEntry(place, number, FILE_TYPES.directory!);
      await this.adjustSubdirectoryLinks(place.parent.number, 1);
    });
  }

  async rmdir(path: string): Promise<void> {
    return this.change(async () => {
      const place = await this.place(path);
      if (!place) throw new InspectError("INSPECT_INVALID", "the root directory cannot be removed", { path });
      if (place.existing === undefined) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist in this filesystem`, { path });
      const inode = await this.inode(place.existing);
      if (typeOfMode(inode.mode) !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, { path });
      if ((await this.directory(inode)).size > 0) throw new InspectError("INSPECT_NOT_EMPTY", `${path} is not empty`, { path });
      await this.removeEntry(place);
      await this.adjustSubdirectoryLinks(place.parent.number, -1);
      await this.dropLink(inode.number);
    });
  }

  async unlink(path: string): Promise<void> {
    return this.change(async () => {
      const place = await this.place(path);
      if (!place) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is the root directory`, { path });
      if (place.existing === undefined) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist in this filesystem`, { path });
      const inode = await this.inode(place.existing);
      if (typeOfMode(inode.mode) === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory; use rmdir`, { path });
      if (inode.flags & (FLAG_IMMUTABLE | FLAG_APPEND)) WritableExtFilesystem.checkWritableInode(inode, path);
      await this.removeEntry(place);
      await this.dropLink(inode.number);
    });
  }

  async symlink(target: string, path: string, attributes: NodeAttributes = {}): Promise<void> {
    return this.change(async () => {
      const bytes = encoder.encode(target);
      if (bytes.length === 0 || bytes.includes(0)) throw invalidName(path, "a symbolic link's target must be non-empty and hold no NUL");
      if (bytes.length >= Math.min(this.blockSize, 4096)) throw invalidName(path, `a symbolic link's target must be shorter than ${Math.min(this.blockSize, 4096)} bytes`);
      const place = await this.place(path);
      if (!place || place.existing !== undefined) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      this.checkAttributes(attributes, path);
      if (this.sb.freeBlocks < DIRECTORY_RESERVE + 1) throw noSpace(`the symbolic link ${path}`);
      const { number, raw } = await this.createInode(place.parent, 0o120000 | ((attributes.mode ?? 0o777) & 0o7777), attributes, false);
      raw.links = 1;
      raw.size = bytes.length;
      if (bytes.length < BLOCK_AREA_SIZE) {
        raw.blockArea.set(bytes);
      } else {
        const run = await this.allocator.allocate(this.dataCursor || this.groups.firstBlock(this.groupOfInode(number)), 1);
        const block = new Uint8Array(this.blockSize);
        block.set(bytes);
        await this.device.write(block, run.start * this.blockSize);
        if (this.sb.hasIncompat(INCOMPAT.extent)) raw.flags |= FLAG_EXTENTS;
        await this.setMapping(number, raw, [{ logical: 0, physical: run.start, count: 1, unwritten: false }], [], 0);
      }
      await this.addEntry(place, number, FILE_TYPES.symlink!);
    });
  }

  async mknod(path: string, type: "chardev" | "blockdev" | "fifo" | "socket", attributes: NodeAttributes & { rdevMajor?: number; rdevMinor?: number } = {}): Promise<void> {
    return this.change(async () => {
      const modes = { chardev: 0o020000, blockdev: 0o060000, fifo: 0o010000, socket: 0o140000 };
      if (!(type in modes)) throw new InspectError("INSPECT_INVALID", `${path}: ${String(type)} is not a kind of node mknod makes`, { path });
      const major = attributes.rdevMajor ?? 0;
      const minor = attributes.rdevMinor ?? 0;
      if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff) {
        throw new InspectError("INSPECT_INVALID", `${path}: device numbers ${major}:${minor} do not fit Linux's 12-bit major and 20-bit minor`, { path });
      }
      const place = await this.place(path);
      if (!place || place.existing !== undefined) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      this.checkAttributes(attributes, path);
      if (this.sb.freeBlocks < DIRECTORY_RESERVE) throw noSpace(`the node ${path}`);
      const { number, raw } = await this.createInode(place.parent, modes[type] | ((attributes.mode ?? 0o644) & 0o7777), attributes, false);
      raw.links = 1;
      if (type === "chardev" || type === "blockdev") raw.setRdev(major, minor);
      await this.addEntry(place, number, FILE_TYPES[type]!);
    });
  }

  async link(existing: string, path: string): Promise<void> {
    return this.change(async () => {
      const inode = await this.lookup(existing);
      if (typeOfMode(inode.mode) === "directory") throw new InspectError("INSPECT_INVALID", `${existing} is a directory; directories cannot be hard-linked`, { path });
      const place = await this.place(path);
      if (!place || place.existing !== undefined) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      if (inode.nlink >= LINK_MAX) throw new InspectError("INSPECT_INVALID", `${existing} already has ${inode.nlink} links, the most ext allows`, { path });
      await this.addEntry(place, inode.number, this.fileTypeOf(inode.mode));
      const raw = await this.edit(inode.number);
      raw.links += 1;
      raw.setTime("ctime", now());
    });
  }

  async rename(from: string, to: string): Promise<void> {
    return this.change(async () => {
      const source = await this.place(from);
      const target = await this.place(to);
      if (!source) throw new InspectError("INSPECT_INVALID", "the root directory cannot be renamed", { path: from });
      if (!target) throw new InspectError("INSPECT_INVALID", `${from} cannot replace the root directory`, { path: to });
      if (source.existing === undefined) throw new InspectError("INSPECT_NOT_FOUND", `${from} does not exist in this filesystem`, { path: from });
      if (source.parent.number === target.parent.number && source.name === target.name) return;
      const moving = await this.inode(source.existing);
      const isDirectory = typeOfMode(moving.mode) === "directory";
      if (isDirectory) {
        const fromParts = components(from);
        const toParts = components(to);
        if (toParts.length > fromParts.length && fromParts.every((c, i) => toParts[i] === c)) {
          throw new InspectError("INSPECT_INVALID", `${from} cannot move into itself (${to})`, { path: to });
        }
      }
      let replaced: ExtInode | undefined;
      if (target.existing !== undefined) {
        if (target.existing === source.existing) return; // two names of one file: nothing to do
        replaced = await this.inode(target.existing);
        const replacedIsDirectory = typeOfMode(replaced.mode) === "directory";
        if (isDirectory && !replacedIsDirectory) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${to} is not a directory`, { path: to });
        if (!isDirectory && replacedIsDirectory) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${to} is a directory`, { path: to });
        if (replacedIsDirectory && (await this.directory(replaced)).size > 0) throw new InspectError("INSPECT_NOT_EMPTY", `${to} is not empty`, { path: to });
      } else if (this.sb.freeBlocks < DIRECTORY_RESERVE) {
        throw noSpace(`the new name ${to}`);
      }
      const type = this.fileTypeOf(moving.mode);
      if (replaced) {
        const dir = await this.openDirectory(target.parent.number);
        await this.dirs.replace(dir, target.nameBytes, moving.number, type);
        (await this.directory(target.parent)).set(target.name, moving.number);
        await this.touchDirectory(target.parent.number);
      } else {
        await this.addEntry(target, moving.number, type);
      }
      await this.removeEntry(source);
      if (isDirectory && source.parent.number !== target.parent.number) {
        await this.dirs.setParent(await this.openDirectory(moving.number), target.parent.number);
        await this.adjustSubdirectoryLinks(source.parent.number, -1);
        await this.adjustSubdirectoryLinks(target.parent.number, 1);
      }
      if (replaced) {
        if (typeOfMode(replaced.mode) === "directory") await this.adjustSubdirectoryLinks(target.parent.number, -1);
        await this.dropLink(replaced.number);
      }
      (await this.edit(moving.number)).setTime("ctime", now());
    });
  }

  async chmod(path: string, mode: number): Promise<void> {
    return this.change(async () => {
      if (!Number.isInteger(mode) || mode < 0) throw new InspectError("INSPECT_INVALID", `${path}: ${mode} is not a mode`, { path });
      const inode = await this.lookup(path);
      const raw = await this.edit(inode.number);
      raw.mode = (raw.mode & 0o170000) | (mode & 0o7777);
      raw.setTime("ctime", now());
    });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    return this.change(async () => {
      this.checkAttributes({ uid, gid }, path);
      const inode = await this.lookup(path);
      const raw = await this.edit(inode.number);
      raw.uid = uid;
      raw.gid = gid;
      raw.setTime("ctime", now());
    });
  }

  async utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    return this.change(async () => {
      if (typeof atimeNs !== "bigint" || typeof mtimeNs !== "bigint") throw new InspectError("INSPECT_INVALID", `${path}: times are nanoseconds as bigints`, { path });
      const inode = await this.lookup(path);
      const raw = await this.edit(inode.number);
      raw.setTime("atime", atimeNs);
      raw.setTime("mtime", mtimeNs);
      raw.setTime("ctime", now());
    });
  }

  // ---- extended attributes ----

  /** Rewrites the attributes kept in the inode body (the caller checked they fit). */
  private writeBodyXattrs(raw: RawInode, entries: readonly XattrEntry[]): void {
    if (this.sb.inodeSize <= 128) {
      if (entries.length > 0) throw new Error("no attribute space in 128-byte inodes");
      return;
    }
    const start = 128 + raw.extraIsize;
    if (entries.length === 0) {
      raw.raw.fill(0, start);
      return;
    }
    view(raw.raw).setUint32(start, XATTR_MAGIC, true);
    writeEntries(raw.raw, start + 4, start + 4, this.sb.inodeSize, entries, true);
  }

  private bodyRoom(raw: RawInode): number {
    return this.sb.inodeSize <= 128 ? 0 : this.sb.inodeSize - 128 - raw.extraIsize - 4;
  }

  /** Drops an inode's reference to an attribute block, freeing it with its last reference. */
  private async releaseXattrBlock(block: number, owner: number): Promise<void> {
    this.groups.checkBlock(block, `the attribute block of inode ${owner}`);
    const bytes = await this.cache.block(block);
    const dv = view(bytes);
    const refcount = dv.getUint32(4, true);
    if (refcount <= 1) {
      this.cache.forget(block);
      await this.allocator.free(block, 1);
      return;
    }
    dv.setUint32(4, refcount - 1, true);
    this.cache.dirty(block, bytes, this.xattrSeal(block));
  }

  private xattrSeal(block: number): ((bytes: Uint8Array) => void) | undefined {
    return this.checksums.enabled ? (bytes) => this.checksums.sealXattrBlock(block, bytes) : undefined;
  }

  /** Sets an inode's attribute block to hold `entries`: in place when unshared, copied when shared, released when empty. */
  private async storeXattrBlock(number: number, raw: RawInode, entries: XattrEntry[], old: { refcount: number } | undefined): Promise<void> {
    const oldBlock = raw.fileAcl;
    const sectorsPerBlock = this.blockSize / 512;
    if (entries.length === 0) {
      if (oldBlock !== 0) {
        await this.releaseXattrBlock(oldBlock, number);
        raw.fileAcl = 0;
        raw.setSectors(raw.sectors(this.blockSize) - sectorsPerBlock);
      }
      return;
    }
    let block = oldBlock;
    if (oldBlock === 0 || !old || old.refcount > 1) {
      const run = await this.allocator.allocate(this.groups.firstBlock(this.groupOfInode(number)), 1);
      block = run.start;
      this.cache.fresh(block);
      if (oldBlock !== 0) await this.releaseXattrBlock(oldBlock, number);
      else raw.setSectors(raw.sectors(this.blockSize) + sectorsPerBlock);
      raw.fileAcl = block;
    }
    const bytes = await this.cache.block(block);
    bytes.fill(0);
    const dv = view(bytes);
    dv.setUint32(0, XATTR_MAGIC, true);
    dv.setUint32(4, 1, true);
    dv.setUint32(8, 1, true);
    writeEntries(bytes, XATTR_BLOCK_HEADER, 0, this.blockSize, sortForBlock(entries), true);
    dv.setUint32(12, blockHash(bytes), true);
    this.cache.dirty(block, bytes, this.xattrSeal(block));
  }

  async setxattr(path: string, name: string, value: Uint8Array): Promise<void> {
    return this.change(async () => {
      if (!(value instanceof Uint8Array)) throw new InspectError("INSPECT_INVALID", `${path}: an attribute value must be a Uint8Array`, { path });
      const key = splitName(name, path);
      const inode = await this.lookup(path);
      const type = typeOfMode(inode.mode);
      if (key.index === 1 && type !== "file" && type !== "directory") {
        throw new InspectError("INSPECT_INVALID", `${path}: user. attributes belong only to regular files and directories (as on Linux), not to a ${type}`, { path });
      }
      if (!this.sb.hasCompat(COMPAT.ext_attr)) throw new InspectError("INSPECT_UNSUPPORTED", `${path}: this ext filesystem has no ext_attr feature (tune2fs -O ext_attr)`, { path });
      const stored: XattrEntry = { ...key, value: isAcl(key.index) ? aclToDisk(value, path) : value.slice() };
      const raw = await this.edit(inode.number);
      const body = this.inodeBodyXattrs(inode);
      const block = await this.xattrBlock(inode);
      const blockEntries = block?.entries ?? [];
      const inBody = findEntry(body, key);
      const inBlock = findEntry(blockEntries, key);
      if (inBody >= 0) body.splice(inBody, 1);
      if (inBlock >= 0) blockEntries.splice(inBlock, 1);
      if (spaceNeeded([...body, stored]) <= this.bodyRoom(raw)) {
        body.push(stored);
        if (inBlock >= 0) await this.storeXattrBlock(inode.number, raw, blockEntries, block);
        this.writeBodyXattrs(raw, body);
      } else {
        blockEntries.push(stored);
        if (XATTR_BLOCK_HEADER + spaceNeeded(blockEntries) > this.blockSize) {
          throw new InspectError("INSPECT_NO_SPACE", `${path}: its attributes would take more than the inode and one ${this.blockSize}-byte attribute block hold`, { path });
        }
        await this.storeXattrBlock(inode.number, raw, blockEntries, block);
        if (inBody >= 0) this.writeBodyXattrs(raw, body);
      }
      raw.setTime("ctime", now());
    });
  }

  async removexattr(path: string, name: string): Promise<void> {
    return this.change(async () => {
      const key = splitName(name, path);
      const inode = await this.lookup(path);
      const raw = await this.edit(inode.number);
      const body = this.inodeBodyXattrs(inode);
      const block = await this.xattrBlock(inode);
      const blockEntries = block?.entries ?? [];
      const inBody = findEntry(body, key);
      const inBlock = findEntry(blockEntries, key);
      if (inBody < 0 && inBlock < 0) throw new InspectError("INSPECT_NOT_FOUND", `${path} has no attribute ${name}`, { path });
      if (inBody >= 0) {
        body.splice(inBody, 1);
        this.writeBodyXattrs(raw, body);
      }
      if (inBlock >= 0) {
        blockEntries.splice(inBlock, 1);
        await this.storeXattrBlock(inode.number, raw, blockEntries, block);
      }
      raw.setTime("ctime", now());
    });
  }
}
