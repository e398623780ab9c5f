import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { InodeFilesystem, runsFile, typeOfMode, type DataRun, type InodeBase } from "../inode-filesystem.js";
import type { FilesystemDriver, GuestFile, OpenFilesystemOptions, WritableFilesystem } from "../filesystem.js";
import { corrupt, cString, readBytes, uuidString, view } from "../../block/volumes-io.js";
import { overlayLog, replayXfsLog } from "./log.js";
import { ascii, ATTR_INCOMPLETE, ATTR_LOCAL, ATTR_ROOT, ATTR_SECURE, DIR_LEAF_OFFSET, FORMAT_BTREE, FORMAT_DEV, FORMAT_EXTENTS, FORMAT_LOCAL, MAGIC, MetadataCache, nameKey, parseExtent, type Extent } from "./format.js";

export const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const MAX_BTREE_LEVELS = 10;
/** Attribute forks hold at most this many bytes of names and values (the kernel's limit is 64 KiB a value). */
const MAX_ATTR_BYTES = 16 * 1024 * 1024;

const V2_FTYPE = 0x200;
const INCOMPAT_FTYPE = 0x1;
const INCOMPAT_KNOWN = 0x1 | 0x2 | 0x4 | 0x8 | 0x20;
const DIFLAG2_BIGTIME = 1n << 3n;
const DIFLAG2_NREXT64 = 1n << 4n;

export interface XfsInode extends InodeBase<bigint> {
  format: number;
  extentCount: number;
  /** The data fork: local bytes, an extent list or a btree root. */
  fork: Uint8Array;
  /** The attribute fork (empty when there is none), its format and extent count. */
  attrFork: Uint8Array;
  attrFormat: number;
  attrExtentCount: number;
  /** The whole on-disk inode. */
  raw: Uint8Array;
  /**
   * The writer's view of an inode it changed and has not written out yet; reads take it over the
   * on-disk forks, so they see every write at once.
   */
  memory?: {
    extents?: Extent[];
    entries?: Map<string, DirectoryEntry>;
    target?: Uint8Array;
    attrs?: Map<string, Uint8Array>;
  };
}

/** One directory entry: the inode and the file type byte (0 where the filesystem keeps none). */
export interface DirectoryEntry {
  ino: bigint;
  ftype: number;
}

/** One extended attribute as stored: namespace flags, raw name, value. */
export interface RawAttr {
  flags: number;
  name: Uint8Array;
  value: Uint8Array;
}

/** An attribute's name as getfattr shows it, from its namespace flags. */
export function attrDisplayName(flags: number, name: Uint8Array): string {
  const prefix = flags & ATTR_SECURE ? "security." : flags & ATTR_ROOT ? "trusted." : "user.";
  return prefix + new TextDecoder().decode(name);
}

/** The log's state at open: where it is, whether it ends in an unmount record, its last LSN. */
export interface XfsLogState {
  clean: boolean;
  base: number;
  basicBlocks: number;
  head: number;
  lastRecord: number;
  /** The LSN of the last record (cycle << 32 | block): metadata stamped with it is never ahead of the log. */
  lastLsn: bigint;
}

/**
 * An XFS v4 or v5 filesystem, read by our own reader: superblock and AG geometry, inodes located
 * from their numbers, local/extent/btree data forks, short-form, block, leaf and node directories
 * (data blocks walked by the extent map), local and remote symlinks, files with holes, extended
 * attributes in every form, and the free-space B+trees.
 */
export class XfsFilesystem extends InodeFilesystem<bigint, XfsInode> {
  protected readonly kind = "XFS";
  readonly type = "xfs";
  readonly uuid: string | undefined;
  readonly label: string | undefined;
  readonly version: 4 | 5;
  protected readonly cache: MetadataCache;
  protected readonly sb: Uint8Array;
  protected readonly blockSize: number;
  protected readonly sectorSize: number;
  protected readonly agBlocks: number;
  protected readonly agCount: number;
  protected readonly agBlockLog: number;
  protected readonly inodeSize: number;
  protected readonly inodesPerBlockLog: number;
  protected readonly dirBlockSize: number;
  protected readonly ftype: boolean;
  protected readonly rootInode: bigint;
  /** The log as found at open (undefined for an external log). */
  protected log: XfsLogState | undefined;
  /**
   * False when the log holds changes not yet written home (the filesystem was not cleanly
   * unmounted): the kernel would replay them first, this reader does not, so what it reads may be
   * stale. Shut the guest down cleanly, or mount a copy of the image once, to settle the log.
   */
  cleanLog = true;
  /** The log was not clean and its committed changes were replayed in memory. */
  replayedLog = false;

  protected constructor(protected readonly device: BlockDevice, sb: Uint8Array) {
    super();
    this.sb = sb;
    const dv = view(sb);
    this.blockSize = dv.getUint32(4, false);
    const blockLog = sb[120]!;
    if (blockLog < 9 || blockLog > 16 || this.blockSize !== 2 ** blockLog) throw corrupt(`the XFS superblock claims ${this.blockSize}-byte blocks`);
    const version = dv.getUint16(100, false) & 0xf;
    if (version !== 4 && version !== 5) throw new InspectError("INSPECT_UNSUPPORTED", `XFS version ${version} is not supported (only v4 and v5)`);
    this.version = version;
    this.sectorSize = dv.getUint16(102, false);
    if (this.sectorSize < 512 || this.sectorSize > this.blockSize || (this.sectorSize & (this.sectorSize - 1)) !== 0) throw corrupt(`the XFS superblock claims ${this.sectorSize}-byte sectors`);
    this.agBlocks = dv.getUint32(84, false);
    this.agCount = dv.getUint32(88, false);
    this.agBlockLog = sb[124]!;
    this.inodeSize = dv.getUint16(104, false);
    const inodeLog = sb[122]!;
    this.inodesPerBlockLog = sb[123]!;
    const dirBlockLog = sb[192]!;
    if (this.agBlockLog > 31 || this.agBlocks === 0 || this.agBlocks > 2 ** this.agBlockLog || this.agCount === 0) throw corrupt(`the XFS superblock claims ${this.agCount} AGs of ${this.agBlocks} blocks`);
    if (inodeLog < 8 || inodeLog > 11 || this.inodeSize !== 2 ** inodeLog || blockLog - inodeLog !== this.inodesPerBlockLog) throw corrupt(`the XFS superblock claims ${this.inodeSize}-byte inodes`);
    if (dirBlockLog > 8 || blockLog + dirBlockLog > 16) throw corrupt(`the XFS superblock claims 2^${dirBlockLog}-block directory blocks`);
    this.dirBlockSize = this.blockSize << dirBlockLog;
    if (this.agCount * this.agBlocks * this.blockSize > device.size * 1.0001 + this.agBlocks * this.blockSize) {
      throw corrupt(`the XFS filesystem claims ${this.agCount} AGs of ${this.agBlocks} ${this.blockSize}-byte blocks, more than its ${device.size}-byte device holds`);
    }
    if (version === 5) {
      const incompat = dv.getUint32(216, false);
      if (incompat & ~INCOMPAT_KNOWN) throw new InspectError("INSPECT_UNSUPPORTED", `this XFS filesystem uses features leapp cannot read (incompat 0x${incompat.toString(16)})`);
      this.ftype = (incompat & INCOMPAT_FTYPE) !== 0;
    } else {
      this.ftype = (dv.getUint16(100, false) & 0x8000) !== 0 && (dv.getUint32(200, false) & V2_FTYPE) !== 0;
    }
    this.rootInode = dv.getBigUint64(56, false);
    this.uuid = uuidString(sb.subarray(32, 48));
    this.label = cString(sb, 108, 12);
    this.cache = new MetadataCache(device, this.blockSize, 8192);
  }

  static async open(device: BlockDevice): Promise<XfsFilesystem> {
    const sb = await readBytes(device, 0, 512, "XFS superblock");
    if (ascii(sb, 0, 4) !== "XFSB") throw new InspectError("INSPECT_UNSUPPORTED", "no XFS superblock on this volume");
    const fs = new XfsFilesystem(device, await readSuperblockSector(device, sb));
    await fs.checkRoot();
    const log = await fs.readLogState();
    if (log && !log.clean && log.lastRecord >= 0) {
      // Not cleanly unmounted: read it as the kernel would after replaying the log.
      const patches = await replayXfsLog(device, { ...log, inodeSize: fs.inodeSize, version: fs.version });
      if (patches && patches.length > 0) {
        const replayed = overlayLog(device, patches);
        const again = new XfsFilesystem(replayed, await readBytes(replayed, 0, fs.sb.length, "XFS superblock"));
        again.cleanLog = false;
        again.replayedLog = true;
        return again;
      }
      fs.cleanLog = false;
    } else if (log && !log.clean) {
      fs.cleanLog = false;
    }
    return fs;
  }

  protected async checkRoot(): Promise<void> {
    const root = await this.inode(this.rootInode);
    if (typeOfMode(root.mode) !== "directory") throw corrupt("the XFS root inode is not a directory");
  }

  /** Reads the log's state into `this.log` (and returns it). */
  protected async readLogState(): Promise<XfsLogState | undefined> {
    const dv = view(this.sb);
    this.log = await this.logState(Number(dv.getBigUint64(48, false)), dv.getUint32(96, false));
    return this.log;
  }

  /**
   * Whether the internal log ends in an unmount record. A log that does not (a snapshot of a
   * running guest, a crash) holds metadata changes the kernel would replay before mounting.
   */
  private async logState(logStart: number, logBlocks: number): Promise<XfsLogState | undefined> {
    if (logStart === 0 || logBlocks === 0) return undefined; // an external log: nothing to judge here
    const base = this.linearBlock(logStart, "the XFS log") * this.blockSize;
    const basicBlocks = Math.floor((logBlocks * this.blockSize) / 512);
    if (basicBlocks < 2 || base + basicBlocks * 512 > this.device.size) throw corrupt("the XFS log lies outside its device");
    const RECORD_MAGIC = 0xfeedbabe;
    const cycleOf = async (bb: number): Promise<{ cycle: number; header: boolean }> => {
      const v = view(await readBytes(this.device, base + bb * 512, 8, "XFS log block"));
      const first = v.getUint32(0, false);
      return first === RECORD_MAGIC ? { cycle: v.getUint32(4, false), header: true } : { cycle: first, header: false };
    };
    // The head is where the cycle number stamped on every basic block drops (binary search).
    const firstCycle = (await cycleOf(0)).cycle;
    let head = basicBlocks;
    if ((await cycleOf(basicBlocks - 1)).cycle !== firstCycle) {
      let lo = 1;
      let hi = basicBlocks - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((await cycleOf(mid)).cycle === firstCycle) lo = mid + 1;
        else hi = mid;
      }
      head = lo;
    }
    // The last record header before the head (records are at most 2 MiB: 4096 basic blocks).
    for (let bb = head - 1, steps = 0; steps < 4096; bb = bb === 0 ? basicBlocks - 1 : bb - 1, steps++) {
      const { header } = await cycleOf(bb);
      if (!header) continue;
      const record = view(await readBytes(this.device, base + bb * 512, 512, "XFS log record header"));
      const operations = record.getUint32(40, false);
      const headerSize = record.getUint32(320, false);
      const headerBlocks = record.getUint32(8, false) >= 2 && headerSize > 32768 ? Math.ceil(headerSize / 32768) : 1;
      const opAt = (bb + headerBlocks) % basicBlocks;
      const op = await readBytes(this.device, base + opAt * 512, 12, "XFS log operation header");
      const UNMOUNT_TRANS = 0x20;
      return { clean: operations === 1 && (op[9]! & UNMOUNT_TRANS) !== 0, base, basicBlocks, head, lastRecord: bb, lastLsn: record.getBigUint64(16, false) };
    }
    return { clean: false, base, basicBlocks, head, lastRecord: -1, lastLsn: 0n };
  }

  /** A filesystem block number (AG number in the high bits) as a linear block index. */
  protected linearBlock(fsBlock: number, what: string): number {
    const agno = Math.floor(fsBlock / 2 ** this.agBlockLog);
    const agbno = fsBlock % 2 ** this.agBlockLog;
    if (!Number.isSafeInteger(fsBlock) || agno >= this.agCount || agbno >= this.agBlocks) throw corrupt(`${what} points to block ${fsBlock}, outside the XFS filesystem`);
    const linear = agno * this.agBlocks + agbno;
    if ((linear + 1) * this.blockSize > this.device.size) throw corrupt(`${what} points past the end of the device`);
    return linear;
  }

  /** The device byte offset of an inode. */
  protected inodeOffset(number: bigint): number {
    const inoLog = BigInt(this.inodesPerBlockLog);
    const agLog = BigInt(this.agBlockLog);
    const agno = Number(number >> (inoLog + agLog));
    const agbno = Number((number >> inoLog) & ((1n << agLog) - 1n));
    const slot = Number(number & ((1n << inoLog) - 1n));
    if (agno >= this.agCount || agbno >= this.agBlocks) throw corrupt(`inode number ${number} lies outside the XFS filesystem`);
    const offset = (agno * this.agBlocks + agbno) * this.blockSize + slot * this.inodeSize;
    if (offset + this.inodeSize > this.device.size) throw corrupt(`inode number ${number} lies past the end of the device`);
    return offset;
  }

  protected get coreSize(): number {
    return this.version === 5 ? 176 : 100;
  }

  protected async inode(number: bigint): Promise<XfsInode> {
    return this.parseInode(number, await this.cache.bytes(this.inodeOffset(number), this.inodeSize, "XFS inode block"));
  }

  protected parseInode(number: bigint, raw: Uint8Array): XfsInode {
    const dv = view(raw);
    if (dv.getUint16(0, false) !== 0x494e) throw corrupt(`inode ${number} has no XFS inode magic`);
    const inodeVersion = raw[4]!;
    if (inodeVersion < 1 || inodeVersion > 3 || (this.version === 5) !== (inodeVersion === 3)) throw corrupt(`inode ${number} has version ${inodeVersion}`);
    const coreSize = inodeVersion === 3 ? 176 : 100;
    const forkOffset = raw[82]!;
    const forkEnd = forkOffset === 0 ? this.inodeSize : coreSize + forkOffset * 8;
    if (forkEnd > this.inodeSize || forkEnd <= coreSize) throw corrupt(`inode ${number} has a bad fork offset`);
    const flags2 = inodeVersion === 3 ? dv.getBigUint64(120, false) : 0n;
    const size = Number(dv.getBigUint64(56, false));
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(`inode ${number} claims a size of ${size} bytes`);
    const extentCount = flags2 & DIFLAG2_NREXT64 ? Number(dv.getBigUint64(24, false)) : dv.getUint32(76, false);
    const attrExtentCount = flags2 & DIFLAG2_NREXT64 ? dv.getUint32(76, false) : dv.getUint16(80, false);
    const time = (at: number): bigint =>
      flags2 & DIFLAG2_BIGTIME
        ? // Nanoseconds since 1901-12-13 (the old signed 32-bit epoch).
          dv.getBigUint64(at, false) - 2n ** 31n * 1_000_000_000n
        : BigInt(dv.getInt32(at, false)) * 1_000_000_000n + BigInt(dv.getUint32(at + 4, false));
    const mode = dv.getUint16(2, false);
    const format = raw[5]!;
    const type = mode & 0o170000;
    // Device numbers are stored in the data fork, in the old SysV layout (14-bit major, 18-bit minor).
    const dev = format === FORMAT_DEV && (type === 0o020000 || type === 0o060000) && raw.length >= coreSize + 4 ? dv.getUint32(coreSize, false) : 0;
    return {
      number,
      mode,
      format,
      uid: dv.getUint32(8, false),
      gid: dv.getUint32(12, false),
      size,
      nlink: inodeVersion === 1 ? dv.getUint16(6, false) : dv.getUint32(16, false),
      atimeNs: time(32),
      mtimeNs: time(40),
      ctimeNs: time(48),
      rdevMajor: dev >>> 18,
      rdevMinor: dev & 0x3ffff,
      extentCount,
      fork: raw.subarray(coreSize, forkEnd),
      attrFork: forkOffset === 0 ? raw.subarray(0, 0) : raw.subarray(forkEnd, this.inodeSize),
      attrFormat: raw[83]!,
      attrExtentCount,
      raw,
    };
  }

  /**
   * A fork's extents (extent list or B+tree), bounded by `maxBlocks` file blocks. `btreeBlocks`
   * collects the B+tree's own blocks (the writer frees them when it rewrites the fork).
   */
  protected async forkExtents(inode: XfsInode, attr: boolean, maxBlocks: number, btreeBlocks?: number[]): Promise<Extent[]> {
    if (!attr && inode.memory?.extents) return inode.memory.extents.filter((e) => e.offset < maxBlocks);
    const format = attr ? inode.attrFormat : inode.format;
    const fork = attr ? inode.attrFork : inode.fork;
    const count = attr ? inode.attrExtentCount : inode.extentCount;
    const out: Extent[] = [];
    const take = (e: Extent) => {
      if (e.count === 0 || e.offset >= maxBlocks) return;
      out.push(e);
      if (out.length > maxBlocks) throw corrupt(`inode ${inode.number} has more extents than blocks`);
    };
    if (format === FORMAT_EXTENTS) {
      if (count * 16 > fork.length) throw corrupt(`inode ${inode.number} claims ${count} extents in its fork`);
      const dv = view(fork);
      for (let i = 0; i < count; i++) take(parseExtent(dv, i * 16));
    } else if (format === FORMAT_BTREE) {
      const dv = view(fork);
      const level = dv.getUint16(0, false);
      const records = dv.getUint16(2, false);
      const maxRecords = Math.floor((fork.length - 4) / 16);
      if (level === 0 || level > MAX_BTREE_LEVELS || records > maxRecords) throw corrupt(`inode ${inode.number} has a bad extent btree root`);
      const visited = new Set<number>();
      for (let i = 0; i < records; i++) {
        const pointer = Number(dv.getBigUint64(4 + maxRecords * 8 + i * 8, false));
        await this.walkBmbt(inode, pointer, level - 1, visited, take, btreeBlocks);
      }
    } else {
      throw corrupt(`inode ${inode.number} has ${attr ? "attribute" : "data"} fork format ${format} where extents were expected`);
    }
    out.sort((a, b) => a.offset - b.offset);
    return out;
  }

  private async extents(inode: XfsInode, maxBlocks: number): Promise<Extent[]> {
    return this.forkExtents(inode, false, maxBlocks);
  }

  private async walkBmbt(inode: XfsInode, fsBlock: number, level: number, visited: Set<number>, take: (e: Extent) => void, btreeBlocks?: number[]): Promise<void> {
    const linear = this.linearBlock(fsBlock, `an extent btree block of inode ${inode.number}`);
    if (visited.has(linear)) throw corrupt(`inode ${inode.number}'s extent btree loops through block ${fsBlock}`);
    visited.add(linear);
    btreeBlocks?.push(fsBlock);
    const block = await this.cache.block(linear, "XFS block");
    const dv = view(block);
    const magic = ascii(block, 0, 4);
    if (magic !== (this.version === 5 ? "BMA3" : "BMAP")) throw corrupt(`inode ${inode.number}'s extent btree block ${fsBlock} has magic ${JSON.stringify(magic)}`);
    const header = this.version === 5 ? 72 : 24;
    if (dv.getUint16(4, false) !== level) throw corrupt(`inode ${inode.number}'s extent btree block ${fsBlock} is at the wrong level`);
    const records = dv.getUint16(6, false);
    const maxRecords = Math.floor((this.blockSize - header) / 16);
    if (records > maxRecords) throw corrupt(`inode ${inode.number}'s extent btree block ${fsBlock} claims ${records} records`);
    if (level === 0) {
      for (let i = 0; i < records; i++) take(parseExtent(dv, header + i * 16));
      return;
    }
    for (let i = 0; i < records; i++) {
      const pointer = Number(dv.getBigUint64(header + maxRecords * 8 + i * 8, false));
      await this.walkBmbt(inode, pointer, level - 1, visited, take, btreeBlocks);
    }
  }

  /** Bytes [0, length) of a fork mapped by `extents`, holes and unwritten extents as zeros. */
  protected async readMapped(inode: XfsInode, extents: Extent[], length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const blocks = Math.ceil(length / this.blockSize);
    for (const [i, extent] of extents.entries()) {
      if (extent.unwritten) continue;
      // Sorted by offset; a lying map may overlap, so each extent stops where the next begins —
      // the bytes read never exceed the file's length.
      const count = Math.min(extent.count, blocks - extent.offset, (extents[i + 1]?.offset ?? blocks) - extent.offset);
      if (count <= 0) continue;
      const start = this.linearBlock(extent.block, `an extent of inode ${inode.number}`);
      this.linearBlock(extent.block + count - 1, `an extent of inode ${inode.number}`);
      const offset = extent.offset * this.blockSize;
      const bytes = Math.min(count * this.blockSize, length - offset);
      // Within one AG extents are contiguous on disk, so one read per extent.
      out.set(await readBytes(this.device, start * this.blockSize, bytes, `data of inode ${inode.number}`), offset);
    }
    return out;
  }

  /** Bytes [0, length) of a file's data fork, holes and unwritten extents as zeros. */
  private async readRange(inode: XfsInode, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    if (inode.format === FORMAT_LOCAL && !inode.memory?.extents) {
      if (length > inode.fork.length) throw corrupt(`inode ${inode.number} claims ${length} bytes of local data in a ${inode.fork.length}-byte fork`);
      return inode.fork.slice(0, length);
    }
    return this.readMapped(inode, await this.extents(inode, Math.ceil(length / this.blockSize)), length);
  }

  private readInumber(dv: DataView, at: number, wide: boolean): bigint {
    return wide ? dv.getBigUint64(at, false) : BigInt(dv.getUint32(at, false));
  }

  private shortFormDirectory(inode: XfsInode, entries: Map<string, DirectoryEntry>): bigint {
    const fork = inode.fork.subarray(0, Math.min(inode.size, inode.fork.length));
    const dv = view(fork);
    if (fork.length < 6) throw corrupt(`directory inode ${inode.number} has a truncated short-form header`);
    const count = fork[0]!;
    const wide = fork[1]! > 0;
    const parent = this.readInumber(dv, 2, wide);
    let at = 2 + (wide ? 8 : 4);
    for (let i = 0; i < count; i++) {
      if (at + 3 > fork.length) throw corrupt(`directory inode ${inode.number} has a truncated short-form entry`);
      const nameLength = fork[at]!;
      const entrySize = 3 + nameLength + (this.ftype ? 1 : 0) + (wide ? 8 : 4);
      if (nameLength === 0 || at + entrySize > fork.length) throw corrupt(`directory inode ${inode.number} has a malformed short-form entry`);
      entries.set(nameKey(fork.subarray(at + 3, at + 3 + nameLength)), {
        ino: this.readInumber(dv, at + 3 + nameLength + (this.ftype ? 1 : 0), wide),
        ftype: this.ftype ? fork[at + 3 + nameLength]! : 0,
      });
      at += entrySize;
    }
    return parent;
  }

  /** Adds a data block's entries; returns the `..` inode when the block holds it. */
  private parseDataBlock(inode: XfsInode, block: Uint8Array, entries: Map<string, DirectoryEntry>): bigint | undefined {
    const dv = view(block);
    const magic = ascii(block, 0, 4);
    const v5 = this.version === 5 ? 1 : 0;
    const isBlockForm = magic === MAGIC.dirBlock[v5];
    if (!isBlockForm && magic !== MAGIC.dirData[v5]) throw corrupt(`directory inode ${inode.number} has a data block with magic ${JSON.stringify(magic)}`);
    let end = block.length;
    if (isBlockForm) {
      // Block form: leaf entries and a tail (count, stale) fill the end of the block.
      const leafCount = dv.getUint32(block.length - 8, false);
      end = block.length - 8 - leafCount * 8;
      if (end < 0) throw corrupt(`directory inode ${inode.number} claims ${leafCount} leaf entries in its block`);
    }
    let parent: bigint | undefined;
    let at = v5 ? 64 : 16;
    while (at + 8 <= end) {
      if (dv.getUint16(at, false) === 0xffff) {
        const length = dv.getUint16(at + 2, false);
        if (length < 8 || length % 8 !== 0 || at + length > end) throw corrupt(`directory inode ${inode.number} has a bad free-space record`);
        at += length;
        continue;
      }
      // The smallest entry is 16 bytes; checking first keeps nameLength defined (NaN & ~7 is 0).
      if (at + 16 > end) throw corrupt(`directory inode ${inode.number} has a truncated entry`);
      const nameLength = block[at + 8]!;
      const size = (8 + 1 + nameLength + (this.ftype ? 1 : 0) + 2 + 7) & ~7;
      if (nameLength === 0 || at + size > end) throw corrupt(`directory inode ${inode.number} has a malformed entry`);
      const name = nameKey(block.subarray(at + 9, at + 9 + nameLength));
      const ino = dv.getBigUint64(at, false);
      if (name === "..") parent = ino;
      else if (name !== ".") entries.set(name, { ino, ftype: this.ftype ? block[at + 9 + nameLength]! : 0 });
      at += size;
    }
    return parent;
  }

  /** A directory's entries by raw name (without `.` and `..`) and its parent. */
  protected async directoryEntries(inode: XfsInode): Promise<{ entries: Map<string, DirectoryEntry>; parent: bigint }> {
    const entries = new Map<string, DirectoryEntry>();
    if (inode.format === FORMAT_LOCAL) return { entries, parent: this.shortFormDirectory(inode, entries) };
    // di_size of a block/leaf/node directory covers just its data blocks (below the leaf offset).
    const length = Math.min(inode.size, DIR_LEAF_OFFSET);
    if (length > MAX_DIRECTORY_BYTES) throw new InspectError("INSPECT_TOO_LARGE", `directory inode ${inode.number} is ${length} bytes; leapp reads directories up to ${MAX_DIRECTORY_BYTES} bytes`);
    const data = await this.readRange(inode, length);
    let parent: bigint | undefined;
    for (let at = 0; at + this.dirBlockSize <= data.length; at += this.dirBlockSize) {
      const block = data.subarray(at, at + this.dirBlockSize);
      if (block[0] === 0 && block[1] === 0 && block[2] === 0 && block[3] === 0) continue; // a hole left by removed data blocks
      parent = this.parseDataBlock(inode, block, entries) ?? parent;
    }
    if (parent === undefined) throw corrupt(`directory inode ${inode.number} has no '..' entry`);
    return { entries, parent };
  }

  protected async readDirectory(inode: XfsInode): Promise<Map<string, bigint>> {
    const entries = inode.memory?.entries ?? (await this.directoryEntries(inode)).entries;
    const out = new Map<string, bigint>();
    const utf8 = new TextDecoder();
    for (const [key, entry] of entries) out.set(utf8.decode(Uint8Array.from(key, (c) => c.charCodeAt(0))), entry.ino);
    return out;
  }

  protected rootInodeNumber(): bigint {
    return this.rootInode;
  }

  protected async openInode(inode: XfsInode, path: string): Promise<GuestFile> {
    if (inode.format === FORMAT_DEV) throw corrupt(`${path} is a regular file with a device fork`);
    if (inode.format === FORMAT_LOCAL && !inode.memory?.extents) return runsFile(this.device, inode.size, await this.readRange(inode, inode.size));
    const blocks = Math.ceil(inode.size / this.blockSize);
    const extents = await this.extents(inode, blocks);
    const data: DataRun[] = [];
    for (const [i, extent] of extents.entries()) {
      if (extent.unwritten) continue;
      const count = Math.min(extent.count, blocks - extent.offset, (extents[i + 1]?.offset ?? blocks) - extent.offset);
      if (count <= 0) continue;
      const start = this.linearBlock(extent.block, `an extent of inode ${inode.number}`);
      this.linearBlock(extent.block + count - 1, `an extent of inode ${inode.number}`);
      const offset = extent.offset * this.blockSize;
      data.push({ offset, at: start * this.blockSize, length: Math.min(count * this.blockSize, inode.size - offset) });
    }
    return runsFile(this.device, inode.size, data);
  }

  /** Every attribute of an inode as stored, from a short-form, leaf or node attribute fork. */
  protected async rawAttrs(inode: XfsInode): Promise<RawAttr[]> {
    if (inode.attrFork.length === 0) return [];
    // Kernels built with security modules give every new inode an attribute fork up front (an
    // extent list with no extents) so a label can be added without moving the data fork. With no
    // label it stays empty: no attributes, not a leaf block 0 to read.
    if (inode.attrFormat === FORMAT_EXTENTS && inode.attrExtentCount === 0) return [];
    if (inode.attrFormat === FORMAT_LOCAL) return this.shortFormAttrs(inode);
    const extents = await this.forkExtents(inode, true, 2 ** 32);
    const out: RawAttr[] = [];
    let budget = MAX_ATTR_BYTES;
    const readBlock = async (dablk: number): Promise<Uint8Array> => {
      const e = extents.find((x) => dablk >= x.offset && dablk < x.offset + x.count);
      if (!e || e.unwritten) throw corrupt(`inode ${inode.number}'s attribute block ${dablk} is not mapped`);
      return this.cache.block(this.linearBlock(e.block + (dablk - e.offset), `an attribute block of inode ${inode.number}`), "XFS attribute block");
    };
    const v5 = this.version === 5 ? 1 : 0;
    const visited = new Set<number>();
    const walk = async (dablk: number, depth: number): Promise<void> => {
      if (visited.has(dablk) || depth > MAX_BTREE_LEVELS) throw corrupt(`inode ${inode.number}'s attribute tree loops or is too deep`);
      visited.add(dablk);
      const block = await readBlock(dablk);
      const dv = view(block);
      const magic = dv.getUint16(8, false);
      const header = v5 ? 64 : 16;
      if (magic === MAGIC.daNode[v5]) {
        const count = dv.getUint16(v5 ? 56 : 12, false);
        if (header + count * 8 > block.length) throw corrupt(`inode ${inode.number} has an attribute node claiming ${count} entries`);
        for (let i = 0; i < count; i++) await walk(dv.getUint32(header + i * 8 + 4, false), depth + 1);
        return;
      }
      if (magic !== MAGIC.attrLeaf[v5]) throw corrupt(`inode ${inode.number} has an attribute block with magic 0x${magic.toString(16)}`);
      const count = dv.getUint16(v5 ? 56 : 12, false);
      const entriesAt = v5 ? 80 : 32;
      if (entriesAt + count * 8 > block.length) throw corrupt(`inode ${inode.number} has an attribute leaf claiming ${count} entries`);
      for (let i = 0; i < count; i++) {
        const nameIndex = dv.getUint16(entriesAt + i * 8 + 4, false);
        const flags = block[entriesAt + i * 8 + 6]!;
        if (flags & ATTR_INCOMPLETE) continue;
        if (nameIndex + 12 > block.length) throw corrupt(`inode ${inode.number} has an attribute name outside its block`);
        if (flags & ATTR_LOCAL) {
          const valueLength = dv.getUint16(nameIndex, false);
          const nameLength = block[nameIndex + 2]!;
          if (nameIndex + 3 + nameLength + valueLength > block.length) throw corrupt(`inode ${inode.number} has an attribute value outside its block`);
          out.push({ flags, name: block.slice(nameIndex + 3, nameIndex + 3 + nameLength), value: block.slice(nameIndex + 3 + nameLength, nameIndex + 3 + nameLength + valueLength) });
        } else {
          const valueBlock = dv.getUint32(nameIndex, false);
          const valueLength = dv.getUint32(nameIndex + 4, false);
          const nameLength = block[nameIndex + 8]!;
          if (nameIndex + 9 + nameLength > block.length) throw corrupt(`inode ${inode.number} has an attribute name outside its block`);
          budget -= valueLength;
          if (budget < 0) throw new InspectError("INSPECT_TOO_LARGE", `inode ${inode.number} has more than ${MAX_ATTR_BYTES} bytes of attribute values`);
          out.push({ flags, name: block.slice(nameIndex + 9, nameIndex + 9 + nameLength), value: await this.remoteValue(inode, valueBlock, valueLength, readBlock) });
        }
      }
    };
    await walk(0, 0);
    return out;
  }

  private shortFormAttrs(inode: XfsInode): RawAttr[] {
    const fork = inode.attrFork;
    const dv = view(fork);
    if (fork.length < 4) throw corrupt(`inode ${inode.number} has a truncated attribute fork`);
    const total = Math.min(dv.getUint16(0, false), fork.length);
    const count = fork[2]!;
    const out: RawAttr[] = [];
    let at = 4;
    for (let i = 0; i < count; i++) {
      if (at + 3 > total) throw corrupt(`inode ${inode.number} has a truncated short-form attribute`);
      const nameLength = fork[at]!;
      const valueLength = fork[at + 1]!;
      const flags = fork[at + 2]!;
      if (at + 3 + nameLength + valueLength > total) throw corrupt(`inode ${inode.number} has a short-form attribute past its fork`);
      if (!(flags & ATTR_INCOMPLETE)) out.push({ flags, name: fork.slice(at + 3, at + 3 + nameLength), value: fork.slice(at + 3 + nameLength, at + 3 + nameLength + valueLength) });
      at += 3 + nameLength + valueLength;
    }
    return out;
  }

  /** A value kept in its own attribute blocks (v5: each block starts with a 56-byte XARM header). */
  private async remoteValue(inode: XfsInode, first: number, length: number, readBlock: (dablk: number) => Promise<Uint8Array>): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const header = this.version === 5 ? 56 : 0;
    const perBlock = this.blockSize - header;
    for (let done = 0, dablk = first; done < length; dablk++) {
      const block = await readBlock(dablk);
      if (header && ascii(block, 0, 4) !== "XARM") throw corrupt(`inode ${inode.number} has a remote attribute block without its XARM header`);
      const take = Math.min(perBlock, length - done);
      out.set(block.subarray(header, header + take), done);
      done += take;
    }
    return out;
  }

  protected async inodeXattrs(inode: XfsInode): Promise<Map<string, Uint8Array>> {
    if (inode.memory?.attrs) return new Map(inode.memory.attrs);
    const out = new Map<string, Uint8Array>();
    for (const attr of await this.rawAttrs(inode)) out.set(attrDisplayName(attr.flags, attr.name), attr.value);
    return out;
  }

  /** One AG's free extents from its by-block B+tree, in order: [agbno, length] pairs. */
  protected async freeExtentsOfAg(agno: number, blocks?: number[]): Promise<Array<[number, number]>> {
    const agf = await this.cache.bytes(agno * this.agBlocks * this.blockSize + this.sectorSize, this.sectorSize, "XFS AGF");
    if (ascii(agf, 0, 4) !== "XAGF") throw corrupt(`AG ${agno} has no AGF magic`);
    const dv = view(agf);
    const out: Array<[number, number]> = [];
    await this.walkShortBtree(agno, dv.getUint32(16, false), dv.getUint32(28, false), this.version === 5 ? "AB3B" : "ABTB", 8, 4, (rec) => {
      const start = rec.getUint32(0, false);
      const length = rec.getUint32(4, false);
      if (length === 0 || start + length > this.agBlocks) throw corrupt(`AG ${agno}'s free-space btree holds an extent outside the AG`);
      out.push([start, length]);
    }, blocks);
    return out;
  }

  /**
   * Walks a short-form (per-AG) B+tree from its root: `record` sees each leaf record, `blocks`
   * collects the tree's blocks. Levels, record counts and revisits are checked.
   */
  protected async walkShortBtree(agno: number, root: number, levels: number, magic: string, recordSize: number, keySize: number, record: (rec: DataView) => void, blocks?: number[]): Promise<void> {
    if (levels < 1 || levels > MAX_BTREE_LEVELS) throw corrupt(`AG ${agno} has a ${magic} btree of ${levels} levels`);
    const header = this.version === 5 ? 56 : 16;
    const visited = new Set<number>();
    const walk = async (agbno: number, level: number): Promise<void> => {
      if (agbno >= this.agBlocks || visited.has(agbno)) throw corrupt(`AG ${agno}'s ${magic} btree points to block ${agbno} twice or outside the AG`);
      visited.add(agbno);
      blocks?.push(agbno);
      const block = await this.cache.block(agno * this.agBlocks + agbno, "XFS btree block");
      const dv = view(block);
      if (ascii(block, 0, 4) !== magic || dv.getUint16(4, false) !== level) throw corrupt(`AG ${agno} block ${agbno} is not a level-${level} ${magic} btree block`);
      const count = dv.getUint16(6, false);
      if (level === 0) {
        if (header + count * recordSize > block.length) throw corrupt(`AG ${agno} block ${agbno} claims ${count} records`);
        for (let i = 0; i < count; i++) record(new DataView(block.buffer, block.byteOffset + header + i * recordSize, recordSize));
        return;
      }
      const max = Math.floor((block.length - header) / (keySize + 4));
      if (count > max) throw corrupt(`AG ${agno} block ${agbno} claims ${count} pointers`);
      for (let i = 0; i < count; i++) await walk(dv.getUint32(header + max * keySize + i * 4, false), level - 1);
    };
    await walk(root, levels - 1);
  }

  async *freeRanges(): AsyncIterable<{ offset: number; length: number }> {
    this.checkOpen();
    let pending: { offset: number; length: number } | undefined;
    for (let agno = 0; agno < this.agCount; agno++) {
      for (const [start, length] of await this.freeExtentsOfAg(agno)) {
        const offset = (agno * this.agBlocks + start) * this.blockSize;
        const bytes = Math.min(length * this.blockSize, this.device.size - offset);
        if (bytes <= 0) continue;
        if (pending && pending.offset + pending.length === offset) pending.length += bytes;
        else {
          if (pending) yield pending;
          pending = { offset, length: bytes };
        }
      }
    }
    if (pending) yield pending;
  }

  protected async fileContent(inode: XfsInode, maxBytes: number, path: string): Promise<Uint8Array> {
    if (inode.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} is ${inode.size} bytes, over the ${maxBytes}-byte limit; raise maxBytes if it is really needed`, { path });
    if (inode.format === FORMAT_DEV) throw corrupt(`${path} is a regular file with a device fork`);
    return this.readRange(inode, inode.size);
  }

  protected async symlinkTarget(inode: XfsInode, path: string): Promise<Uint8Array> {
    if (inode.memory?.target) return inode.memory.target;
    if (inode.size > 4096 || inode.size === 0) throw corrupt(`symlink ${path} claims a ${inode.size}-byte target`);
    if (inode.format === FORMAT_LOCAL || this.version === 4) return this.readRange(inode, inode.size);
    // v5 remote symlinks: each block starts with a 56-byte "XSLM" header.
    const perBlock = this.blockSize - 56;
    const blocks = Math.ceil(inode.size / perBlock);
    const raw = await this.readRange(inode, blocks * this.blockSize);
    const out = new Uint8Array(inode.size);
    for (let b = 0; b < blocks; b++) {
      const block = raw.subarray(b * this.blockSize, (b + 1) * this.blockSize);
      if (ascii(block, 0, 4) !== "XSLM") throw corrupt(`symlink ${path} has a remote block without its XSLM header`);
      const length = Math.min(perBlock, inode.size - b * perBlock);
      out.set(block.subarray(56, 56 + length), b * perBlock);
    }
    return out;
  }
}

/** The whole first sector (the superblock's CRC covers it): 512 bytes up to 32 KiB. */
export async function readSuperblockSector(device: BlockDevice, first: Uint8Array): Promise<Uint8Array> {
  const sector = view(first).getUint16(102, false);
  if (sector <= 512 || sector > 32768 || (sector & (sector - 1)) !== 0) return first;
  return readBytes(device, 0, sector, "XFS superblock");
}

export function openXfs(device: BlockDevice): Promise<XfsFilesystem> {
  return XfsFilesystem.open(device);
}

/**
 * The XFS driver: read-only opens read any clean or dirty XFS v4/v5; writable opens go to the
 * writer (xfs-write.ts), loaded on first use.
 */
export const xfsDriver: FilesystemDriver = {
  types: ["xfs"],
  async open(device: BlockDevice, options: OpenFilesystemOptions = {}): Promise<WritableFilesystem> {
    if (options.writable) {
      const { openXfsWritable } = await import("./xfs-write.js");
      return openXfsWritable(device);
    }
    return (await XfsFilesystem.open(device)) as unknown as WritableFilesystem;
  },
} as FilesystemDriver;
