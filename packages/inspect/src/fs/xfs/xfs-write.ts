// Writable XFS: POSIX edits of a clean XFS v4/v5 filesystem straight on its block device — no
// kernel mount, no root. Changed inodes live in memory (reads see them at once); file data goes
// to its blocks as it is written; on flush, directories and attribute forks are laid out whole,
// inodes written, and each changed allocation group's B+trees rebuilt from its in-memory records.
import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { corrupt, readBytes, view } from "../../block/volumes-io.js";
import { typeOfMode } from "../inode-filesystem.js";
import { WriteBackDevice } from "../write-back-device.js";
import type { FilesystemUsage, NodeAttributes, WritableFilesystem, WriteOptions } from "../filesystem.js";
import { buildTree, treeLevels, type TreeShape } from "./btree-build.js";
import { ATTR_ROOT, ATTR_SECURE, ascii, FORMAT_BTREE, FORMAT_DEV, FORMAT_EXTENTS, FORMAT_LOCAL, ftypeOfMode, MAX_EXTENT_BLOCKS, nameKey, NULL_AGINO, packExtent, setCrc, type Extent } from "./format.js";
import { attrBlocks, directoryBlocks, type ForkBlock, type ForkGeometry, sealBlock, shortFormAttrs, shortFormDirectory } from "./forks.js";
import { AllocationGroup, OWN_INODES, RMAP_ATTR, RMAP_BMBT, RMAP_UNWRITTEN, type SpaceGeometry } from "./space.js";
import { attrDisplayName, readSuperblockSector, XfsFilesystem, type DirectoryEntry, type RawAttr, type XfsInode } from "./xfs.js";

const MAX_NAME_BYTES = 255;
/** The longest symlink target (MAXPATHLEN). */
const MAX_SYMLINK_BYTES = 1024;
/** Bytes of a streamed write gathered before blocks are allocated and written. */
const WRITE_BATCH = 4 * 1024 * 1024;
/** Changed inodes kept in memory before an automatic flush (bounds memory whatever the workload). */
const MAX_DIRTY_INODES = 50_000;
/** Unchanged inodes kept parsed (least recently used go first). */
const MAX_CLEAN_CACHED = 4096;
const NULL_FSBLOCK = 0xffffffffffffffffn;
const DIFLAG2_REFLINK = 1n << 1n;
const DIFLAG2_BIGTIME = 1n << 3n;

/** A changed (or cached) inode: its core fields and its forks, parsed. */
interface MemInode {
  number: bigint;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  crtimeNs: bigint;
  rdev: number;
  flags: number;
  flags2: bigint;
  projid: number;
  extsize: number;
  cowextsize: number;
  gen: number;
  changecount: bigint;
  nblocks: number;
  freed: boolean;
  /** The data fork as on disk, kept while unchanged. */
  rawData: { format: number; bytes: Uint8Array; nextents: number };
  dataDirty: boolean;
  /** Regular files and remote symlinks: the block map. */
  extents?: Extent[];
  /** B+tree blocks of the data fork on disk (freed when it is rewritten). */
  dataBtree: number[];
  /** Directories: entries, parent, and the blocks they occupy on disk. */
  dir?: { parent: bigint; entries: Map<string, DirectoryEntry>; onDisk: Extent[] };
  target?: Uint8Array;
  /** The attribute fork as on disk, kept while unchanged. */
  rawAttr: { format: number; bytes: Uint8Array; nextents: number; forkOffset: number };
  attrExtents: Extent[];
  attrBtree: number[];
  attrs?: RawAttr[];
  attrDirty: boolean;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function typedName(name: string, path: string): string {
  if (name === "." || name === ".." || name === "") throw new InspectError("INSPECT_INVALID_NAME", `${path}: '${name}' cannot be created; name a new entry`, { path });
  if (name.includes("\0")) throw new InspectError("INSPECT_INVALID_NAME", `${path}: a name cannot hold a NUL byte`, { path });
  const bytes = new TextEncoder().encode(name);
  if (bytes.length > MAX_NAME_BYTES) throw new InspectError("INSPECT_INVALID_NAME", `${path}: the name is ${bytes.length} bytes; XFS names are at most ${MAX_NAME_BYTES}`, { path });
  return nameKey(bytes);
}

/** The parent path and last name of an absolute path. */
function splitPath(path: string): { parent: string[]; name: string | undefined } {
  if (!path.startsWith("/")) throw new InspectError("INSPECT_NOT_FOUND", `${path} is not an absolute path`, { path });
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return { parent: parts.slice(0, -1), name: parts[parts.length - 1] };
}

function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException("The operation was aborted", "AbortError");
}

/** Opens an XFS filesystem for writing; see xfsDriver. */
export async function openXfsWritable(device: BlockDevice): Promise<WritableFilesystem> {
  if (!device.writable) throw new InspectError("INSPECT_READ_ONLY", "the device is read-only; open an overlay or a writable copy to change this XFS filesystem");
  const first = await readBytes(device, 0, 512, "XFS superblock");
  if (ascii(first, 0, 4) !== "XFSB") throw new InspectError("INSPECT_UNSUPPORTED", "no XFS superblock on this volume");
  const sb = await readSuperblockSector(device, first);
  const blockSize = view(sb).getUint32(4, false);
  if (blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0) throw corrupt(`the XFS superblock claims ${blockSize}-byte blocks`);
  return XfsWriter.openWriter(new WriteBackDevice(device, blockSize), sb);
}

class XfsWriter extends XfsFilesystem implements WritableFilesystem {
  override readonly writable = true as const;
  private readonly mem = new Map<bigint, MemInode>();
  private readonly dirty = new Set<bigint>();
  private readonly groups = new Map<number, AllocationGroup>();
  private readonly metaUuid: Uint8Array;
  private readonly space: SpaceGeometry;
  private readonly forkGeometry: ForkGeometry;
  private readonly features: { finobt: boolean; rmapbt: boolean; reflink: boolean; sparse: boolean; inobtCount: boolean; bigtime: boolean; lazy: boolean; needAttrBit: boolean };
  private readonly inodeAlign: number;
  private readonly chunkBlocks: number;
  /** Blocks of the smallest sparse inode allocation (sb_spino_align). */
  private readonly sparseAlign: number;
  private lsn = 0n;
  /** The write-back buffer every write goes through (this.device). */
  private staging!: WriteBackDevice;
  private queue: Promise<unknown> = Promise.resolve();
  private broken: unknown;

  private constructor(device: BlockDevice, sb: Uint8Array) {
    super(device, sb);
    const dv = view(sb);
    const v5 = this.version === 5;
    const incompat = v5 ? dv.getUint32(216, false) : 0;
    const roCompat = v5 ? dv.getUint32(212, false) : 0;
    const versionNum = dv.getUint16(100, false);
    const features2 = versionNum & 0x8000 ? dv.getUint32(200, false) : 0;
    const refuse: string[] = [];
    if (dv.getBigUint64(16, false) !== 0n || dv.getBigUint64(24, false) !== 0n) refuse.push("a realtime device");
    if (dv.getBigUint64(48, false) === 0n) refuse.push("an external log");
    if (sb[126]) refuse.push("an unfinished mkfs (sb_inprogress)");
    if (v5) {
      const unknownIncompat = incompat & ~(0x1 | 0x2 | 0x4 | 0x8);
      if (incompat & 0x10) refuse.push("the needsrepair flag (run xfs_repair first)");
      if (incompat & 0x20) refuse.push("large extent counts (nrext64)");
      if (unknownIncompat & ~0x30) refuse.push(`incompatible features 0x${(unknownIncompat & ~0x30).toString(16)}`);
      if (roCompat & ~0xf) refuse.push(`read-only-compatible features 0x${(roCompat & ~0xf).toString(16)}`);
      if (dv.getUint32(220, false) !== 0) refuse.push(`log-incompatible features 0x${dv.getUint32(220, false).toString(16)} (mount and unmount it once)`);
    } else {
      if (!(versionNum & 0x20)) refuse.push("version 1 inodes (no NLINK feature)");
      if (!(versionNum & 0x2000)) refuse.push("version 1 directories");
      if (versionNum & 0x4000) refuse.push("ASCII case-insensitive names");
      if (versionNum & 0x200) refuse.push("the shared-filesystem flag");
      if (!(features2 & 0x2)) refuse.push("non-lazy superblock counters (lazy-count=0)");
      if (features2 & ~(0x2 | 0x8 | 0x80 | 0x200)) refuse.push(`features2 0x${(features2 & ~(0x2 | 0x8 | 0x80 | 0x200)).toString(16)}`);
    }
    if (sb[123]! > 6) refuse.push(`more than 64 inodes a block (${2 ** sb[123]!})`);
    if (refuse.length > 0) throw new InspectError("INSPECT_UNSUPPORTED", `leapp does not write XFS filesystems with ${refuse.join(", ")}; change it with the kernel or xfs tools instead`);
    this.features = {
      finobt: (roCompat & 0x1) !== 0,
      rmapbt: (roCompat & 0x2) !== 0,
      reflink: (roCompat & 0x4) !== 0,
      inobtCount: (roCompat & 0x8) !== 0,
      sparse: (incompat & 0x2) !== 0,
      bigtime: (incompat & 0x8) !== 0,
      lazy: v5 || (features2 & 0x2) !== 0,
      // v4: the attribute feature bits are set with the first attribute; our forks use attr2's
      // variable fork offset, so an attr1 filesystem becomes attr2 (as the kernel upgrades it).
      needAttrBit: !v5 && (!(versionNum & 0x10) || !(features2 & 0x8)),
    };
    this.metaUuid = incompat & 0x4 ? sb.slice(248, 264) : sb.slice(32, 48);
    this.chunkBlocks = Math.max(1, (64 * this.inodeSize) / this.blockSize);
    this.inodeAlign = versionNum & 0x80 ? Math.max(1, dv.getUint32(180, false)) : 1;
    this.sparseAlign = Math.max(1, v5 ? dv.getUint32(228, false) : 0);
    this.space = {
      version: this.version,
      blockSize: this.blockSize,
      sectorSize: this.sectorSize,
      agBlocks: this.agBlocks,
      agCount: this.agCount,
      metaUuid: this.metaUuid,
      finobt: this.features.finobt,
      rmapbt: this.features.rmapbt,
      reflink: this.features.reflink,
      sparseInodes: this.features.sparse,
      inobtCount: this.features.inobtCount,
      lazyCounters: this.features.lazy,
      cache: this.cache,
      lsn: () => this.lsn,
      walkShortBtree: (...args) => this.walkShortBtree(...args),
    };
    this.forkGeometry = { version: this.version, ftype: this.ftype, blockSize: this.blockSize, dirBlockSize: this.dirBlockSize, metaUuid: this.metaUuid, lsn: 0n };
  }

  static async openWriter(device: WriteBackDevice, sb: Uint8Array): Promise<XfsWriter> {
    const fs = new XfsWriter(device, sb);
    fs.staging = device;
    const log = await fs.readLogState();
    if (!log) throw new InspectError("INSPECT_UNSUPPORTED", "this XFS filesystem keeps its log on another device; leapp writes only filesystems with an internal log");
    if (!log.clean) throw new InspectError("INSPECT_DIRTY", "this XFS filesystem was not cleanly unmounted: its log needs recovery. Mount it once (or run xfs_repair) before leapp writes to it");
    fs.lsn = log.lastLsn;
    fs.forkGeometry.lsn = log.lastLsn;
    await fs.checkRoot();
    return fs;
  }

  // ---- serialization of calls ----

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.checkOpen();
      if (this.broken) throw new InspectError("INSPECT_CORRUPT", "an earlier write to this XFS filesystem failed midway; close it and check it with xfs_repair", { cause: this.broken });
      const result = await work();
      // Bounded memory whatever the workload: past a number of changed inodes, write them out.
      if (this.dirty.size > MAX_DIRTY_INODES) await this.flushNow();
      return result;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  // ---- inodes in memory ----

  protected override async inode(number: bigint): Promise<XfsInode> {
    const m = this.mem.get(number);
    if (!m) return super.inode(number);
    if (m.freed) throw corrupt(`inode ${number} was freed`);
    const format = m.dir ? (m.dataDirty ? FORMAT_EXTENTS : m.rawData.format) : m.extents ? FORMAT_EXTENTS : m.target ? FORMAT_LOCAL : m.rawData.format;
    return {
      number,
      mode: m.mode,
      format,
      uid: m.uid,
      gid: m.gid,
      size: m.size,
      nlink: m.nlink,
      atimeNs: m.atimeNs,
      mtimeNs: m.mtimeNs,
      ctimeNs: m.ctimeNs,
      rdevMajor: m.rdev >>> 18,
      rdevMinor: m.rdev & 0x3ffff,
      extentCount: m.extents?.length ?? m.rawData.nextents,
      fork: m.rawData.bytes,
      attrFork: m.rawAttr.bytes,
      attrFormat: m.rawAttr.format,
      attrExtentCount: m.rawAttr.nextents,
      raw: new Uint8Array(0),
      memory: {
        ...(m.extents ? { extents: m.extents } : {}),
        ...(m.dir ? { entries: m.dir.entries } : {}),
        ...(m.target ? { target: m.target } : {}),
        ...(m.attrs ? { attrs: new Map(m.attrs.map((a) => [attrDisplayName(a.flags, a.name), a.value])) } : {}),
      },
    };
  }

  /** The inode, parsed for changing (kept in memory). */
  private async load(number: bigint): Promise<MemInode> {
    const cached = this.mem.get(number);
    if (cached) {
      if (cached.freed) throw corrupt(`a directory entry points to freed inode ${number}`);
      // Most recently used last: the clean ones trimmed first are the least recently used.
      this.mem.delete(number);
      this.mem.set(number, cached);
      return cached;
    }
    const d = await super.inode(number);
    const raw = d.raw;
    const dv = view(raw);
    const v5 = this.version === 5;
    const flags2 = v5 ? dv.getBigUint64(120, false) : 0n;
    const type = typeOfMode(d.mode);
    const m: MemInode = {
      number,
      mode: d.mode,
      uid: d.uid,
      gid: d.gid,
      nlink: d.nlink,
      size: d.size,
      atimeNs: d.atimeNs,
      mtimeNs: d.mtimeNs,
      ctimeNs: d.ctimeNs,
      crtimeNs: v5 ? (flags2 & DIFLAG2_BIGTIME ? dv.getBigUint64(144, false) - 2n ** 31n * 1_000_000_000n : BigInt(dv.getInt32(144, false)) * 1_000_000_000n + BigInt(dv.getUint32(148, false))) : 0n,
      rdev: d.format === FORMAT_DEV && raw.length >= this.coreSize + 4 ? dv.getUint32(this.coreSize, false) : 0,
      flags: dv.getUint16(90, false),
      flags2,
      projid: dv.getUint16(20, false) | (dv.getUint16(22, false) << 16),
      extsize: dv.getUint32(72, false),
      cowextsize: v5 ? dv.getUint32(128, false) : 0,
      gen: dv.getUint32(92, false),
      changecount: v5 ? dv.getBigUint64(104, false) : 0n,
      nblocks: Number(dv.getBigUint64(64, false)),
      freed: false,
      rawData: { format: d.format, bytes: d.fork.slice(), nextents: d.extentCount },
      dataDirty: false,
      dataBtree: [],
      rawAttr: { format: d.attrFork.length ? d.attrFormat : FORMAT_EXTENTS, bytes: d.attrFork.slice(), nextents: d.attrExtentCount, forkOffset: raw[82]! },
      attrExtents: [],
      attrBtree: [],
      attrDirty: false,
    };
    if (d.attrFork.length && (d.attrFormat === FORMAT_EXTENTS || d.attrFormat === FORMAT_BTREE)) m.attrExtents = await this.forkExtents(d, true, 2 ** 40, m.attrBtree);
    if (d.format === FORMAT_EXTENTS || d.format === FORMAT_BTREE) {
      const extents = await this.forkExtents(d, false, 2 ** 50, m.dataBtree);
      if (type === "directory") m.dir = { ...(await this.directoryEntries(d)), onDisk: extents };
      else m.extents = extents;
    } else if (type === "directory") {
      if (d.format !== FORMAT_LOCAL) throw corrupt(`directory inode ${number} has data fork format ${d.format}`);
      m.dir = { ...(await this.directoryEntries(d)), onDisk: [] };
    } else if (type === "symlink" && d.format === FORMAT_LOCAL) {
      m.target = d.fork.slice(0, d.size);
    }
    this.mem.set(number, m);
    this.trimCache();
    return m;
  }

  private trimCache(): void {
    if (this.mem.size - this.dirty.size <= MAX_CLEAN_CACHED) return;
    for (const [number] of this.mem) {
      if (this.mem.size - this.dirty.size <= MAX_CLEAN_CACHED / 2) break;
      if (!this.dirty.has(number)) this.mem.delete(number);
    }
  }

  private touch(m: MemInode, change: { ctime?: boolean; mtime?: boolean } = {}): void {
    // Tracked again even if the clean cache let it go while the call held it.
    this.mem.set(m.number, m);
    this.dirty.add(m.number);
    m.changecount++;
    const now = nowNs();
    if (change.ctime !== false) m.ctimeNs = now;
    if (change.mtime) m.mtimeNs = now;
    if (m.dir) this.forgetDirectory(m.number);
  }

  // ---- paths ----

  private async walk(parts: string[], path: string): Promise<MemInode> {
    let current = await this.load(this.rootInode);
    for (const part of parts) {
      if (!current.dir) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `a component of ${path} is not a directory`, { path });
      const entry = current.dir.entries.get(nameKey(new TextEncoder().encode(part)));
      if (!entry) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist in this filesystem`, { path });
      current = await this.load(entry.ino);
    }
    return current;
  }

  private async resolve(path: string): Promise<MemInode> {
    const { parent, name } = splitPath(path);
    return this.walk(name === undefined ? [] : [...parent, name], path);
  }

  /** The directory that holds (or will hold) the last component of `path`, and that name. */
  private async parentOf(path: string): Promise<{ dir: MemInode; key: string }> {
    const { parent, name } = splitPath(path);
    if (name === undefined) throw new InspectError("INSPECT_EXISTS", `${path} is the root directory`, { path });
    const key = typedName(name, path);
    const dir = await this.walk(parent, path);
    if (!dir.dir) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `a component of ${path} is not a directory`, { path });
    return { dir, key };
  }

  // ---- allocation ----

  private async group(agno: number): Promise<AllocationGroup> {
    let ag = this.groups.get(agno);
    if (!ag) {
      ag = await AllocationGroup.load(this.space, agno);
      this.groups.set(agno, ag);
    }
    return ag;
  }

  private agOf(fsBlock: number): { agno: number; agbno: number } {
    return { agno: Math.floor(fsBlock / 2 ** this.agBlockLog), agbno: fsBlock % 2 ** this.agBlockLog };
  }

  private fsBlock(agno: number, agbno: number): number {
    return agno * 2 ** this.agBlockLog + agbno;
  }

  private agOfInode(ino: bigint): number {
    return Number(ino >> BigInt(this.inodesPerBlockLog + this.agBlockLog));
  }

  /** Blocks an AG keeps free for its own B+trees at the next flush, and for new inode chunks. */
  private async reserveFor(agno: number): Promise<number> {
    return (await this.group(agno)).treeGrowth() + this.chunkBlocks * 2;
  }

  /** Blocks the next flush may need for directories, attribute blocks and extent B+trees. */
  private get pendingMetadata(): number {
    return Math.ceil(this.pendingMetadataBytes / this.blockSize) + 2 * Math.ceil(this.dirBlockSize / this.blockSize) + 8;
  }

  private pendingMetadataBytes = 0;

  /**
   * Allocates up to `count` blocks as one extent, preferably at `goal` (to extend a file), else in
   * AG `preferAg`, else anywhere. Data leaves every AG its reserve and the room the next flush
   * needs; metadata may take the reserves when nothing else is left. Undefined when no AG has room.
   */
  private async allocate(count: number, preferAg: number, goal: number | undefined, metadata: boolean): Promise<{ block: number; count: number } | undefined> {
    count = Math.min(count, MAX_EXTENT_BLOCKS);
    for (const strict of metadata ? [true, false] : [true]) {
      const keep = async (agno: number) => (strict ? (await this.reserveFor(agno)) + (metadata ? 0 : this.pendingMetadata) : 0);
      if (goal !== undefined) {
        const { agno, agbno } = this.agOf(goal);
        const ag = await this.group(agno);
        const extent = ag.freeAt(agbno);
        const room = extent ? Math.min(extent.length, ag.freeBlocks - (await keep(agno))) : 0;
        if (room > 0) {
          const take = Math.min(count, room);
          ag.takeFree(agbno, take);
          return { block: goal, count: take };
        }
      }
      for (let i = 0; i < this.agCount; i++) {
        const agno = (preferAg + i) % this.agCount;
        const ag = await this.group(agno);
        const usable = ag.freeBlocks - (await keep(agno));
        if (usable <= 0) continue;
        const extent = ag.bestFit(Math.min(count, usable));
        if (!extent) continue;
        const take = Math.min(count, extent.length, usable);
        const start = extent.start;
        ag.takeFree(start, take);
        return { block: this.fsBlock(agno, start), count: take };
      }
    }
    return undefined;
  }

  /** Exactly `count` blocks (in one or more extents) for metadata, or INSPECT_NO_SPACE. */
  private async allocateMetadata(count: number, preferAg: number, owner: bigint, flags: number, offset = 0): Promise<Array<{ block: number; count: number }>> {
    const out: Array<{ block: number; count: number }> = [];
    let goal: number | undefined;
    for (let left = count; left > 0; ) {
      const got = await this.allocate(left, preferAg, goal, true);
      if (!got) {
        for (const e of out) await this.release(e.block, e.count, owner);
        throw new InspectError("INSPECT_NO_SPACE", "the XFS filesystem is full; free some space and try again");
      }
      const { agno, agbno } = this.agOf(got.block);
      (await this.group(agno)).addRmap({ start: agbno, length: got.count, owner, offset: offset + (count - left), flags });
      out.push(got);
      left -= got.count;
      goal = got.block + got.count;
    }
    return out;
  }

  /** Returns blocks to the free space (shared blocks lose a reference instead). */
  private async release(block: number, count: number, owner: bigint): Promise<void> {
    const { agno, agbno } = this.agOf(block);
    const ag = await this.group(agno);
    ag.removeRmap(agbno, count, owner);
    for (const piece of ag.releaseShared(agbno, count)) ag.addFree(piece.start, piece.length);
  }

  private async recordRmap(m: MemInode, e: Extent, attr = false): Promise<void> {
    const { agno, agbno } = this.agOf(e.block);
    (await this.group(agno)).addRmap({ start: agbno, length: e.count, owner: m.number, offset: e.offset, flags: (attr ? RMAP_ATTR : 0) | (e.unwritten ? RMAP_UNWRITTEN : 0) });
  }

  /** Frees the part of a file's block map at and past file block `from`. */
  private async unmapFrom(m: MemInode, from: number): Promise<void> {
    const kept: Extent[] = [];
    for (const e of m.extents ?? []) {
      if (e.offset + e.count <= from) {
        kept.push(e);
        continue;
      }
      const keep = Math.max(0, from - e.offset);
      if (keep > 0) kept.push({ ...e, count: keep });
      await this.release(e.block + keep, e.count - keep, m.number);
      m.nblocks -= e.count - keep;
    }
    m.extents = kept;
    m.dataDirty = true;
  }

  // ---- inode allocation ----

  private async allocateInode(preferAg: number): Promise<bigint> {
    const inoPerBlockLog = this.inodesPerBlockLog;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < this.agCount; i++) {
        const agno = (preferAg + i) % this.agCount;
        const ag = await this.group(agno);
        let chunk = ag.chunks.find((c) => c.freecount > 0);
        if (!chunk && pass === 1) {
          const piece = this.chunkPlace(ag);
          if (!piece || ag.freeBlocks - piece.blocks < (await this.reserveFor(agno)) - this.chunkBlocks * 2) continue;
          ag.takeFree(piece.start, piece.blocks);
          ag.addRmap({ start: piece.start, length: piece.blocks, owner: OWN_INODES, offset: 0, flags: 0 });
          // A sparse chunk: the inodes outside the allocated blocks are holes (marked free, not counted).
          const first = (piece.start - piece.chunkStart) << inoPerBlockLog;
          const count = piece.blocks << inoPerBlockLog;
          let holemask = 0;
          for (let bit = 0; bit < 16; bit++) if (bit * 4 < first || bit * 4 >= first + count) holemask |= 1 << bit;
          chunk = { start: piece.chunkStart << inoPerBlockLog, holemask, count, freecount: count, free: 0xffffffffffffffffn };
          const at = ag.chunks.findIndex((c) => c.start > chunk!.start);
          ag.chunks.splice(at < 0 ? ag.chunks.length : at, 0, chunk);
          ag.newIno = chunk.start;
          await this.initializeInodes(agno, piece.start, piece.blocks);
        }
        if (!chunk) continue;
        let slot = 0;
        while (slot < 64 && !((chunk.free >> BigInt(slot)) & 1n && !((chunk.holemask >> (slot >> 2)) & 1))) slot++;
        if (slot === 64) throw corrupt(`AG ${agno}'s inode btree counts free inodes in a full chunk`);
        chunk.free &= ~(1n << BigInt(slot));
        chunk.freecount--;
        ag.dirty = true;
        return (BigInt(agno) << BigInt(this.agBlockLog + inoPerBlockLog)) | BigInt(chunk.start + slot);
      }
    }
    throw new InspectError("INSPECT_NO_SPACE", "no free inodes and no room for a new inode chunk in this XFS filesystem; free some space and try again");
  }

  /**
   * Where a new inode chunk goes: a whole, aligned chunk when there is room for one, else (with
   * sparse inodes) an aligned piece of one whose chunk range no record holds yet.
   */
  private chunkPlace(ag: AllocationGroup): { chunkStart: number; start: number; blocks: number } | undefined {
    const whole = ag.alignedRun(this.chunkBlocks, this.inodeAlign);
    if (whole !== undefined) return { chunkStart: whole, start: whole, blocks: this.chunkBlocks };
    if (!this.features.sparse || this.sparseAlign >= this.chunkBlocks) return undefined;
    for (const e of ag.free) {
      for (let start = Math.ceil(e.start / this.sparseAlign) * this.sparseAlign; start + this.sparseAlign <= e.start + e.length; start += this.sparseAlign) {
        const chunkStart = Math.floor(start / this.inodeAlign) * this.inodeAlign;
        const chunkIno = chunkStart << this.inodesPerBlockLog;
        if (chunkStart + this.chunkBlocks > ag.length || ag.chunks.some((c) => c.start === chunkIno)) continue;
        return { chunkStart, start, blocks: this.sparseAlign };
      }
    }
    return undefined;
  }

  /** Writes the free inodes of newly allocated inode blocks, as the kernel does. */
  private async initializeInodes(agno: number, agbno: number, blocks: number): Promise<void> {
    const bytes = new Uint8Array(blocks * this.blockSize);
    const base = BigInt(agno) << BigInt(this.agBlockLog + this.inodesPerBlockLog);
    for (let i = 0; i < blocks << this.inodesPerBlockLog; i++) {
      const at = i * this.inodeSize;
      const inode = bytes.subarray(at, at + this.inodeSize);
      this.writeFreeInode(inode, base | BigInt((agbno << this.inodesPerBlockLog) + i), Math.floor(Math.random() * 2 ** 32));
    }
    await this.cache.write(this.fsBlockOffset(this.fsBlock(agno, agbno)), bytes);
  }

  private writeFreeInode(inode: Uint8Array, number: bigint, gen: number): void {
    inode.fill(0);
    const dv = view(inode);
    dv.setUint16(0, 0x494e, false);
    inode[4] = this.version === 5 ? 3 : 2;
    inode[5] = FORMAT_EXTENTS;
    dv.setUint32(92, gen, false);
    dv.setUint32(96, NULL_AGINO, false);
    if (this.version === 5) {
      dv.setBigUint64(112, this.lsn, false);
      dv.setBigUint64(152, number, false);
      inode.set(this.metaUuid, 160);
      setCrc(inode, 100);
    }
  }

  private async freeInode(m: MemInode): Promise<void> {
    for (const e of m.extents ?? []) await this.release(e.block, e.count, m.number);
    for (const e of m.dir?.onDisk ?? []) await this.release(e.block, e.count, m.number);
    for (const b of m.dataBtree) await this.release(b, 1, m.number);
    for (const e of m.attrExtents) await this.release(e.block, e.count, m.number);
    for (const b of m.attrBtree) await this.release(b, 1, m.number);
    const agno = this.agOfInode(m.number);
    const ag = await this.group(agno);
    const agino = Number(m.number & ((1n << BigInt(this.agBlockLog + this.inodesPerBlockLog)) - 1n));
    const chunk = ag.chunks.find((c) => agino >= c.start && agino < c.start + 64);
    if (!chunk) throw corrupt(`inode ${m.number} is in no inode chunk`);
    chunk.free |= 1n << BigInt(agino - chunk.start);
    chunk.freecount++;
    ag.dirty = true;
    m.freed = true;
    this.mem.set(m.number, m);
    this.dirty.add(m.number);
  }

  private newInode(number: bigint, mode: number, attributes: NodeAttributes): MemInode {
    const now = nowNs();
    return {
      number,
      mode,
      uid: attributes.uid ?? 0,
      gid: attributes.gid ?? 0,
      nlink: 1,
      size: 0,
      atimeNs: attributes.atimeNs ?? now,
      mtimeNs: attributes.mtimeNs ?? now,
      ctimeNs: now,
      crtimeNs: now,
      rdev: 0,
      flags: 0,
      flags2: this.features.bigtime ? DIFLAG2_BIGTIME : 0n,
      projid: 0,
      extsize: 0,
      cowextsize: 0,
      gen: Math.floor(Math.random() * 2 ** 32),
      changecount: 1n,
      nblocks: 0,
      freed: false,
      rawData: { format: FORMAT_EXTENTS, bytes: new Uint8Array(0), nextents: 0 },
      dataDirty: true,
      dataBtree: [],
      rawAttr: { format: FORMAT_EXTENTS, bytes: new Uint8Array(0), nextents: 0, forkOffset: 0 },
      attrExtents: [],
      attrBtree: [],
      attrDirty: false,
    };
  }

  /** Allocates and links a new inode of `mode` at `key` in `dir`. */
  private async create(dir: MemInode, key: string, mode: number, attributes: NodeAttributes, fill: (m: MemInode) => void): Promise<MemInode> {
    const number = await this.allocateInode(this.agOfInode(dir.number));
    const m = this.newInode(number, mode, attributes);
    fill(m);
    this.mem.set(number, m);
    this.dirty.add(number);
    dir.dir!.entries.set(key, { ino: number, ftype: this.ftype ? ftypeOfMode(mode) : 0 });
    dir.dataDirty = true;
    this.pendingMetadataBytes += 32 + key.length + (m.target?.length ?? 0);
    this.touch(dir, { mtime: true });
    return m;
  }

  // ---- file data ----

  private fsBlockOffset(fsBlock: number): number {
    return this.linearBlock(fsBlock, "a block being written") * this.blockSize;
  }

  /**
   * Writes `content` to newly allocated blocks and returns their map; on failure or abort frees
   * them again. Blocks are taken near `preferAg`, extending each extent where it can.
   */
  private async writeData(preferAg: number, content: Uint8Array | AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): Promise<{ extents: Extent[]; size: number }> {
    const extents: Extent[] = [];
    let size = 0;
    const put = async (data: Uint8Array) => {
      let at = 0;
      while (at < data.length) {
        if (signal?.aborted) throw abortReason(signal);
        const blocks = Math.ceil((data.length - at) / this.blockSize);
        const last = extents[extents.length - 1];
        const got = await this.allocate(blocks, preferAg, last ? last.block + last.count : undefined, false);
        if (!got) throw new InspectError("INSPECT_NO_SPACE", "the XFS filesystem is full; free some space and try again");
        const fileBlock = Math.ceil(size / this.blockSize);
        if (last && last.block + last.count === got.block && last.count + got.count <= MAX_EXTENT_BLOCKS) last.count += got.count;
        else extents.push({ offset: fileBlock, block: got.block, count: got.count, unwritten: false });
        const bytes = Math.min(got.count * this.blockSize, data.length - at);
        let piece = data.subarray(at, at + bytes);
        if (bytes % this.blockSize) {
          // The last block is written whole: the bytes past the end of the file must read as zeros.
          const padded = new Uint8Array(Math.ceil(bytes / this.blockSize) * this.blockSize);
          padded.set(piece);
          piece = padded;
        }
        await this.cache.write(this.fsBlockOffset(got.block), piece);
        at += bytes;
        size += bytes;
      }
    };
    try {
      if (content instanceof Uint8Array) await put(content);
      else {
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        for await (const chunk of content) {
          if (signal?.aborted) throw abortReason(signal);
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= WRITE_BATCH) {
            const whole = Math.floor(pendingBytes / this.blockSize) * this.blockSize;
            const joined = Buffer.concat(pending);
            await put(joined.subarray(0, whole));
            pending = [joined.subarray(whole)];
            pendingBytes -= whole;
          }
        }
        if (signal?.aborted) throw abortReason(signal);
        await put(Buffer.concat(pending));
      }
    } catch (err) {
      for (const e of extents) {
        const { agno, agbno } = this.agOf(e.block);
        (await this.group(agno)).addFree(agbno, e.count);
      }
      throw err;
    }
    return { extents, size };
  }

  // ---- the WritableFilesystem calls ----

  writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes: NodeAttributes = {}, options: WriteOptions = {}): Promise<void> {
    return this.exclusive(async () => {
      const { dir, key } = await this.parentOf(path);
      if (options.signal?.aborted) throw abortReason(options.signal);
      const existing = dir.dir!.entries.get(key);
      let target: MemInode | undefined;
      if (existing) {
        target = await this.load(existing.ino);
        if (target.dir) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
        if (typeOfMode(target.mode) !== "file") throw new InspectError("INSPECT_EXISTS", `${path} exists and is not a regular file`, { path });
      }
      const preferAg = existing ? this.agOfInode(existing.ino) : this.agOfInode(dir.number);
      // Data first, into new blocks: a failed or aborted write leaves the old file (or none) behind.
      const written = await this.writeData(preferAg, content, options.signal);
      let m = target;
      try {
        if (!m) m = await this.create(dir, key, 0o100000 | ((attributes.mode ?? 0o644) & 0o7777), attributes, () => {});
      } catch (err) {
        for (const e of written.extents) {
          const { agno, agbno } = this.agOf(e.block);
          (await this.group(agno)).addFree(agbno, e.count);
        }
        throw err;
      }
      if (target) {
        await this.unmapFrom(target, 0);
        target.flags2 &= ~DIFLAG2_REFLINK;
        if (attributes.mode !== undefined) target.mode = (target.mode & 0o170000) | (attributes.mode & 0o7777);
        if (attributes.uid !== undefined) target.uid = attributes.uid;
        if (attributes.gid !== undefined) target.gid = attributes.gid;
        if (attributes.atimeNs !== undefined) target.atimeNs = attributes.atimeNs;
      }
      m.extents = written.extents;
      m.size = written.size;
      m.nblocks += written.extents.reduce((n, e) => n + e.count, 0);
      m.dataDirty = true;
      for (const e of written.extents) await this.recordRmap(m, e);
      this.touch(m, { mtime: true });
      if (attributes.mtimeNs !== undefined) m.mtimeNs = attributes.mtimeNs;
    });
  }

  truncate(path: string, size: number): Promise<void> {
    return this.exclusive(async () => {
      if (!Number.isSafeInteger(size) || size < 0) throw new InspectError("INSPECT_INVALID", `${path}: ${size} is not a file size`, { path });
      const m = await this.resolve(path);
      if (m.dir) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
      if (typeOfMode(m.mode) !== "file") throw new InspectError("INSPECT_INVALID", `${path} is not a regular file`, { path });
      if (!m.extents) m.extents = [];
      const keepBlocks = Math.ceil(Math.min(size, m.size) / this.blockSize);
      await this.unmapFrom(m, keepBlocks);
      const tail = Math.min(size, m.size) % this.blockSize;
      if (tail > 0) {
        // The bytes past the new end of the last block must read as zeros if the file grows again.
        const last = m.extents.find((e) => e.offset <= keepBlocks - 1 && e.offset + e.count > keepBlocks - 1);
        if (last && !last.unwritten) {
          const block = last.block + (keepBlocks - 1 - last.offset);
          const { agno, agbno } = this.agOf(block);
          const bytes = await readBytes(this.device, this.fsBlockOffset(block), this.blockSize, `data of ${path}`);
          bytes.fill(0, tail);
          if ((await this.group(agno)).isShared(agbno, 1)) {
            // Shared with another file (reflink): copy on write, so the other file keeps its bytes.
            const copy = await this.allocate(1, agno, undefined, false);
            if (!copy) throw new InspectError("INSPECT_NO_SPACE", "the XFS filesystem is full; free some space and try again", { path });
            await this.cache.write(this.fsBlockOffset(copy.block), bytes);
            last.count--;
            if (last.count === 0) m.extents.splice(m.extents.indexOf(last), 1);
            const moved: Extent = { offset: keepBlocks - 1, block: copy.block, count: 1, unwritten: false };
            m.extents.push(moved);
            await this.release(block, 1, m.number);
            await this.recordRmap(m, moved);
          } else {
            await this.cache.write(this.fsBlockOffset(block), bytes);
          }
        }
      }
      m.size = size;
      this.touch(m, { mtime: true });
    });
  }

  mkdir(path: string, attributes: NodeAttributes = {}): Promise<void> {
    return this.exclusive(async () => {
      const { dir, key } = await this.parentOf(path);
      if (dir.dir!.entries.has(key)) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      await this.create(dir, key, 0o040000 | ((attributes.mode ?? 0o755) & 0o7777), attributes, (m) => {
        m.nlink = 2;
        m.dir = { parent: dir.number, entries: new Map(), onDisk: [] };
        m.rawData.format = FORMAT_LOCAL;
      });
      dir.nlink++;
    });
  }

  rmdir(path: string): Promise<void> {
    return this.exclusive(async () => {
      const { dir, key } = await this.parentOf(path);
      const entry = dir.dir!.entries.get(key);
      if (!entry) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
      const m = await this.load(entry.ino);
      if (!m.dir) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, { path });
      if (m.dir.entries.size > 0) throw new InspectError("INSPECT_NOT_EMPTY", `${path} is not empty`, { path });
      dir.dir!.entries.delete(key);
      dir.dataDirty = true;
      dir.nlink--;
      this.touch(dir, { mtime: true });
      await this.freeInode(m);
    });
  }

  unlink(path: string): Promise<void> {
    return this.exclusive(async () => {
      const { dir, key } = await this.parentOf(path);
      const entry = dir.dir!.entries.get(key);
      if (!entry) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
      const m = await this.load(entry.ino);
      if (m.dir) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory; use rmdir`, { path });
      dir.dir!.entries.delete(key);
      dir.dataDirty = true;
      this.touch(dir, { mtime: true });
      await this.dropLink(m);
    });
  }

  private async dropLink(m: MemInode): Promise<void> {
    m.nlink--;
    this.touch(m);
    if (m.nlink === 0) await this.freeInode(m);
  }

  symlink(target: string, path: string, attributes: NodeAttributes = {}): Promise<void> {
    return this.exclusive(async () => {
      const bytes = new TextEncoder().encode(target);
      if (bytes.length === 0 || bytes.length > MAX_SYMLINK_BYTES || target.includes("\0")) {
        throw new InspectError("INSPECT_INVALID", `${path}: a symlink target must be 1 to ${MAX_SYMLINK_BYTES} bytes without NUL`, { path });
      }
      const { dir, key } = await this.parentOf(path);
      if (dir.dir!.entries.has(key)) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      await this.create(dir, key, 0o120000 | ((attributes.mode ?? 0o777) & 0o7777), attributes, (m) => {
        m.target = bytes;
        m.size = bytes.length;
      });
    });
  }

  link(existing: string, path: string): Promise<void> {
    return this.exclusive(async () => {
      const m = await this.resolve(existing);
      if (m.dir) throw new InspectError("INSPECT_INVALID", `${existing} is a directory; directories cannot be hard-linked`, { path: existing });
      const { dir, key } = await this.parentOf(path);
      if (dir.dir!.entries.has(key)) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      dir.dir!.entries.set(key, { ino: m.number, ftype: this.ftype ? ftypeOfMode(m.mode) : 0 });
      dir.dataDirty = true;
      this.pendingMetadataBytes += 32 + key.length;
      this.touch(dir, { mtime: true });
      m.nlink++;
      this.touch(m);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.exclusive(async () => {
      const source = await this.parentOf(from);
      const entry = source.dir.dir!.entries.get(source.key);
      if (!entry) throw new InspectError("INSPECT_NOT_FOUND", `${from} does not exist`, { path: from });
      const m = await this.load(entry.ino);
      const target = await this.parentOf(to);
      if (m.dir) {
        // A directory cannot move below itself: walk up from the target's directory.
        for (let at: MemInode | undefined = target.dir; at; at = at.number === this.rootInode ? undefined : await this.load(at.dir!.parent)) {
          if (at.number === m.number) throw new InspectError("INSPECT_INVALID", `${from} cannot move into itself (${to})`, { path: to });
        }
      }
      const replaced = target.dir.dir!.entries.get(target.key);
      if (replaced?.ino === m.number) return;
      if (replaced) {
        const old = await this.load(replaced.ino);
        if (m.dir && !old.dir) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${to} is not a directory`, { path: to });
        if (!m.dir && old.dir) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${to} is a directory`, { path: to });
        if (old.dir && old.dir.entries.size > 0) throw new InspectError("INSPECT_NOT_EMPTY", `${to} is not empty`, { path: to });
        if (old.dir) {
          target.dir.nlink--;
          await this.freeInode(old);
        } else await this.dropLink(old);
      }
      source.dir.dir!.entries.delete(source.key);
      source.dir.dataDirty = true;
      this.touch(source.dir, { mtime: true });
      target.dir.dir!.entries.set(target.key, { ino: m.number, ftype: entry.ftype });
      this.pendingMetadataBytes += 32 + target.key.length;
      target.dir.dataDirty = true;
      this.touch(target.dir, { mtime: true });
      if (m.dir && source.dir.number !== target.dir.number) {
        m.dir.parent = target.dir.number;
        m.dataDirty = true;
        source.dir.nlink--;
        target.dir.nlink++;
      }
      this.touch(m);
    });
  }

  mknod(path: string, type: "chardev" | "blockdev" | "fifo" | "socket", attributes: NodeAttributes & { rdevMajor?: number; rdevMinor?: number } = {}): Promise<void> {
    return this.exclusive(async () => {
      const major = attributes.rdevMajor ?? 0;
      const minor = attributes.rdevMinor ?? 0;
      if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0 || major >= 2 ** 14 || minor >= 2 ** 18) {
        throw new InspectError("INSPECT_INVALID", `${path}: device ${major}:${minor} does not fit XFS's 14-bit major and 18-bit minor numbers`, { path });
      }
      const { dir, key } = await this.parentOf(path);
      if (dir.dir!.entries.has(key)) throw new InspectError("INSPECT_EXISTS", `${path} already exists`, { path });
      const kind = { chardev: 0o020000, blockdev: 0o060000, fifo: 0o010000, socket: 0o140000 }[type];
      await this.create(dir, key, kind | ((attributes.mode ?? 0o644) & 0o7777), attributes, (m) => {
        m.rdev = type === "chardev" || type === "blockdev" ? (major << 18) | minor : 0;
        m.rawData.format = FORMAT_DEV;
      });
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.exclusive(async () => {
      const m = await this.resolve(path);
      m.mode = (m.mode & 0o170000) | (mode & 0o7777);
      this.touch(m);
    });
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.exclusive(async () => {
      if (![uid, gid].every((id) => Number.isInteger(id) && id >= 0 && id < 2 ** 32)) throw new InspectError("INSPECT_INVALID", `${path}: owner ${uid}:${gid} is not a pair of 32-bit ids`, { path });
      const m = await this.resolve(path);
      m.uid = uid;
      m.gid = gid;
      this.touch(m);
    });
  }

  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    return this.exclusive(async () => {
      const m = await this.resolve(path);
      const limit = this.features.bigtime ? 2n ** 63n : 2n ** 31n * 1_000_000_000n;
      if ([atimeNs, mtimeNs].some((t) => t < -(2n ** 31n) * 1_000_000_000n || t >= limit)) throw new InspectError("INSPECT_INVALID", `${path}: a time outside what this XFS filesystem stores`, { path });
      m.atimeNs = atimeNs;
      m.mtimeNs = mtimeNs;
      this.touch(m);
    });
  }

  private attrName(name: string, path: string): { flags: number; name: Uint8Array } {
    const dot = name.indexOf(".");
    const prefix = dot < 0 ? "" : name.slice(0, dot);
    const flags = prefix === "user" ? 0 : prefix === "trusted" ? ATTR_ROOT : prefix === "security" ? ATTR_SECURE : -1;
    const bytes = new TextEncoder().encode(name.slice(dot + 1));
    if (flags < 0) throw new InspectError("INSPECT_UNSUPPORTED", `${path}: attribute ${name} is not in the user., trusted. or security. namespace`, { path });
    if (bytes.length === 0 || bytes.length > 255) throw new InspectError("INSPECT_INVALID_NAME", `${path}: attribute names are 1 to 255 bytes`, { path });
    return { flags, name: bytes };
  }

  private async attrsOf(m: MemInode): Promise<RawAttr[]> {
    if (!m.attrs) {
      const d = await super.inode(m.number);
      m.attrs = m.rawAttr.bytes.length ? await this.rawAttrs({ ...d, attrFork: m.rawAttr.bytes, attrFormat: m.rawAttr.format, attrExtentCount: m.rawAttr.nextents }) : [];
    }
    return m.attrs;
  }

  setxattr(path: string, name: string, value: Uint8Array): Promise<void> {
    return this.exclusive(async () => {
      const m = await this.resolve(path);
      const key = this.attrName(name, path);
      const type = typeOfMode(m.mode);
      if (key.flags === 0 && type !== "file" && type !== "directory") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is a ${type}: user.* attributes belong to regular files and directories only (xattr(7))`, { path });
      if (value.length > 65536) throw new InspectError("INSPECT_TOO_LARGE", `${path}: attribute values are at most 64 KiB`, { path });
      const attrs = await this.attrsOf(m);
      const same = (a: RawAttr) => (a.flags & (ATTR_ROOT | ATTR_SECURE)) === key.flags && Buffer.from(a.name).equals(key.name);
      const next = [...attrs.filter((a) => !same(a)), { flags: key.flags, name: key.name, value: value.slice() }];
      if (!shortFormAttrs(next) && !attrBlocks(this.forkGeometry, m.number, next)) {
        throw new InspectError("INSPECT_UNSUPPORTED", `${path}: its attributes would need a two-level attribute B+tree; leapp writes short-form, leaf and one-level node attribute forks`, { path });
      }
      m.attrs = next;
      m.attrDirty = true;
      this.pendingMetadataBytes += 64 + key.name.length + value.length;
      this.touch(m);
    });
  }

  removexattr(path: string, name: string): Promise<void> {
    return this.exclusive(async () => {
      const m = await this.resolve(path);
      const key = this.attrName(name, path);
      const attrs = await this.attrsOf(m);
      const next = attrs.filter((a) => !((a.flags & (ATTR_ROOT | ATTR_SECURE)) === key.flags && Buffer.from(a.name).equals(key.name)));
      if (next.length === attrs.length) throw new InspectError("INSPECT_NOT_FOUND", `${path} has no attribute ${name}`, { path });
      m.attrs = next;
      m.attrDirty = true;
      this.touch(m);
    });
  }

  usage(): Promise<FilesystemUsage> {
    return this.exclusive(async () => {
      let free = 0;
      let reserve = 0;
      let totalInodes = 0;
      let freeInodes = 0;
      for (let agno = 0; agno < this.agCount; agno++) {
        const ag = await this.group(agno);
        free += ag.freeBlocks;
        reserve += await this.reserveFor(agno);
        totalInodes += ag.chunks.reduce((n, c) => n + c.count, 0);
        freeInodes += ag.chunks.reduce((n, c) => n + c.freecount, 0);
      }
      const freeBlocks = Math.max(0, free - reserve);
      return { blockSize: this.blockSize, totalBlocks: Number(view(this.sb).getBigUint64(8, false)), freeBlocks, totalInodes: totalInodes + Math.floor((freeBlocks / this.chunkBlocks) * 64), freeInodes: freeInodes + Math.floor((freeBlocks / this.chunkBlocks) * 64) };
    });
  }

  flush(): Promise<void> {
    return this.exclusive(() => this.flushNow());
  }

  override async close(): Promise<void> {
    if (!this.broken) await this.flush().catch((err) => {
      if (!(err instanceof InspectError && err.code === "INSPECT_CLOSED")) throw err;
    });
    await this.staging.close();
    await super.close();
    this.mem.clear();
    this.groups.clear();
  }

  // ---- flush ----

  private async flushNow(): Promise<void> {
    try {
      // File data first, so no inode written below points to blocks still in memory.
      await this.staging.flush();
      // Inodes first (they allocate directory, attribute and B+tree blocks), then each changed AG.
      for (const number of [...this.dirty]) {
        const m = this.mem.get(number)!;
        await this.writeInode(m);
      }
      for (const number of this.dirty) {
        const m = this.mem.get(number)!;
        if (m.freed) this.mem.delete(number);
      }
      this.dirty.clear();
      this.pendingMetadataBytes = 0;
      const totals = { freeBlocks: 0, icount: 0, ifree: 0 };
      const changedAgs = [...this.groups.values()].filter((ag) => ag.dirty);
      if (changedAgs.length === 0) {
        await this.staging.flush();
        return;
      }
      for (let agno = 0; agno < this.agCount; agno++) {
        const ag = await this.group(agno);
        const c = ag.dirty ? await ag.rebuild() : ag.counters();
        totals.freeBlocks += c.freeBlocks + c.flcount + c.btreeBlocks;
        totals.icount += c.icount;
        totals.ifree += c.ifree;
      }
      await this.writeSuperblock(totals);
      await this.staging.flush();
    } catch (err) {
      if (!(err instanceof InspectError && err.code === "INSPECT_NO_SPACE")) this.broken = err;
      throw err;
    }
  }

  private async writeSuperblock(totals: { freeBlocks: number; icount: number; ifree: number }): Promise<void> {
    const sb = this.sb;
    const dv = view(sb);
    dv.setBigUint64(128, BigInt(totals.icount), false);
    dv.setBigUint64(136, BigInt(totals.ifree), false);
    dv.setBigUint64(144, BigInt(totals.freeBlocks), false);
    // Quota usage is not kept up to date: the kernel recounts it at the next quota mount.
    dv.setUint16(176, dv.getUint16(176, false) & ~(0x0004 | 0x0020 | 0x0100 | 0x0400), false);
    if (this.features.needAttrBit && this.usesAttrs) {
      const addAttr2 = (bytes: Uint8Array) => {
        const v = view(bytes);
        v.setUint16(100, v.getUint16(100, false) | 0x10 | 0x8000, false);
        const features2 = v.getUint32(200, false) | 0x8;
        v.setUint32(200, features2, false);
        v.setUint32(204, features2, false); // bad_features2 mirrors it
      };
      addAttr2(sb);
      // Secondary superblocks carry the feature bits too.
      for (let agno = 1; agno < this.agCount; agno++) {
        const at = agno * this.agBlocks * this.blockSize;
        const secondary = (await this.cache.bytes(at, this.sectorSize, "XFS superblock")).slice();
        addAttr2(secondary);
        await this.cache.write(at, secondary);
      }
      this.features.needAttrBit = false;
    }
    if (this.version === 5) {
      dv.setBigUint64(240, this.lsn, false);
      setCrc(sb, 224);
    }
    await this.cache.write(0, sb);
  }

  private usesAttrs = false;

  /** Writes one changed inode: lays out its forks (allocating their blocks) and its core. */
  private async writeInode(m: MemInode): Promise<void> {
    const offset = this.inodeOffset(m.number);
    if (m.freed) {
      const bytes = new Uint8Array(this.inodeSize);
      this.writeFreeInode(bytes, m.number, (m.gen + 1) >>> 0);
      await this.cache.write(offset, bytes);
      return;
    }
    const literal = this.inodeSize - this.coreSize;
    const preferAg = this.agOfInode(m.number);
    const type = typeOfMode(m.mode);
    const isDevice = type === "chardev" || type === "blockdev" || type === "fifo" || type === "socket";
    // A device keeps its number in 8 bytes; any other data fork needs room for at least a B+tree root.
    const minimalData = isDevice ? 8 : 24;
    if (!m.attrDirty && m.rawAttr.forkOffset && !isDevice && m.rawAttr.forkOffset * 8 < minimalData) {
      await this.attrsOf(m);
      m.attrDirty = true;
    }

    // The attribute fork: as it was, short-form, or a leaf block (with remote values).
    let attr: { format: number; bytes: Uint8Array; nextents: number } | undefined;
    let attrNeed = 0;
    if (m.attrDirty) {
      for (const e of m.attrExtents) await this.release(e.block, e.count, m.number);
      for (const b of m.attrBtree) await this.release(b, 1, m.number);
      m.nblocks -= m.attrExtents.reduce((n, e) => n + e.count, 0) + m.attrBtree.length;
      m.attrExtents = [];
      m.attrBtree = [];
      const attrs = m.attrs ?? [];
      if (attrs.length > 0) {
        this.usesAttrs = true;
        const sf = shortFormAttrs(attrs);
        if (sf && sf.length <= literal - minimalData) {
          attr = { format: FORMAT_LOCAL, bytes: sf, nextents: 0 };
          attrNeed = sf.length;
        } else {
          const blocks = attrBlocks(this.forkGeometry, m.number, attrs);
          if (!blocks) throw new InspectError("INSPECT_UNSUPPORTED", `inode ${m.number}'s attributes would need a two-level attribute B+tree; leapp writes short-form, leaf and one-level node attribute forks`);
          const extents = await this.placeBlocks(m, blocks, preferAg, true);
          m.attrExtents = extents;
          m.nblocks += extents.reduce((n, e) => n + e.count, 0);
          if (extents.length * 16 > literal - minimalData) throw new InspectError("INSPECT_NO_SPACE", `inode ${m.number}'s attribute blocks are too fragmented to map; free some space and try again`);
          const bytes = new Uint8Array(extents.length * 16);
          extents.forEach((e, i) => packExtent(view(bytes), i * 16, e));
          attr = { format: FORMAT_EXTENTS, bytes, nextents: extents.length };
          attrNeed = bytes.length;
        }
      }
      m.attrDirty = false;
    } else if (m.rawAttr.forkOffset) {
      attr = { format: m.rawAttr.format, bytes: m.rawAttr.bytes, nextents: m.rawAttr.nextents };
      attrNeed = literal - m.rawAttr.forkOffset * 8;
    }
    const forkOffset = !attr ? 0 : isDevice ? 1 : Math.floor((literal - attrNeed) / 8);
    const dataSpace = attr ? forkOffset * 8 : literal;
    if (attr && attr.bytes.length > literal - dataSpace) throw corrupt(`inode ${m.number}'s attribute fork does not fit beside its data`);
    const rawUsed = m.rawData.format === FORMAT_EXTENTS ? m.rawData.nextents * 16 : m.rawData.format === FORMAT_LOCAL ? m.size : m.rawData.format === FORMAT_DEV ? 4 : m.rawData.bytes.length;
    const keepData = !m.dataDirty && (m.rawData.format === FORMAT_BTREE ? m.rawData.bytes.length === dataSpace : rawUsed <= dataSpace) && !(isDevice && m.rawData.format !== FORMAT_DEV);

    // The data fork.
    let data: { format: number; bytes: Uint8Array; nextents: number };
    if (keepData) {
      data = { format: m.rawData.format, bytes: m.rawData.bytes.subarray(0, Math.min(rawUsed, dataSpace)), nextents: m.rawData.nextents };
    } else if (isDevice) {
      const bytes = new Uint8Array(4);
      view(bytes).setUint32(0, m.rdev, false);
      data = { format: FORMAT_DEV, bytes, nextents: 0 };
    } else if (m.dir) {
      for (const e of m.dir.onDisk) await this.release(e.block, e.count, m.number);
      m.nblocks -= m.dir.onDisk.reduce((n, e) => n + e.count, 0);
      m.dir.onDisk = [];
      await this.releaseDataBtree(m);
      const sf = shortFormDirectory(this.forkGeometry, m.dir.parent, m.dir.entries);
      if (sf && sf.length <= dataSpace) {
        data = { format: FORMAT_LOCAL, bytes: sf, nextents: 0 };
        m.size = sf.length;
      } else {
        const laid = directoryBlocks(this.forkGeometry, m.number, m.dir.parent, m.dir.entries);
        const extents = await this.placeBlocks(m, laid.blocks, preferAg, false);
        m.dir.onDisk = extents;
        m.nblocks += extents.reduce((n, e) => n + e.count, 0);
        m.size = laid.size;
        data = await this.extentFork(m, extents, dataSpace);
      }
    } else if (type === "symlink" && m.target) {
      await this.releaseDataBtree(m);
      if (m.target.length <= dataSpace) {
        data = { format: FORMAT_LOCAL, bytes: m.target, nextents: 0 };
      } else {
        const blocks = this.symlinkBlocks(m);
        const extents = await this.placeBlocks(m, blocks, preferAg, false);
        m.nblocks += extents.reduce((n, e) => n + e.count, 0);
        m.extents = extents;
        m.target = undefined;
        data = await this.extentFork(m, extents, dataSpace);
      }
    } else {
      await this.releaseDataBtree(m);
      data = await this.extentFork(m, m.extents ?? [], dataSpace);
    }
    m.dataDirty = false;
    m.rawData = { format: data.format, bytes: data.bytes, nextents: data.nextents };
    m.rawAttr = attr ? { ...attr, forkOffset } : { format: FORMAT_EXTENTS, bytes: new Uint8Array(0), nextents: 0, forkOffset: 0 };
    await this.cache.write(offset, this.encodeInode(m, data, attr, forkOffset));
  }

  private async releaseDataBtree(m: MemInode): Promise<void> {
    for (const b of m.dataBtree) await this.release(b, 1, m.number);
    m.nblocks -= m.dataBtree.length;
    m.dataBtree = [];
  }

  /** The blocks of a remote symlink (v5 blocks start with an XSLM header). */
  private symlinkBlocks(m: MemInode): ForkBlock[] {
    const target = m.target!;
    const header = this.version === 5 ? 56 : 0;
    const per = this.blockSize - header;
    const out: ForkBlock[] = [];
    for (let at = 0, i = 0; at < target.length; at += per, i++) {
      const bytes = new Uint8Array(this.blockSize);
      const take = Math.min(per, target.length - at);
      bytes.set(target.subarray(at, at + take), header);
      if (header) {
        const dv = view(bytes);
        bytes.set([0x58, 0x53, 0x4c, 0x4d], 0);
        dv.setUint32(4, at, false);
        dv.setUint32(8, take, false);
        bytes.set(this.metaUuid, 16);
        dv.setBigUint64(32, m.number, false);
        dv.setBigUint64(48, this.lsn, false);
        out.push({ offset: i, bytes, blknoAt: 40, crcAt: 12 });
      } else out.push({ offset: i, bytes });
    }
    return out;
  }

  /** Allocates blocks for laid-out fork blocks, seals and writes them; returns the fork's extents. */
  private async placeBlocks(m: MemInode, blocks: ForkBlock[], preferAg: number, attr: boolean): Promise<Extent[]> {
    const extents: Extent[] = [];
    const sorted = [...blocks].sort((a, b) => a.offset - b.offset);
    for (const block of sorted) {
      const fsBlocks = block.bytes.length / this.blockSize;
      let placed = 0;
      while (placed < fsBlocks) {
        const last = extents[extents.length - 1];
        const goal = last && last.offset + last.count === block.offset + placed ? last.block + last.count : undefined;
        const got = await this.allocate(fsBlocks - placed, preferAg, goal, true);
        if (!got) throw new InspectError("INSPECT_NO_SPACE", "the XFS filesystem is full; free some space and try again");
        if (last && goal !== undefined && got.block === goal) last.count += got.count;
        else extents.push({ offset: block.offset + placed, block: got.block, count: got.count, unwritten: false });
        if (placed === 0) sealBlock(block, this.linearBlock(got.block, "a new block") * (this.blockSize / 512));
        placed += got.count;
      }
    }
    // Write each block where its extents put it (sealing needed the first block's address first).
    for (const block of sorted) {
      const fsBlocks = block.bytes.length / this.blockSize;
      for (let i = 0; i < fsBlocks; i++) {
        const e = extents.find((x) => block.offset + i >= x.offset && block.offset + i < x.offset + x.count)!;
        await this.cache.write(this.fsBlockOffset(e.block + (block.offset + i - e.offset)), block.bytes.subarray(i * this.blockSize, (i + 1) * this.blockSize));
      }
    }
    for (const e of extents) await this.recordRmap(m, e, attr);
    return extents;
  }

  /** A data fork over `extents`: the list itself when it fits, else a B+tree rooted in the inode. */
  private async extentFork(m: MemInode, extents: Extent[], space: number): Promise<{ format: number; bytes: Uint8Array; nextents: number }> {
    if (extents.length * 16 <= space) {
      const bytes = new Uint8Array(extents.length * 16);
      extents.forEach((e, i) => packExtent(view(bytes), i * 16, e));
      return { format: FORMAT_EXTENTS, bytes, nextents: extents.length };
    }
    const v5 = this.version === 5;
    const header = v5 ? 72 : 24;
    const rootMax = Math.floor((space - 4) / 16);
    const leafMax = Math.floor((this.blockSize - header) / 16);
    const nodeMax = Math.floor((this.blockSize - header) / 16);
    const count = treeLevels(extents.length, leafMax, nodeMax, rootMax).reduce((a, b) => a + b, 0);
    const placed = await this.allocateMetadata(count, this.agOfInode(m.number), m.number, RMAP_BMBT);
    const addresses: number[] = [];
    for (const p of placed) for (let i = 0; i < p.count; i++) addresses.push(p.block + i);
    m.dataBtree = addresses;
    m.nblocks += addresses.length;
    const shape: TreeShape = {
      blockSize: this.blockSize,
      headerSize: header,
      recordSize: 16,
      keySize: 8,
      pointerSize: 8,
      writeHeader: (block, level, n, left, right, at) => {
        const dv = view(block);
        block.set(v5 ? [0x42, 0x4d, 0x41, 0x33] : [0x42, 0x4d, 0x41, 0x50], 0);
        dv.setUint16(4, level, false);
        dv.setUint16(6, n, false);
        dv.setBigUint64(8, left === undefined ? NULL_FSBLOCK : BigInt(left), false);
        dv.setBigUint64(16, right === undefined ? NULL_FSBLOCK : BigInt(right), false);
        if (v5) {
          dv.setBigUint64(24, BigInt(this.linearBlock(at, "a new block") * (this.blockSize / 512)), false);
          dv.setBigUint64(32, this.lsn, false);
          block.set(this.metaUuid, 40);
          dv.setBigUint64(56, m.number, false);
        }
      },
      lowKey: (record) => {
        const key = new Uint8Array(8);
        view(key).setBigUint64(0, (view(record).getBigUint64(0, false) & 0x7fffffffffffffffn) >> 9n, false);
        return key;
      },
    };
    const records = extents.map((e) => {
      const r = new Uint8Array(16);
      packExtent(view(r), 0, e);
      return r;
    });
    const built = buildTree(shape, records, addresses, rootMax);
    for (const block of built.blocks) {
      if (v5) setCrc(block.bytes, 64);
      await this.cache.write(this.fsBlockOffset(block.at), block.bytes);
    }
    const root = new Uint8Array(space);
    const rv = view(root);
    rv.setUint16(0, built.levels, false);
    rv.setUint16(2, built.rootEntries.length, false);
    built.rootEntries.forEach((child, i) => {
      root.set(child.low, 4 + i * 8);
      rv.setBigUint64(4 + rootMax * 8 + i * 8, BigInt(child.pointer), false);
    });
    return { format: FORMAT_BTREE, bytes: root, nextents: extents.length };
  }

  private encodeInode(m: MemInode, data: { format: number; bytes: Uint8Array; nextents: number }, attr: { format: number; bytes: Uint8Array; nextents: number } | undefined, forkOffset: number): Uint8Array {
    const out = new Uint8Array(this.inodeSize);
    const dv = view(out);
    const v5 = this.version === 5;
    dv.setUint16(0, 0x494e, false);
    dv.setUint16(2, m.mode, false);
    out[4] = v5 ? 3 : 2;
    out[5] = data.format;
    dv.setUint32(8, m.uid, false);
    dv.setUint32(12, m.gid, false);
    dv.setUint32(16, m.nlink, false);
    dv.setUint16(20, m.projid & 0xffff, false);
    dv.setUint16(22, m.projid >>> 16, false);
    const bigtime = (m.flags2 & DIFLAG2_BIGTIME) !== 0n;
    const time = (at: number, ns: bigint) => {
      if (bigtime) dv.setBigUint64(at, ns + 2n ** 31n * 1_000_000_000n, false);
      else {
        let seconds = ns / 1_000_000_000n;
        let nanos = ns % 1_000_000_000n;
        if (nanos < 0n) {
          nanos += 1_000_000_000n;
          seconds -= 1n;
        }
        dv.setInt32(at, Number(seconds), false);
        dv.setUint32(at + 4, Number(nanos), false);
      }
    };
    time(32, m.atimeNs);
    time(40, m.mtimeNs);
    time(48, m.ctimeNs);
    dv.setBigUint64(56, BigInt(m.size), false);
    dv.setBigUint64(64, BigInt(m.nblocks), false);
    dv.setUint32(72, m.extsize, false);
    dv.setUint32(76, data.nextents, false);
    dv.setUint16(80, attr?.nextents ?? 0, false);
    out[82] = forkOffset;
    out[83] = attr ? attr.format : FORMAT_EXTENTS;
    dv.setUint16(90, m.flags, false);
    dv.setUint32(92, m.gen, false);
    dv.setUint32(96, NULL_AGINO, false);
    out.set(data.bytes, this.coreSize);
    if (attr) out.set(attr.bytes, this.coreSize + forkOffset * 8);
    if (v5) {
      dv.setBigUint64(104, m.changecount, false);
      dv.setBigUint64(112, this.lsn, false);
      dv.setBigUint64(120, m.flags2, false);
      dv.setUint32(128, m.cowextsize, false);
      time(144, m.crtimeNs);
      dv.setBigUint64(152, m.number, false);
      out.set(this.metaUuid, 160);
      setCrc(out, 100);
    }
    return out;
  }
}

