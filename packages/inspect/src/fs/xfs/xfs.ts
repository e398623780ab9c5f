import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { InodeFilesystem, runsFile, typeOfMode, type DataRun } from "../inode-filesystem.js";
import type { FilesystemDriver, GuestFile, OpenFilesystemOptions, WritableFilesystem } from "../filesystem.js";
import { BlockCache, corrupt, cString, readBytes, uuidString, view } from "../../block/volumes-io.js";
import { overlayLog, replayXfsLog } from "./log.js";

const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const MAX_BTREE_LEVELS = 10;
/** Directory data blocks live below this byte offset; leaf and free-index blocks above it. */
const DIR_LEAF_OFFSET = 32 * 2 ** 30;

const FORMAT_DEV = 0;
const FORMAT_LOCAL = 1;
const FORMAT_EXTENTS = 2;
const FORMAT_BTREE = 3;

const V2_FTYPE = 0x200;
const INCOMPAT_FTYPE = 0x1;
const INCOMPAT_KNOWN = 0x1 | 0x2 | 0x4 | 0x8 | 0x20;
const DIFLAG2_BIGTIME = 1n << 3n;
const DIFLAG2_NREXT64 = 1n << 4n;

/** A mapping of file blocks: `count` blocks at file block `offset` are at filesystem block `block`. */
interface Extent {
  offset: number;
  block: number;
  count: number;
  unwritten: boolean;
}

interface Inode {
  number: bigint;
  mode: number;
  format: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  rdevMajor: number;
  rdevMinor: number;
  extentCount: number;
  /** The data fork: local bytes, an extent list or a btree root. */
  fork: Uint8Array;
}

const ascii = (bytes: Uint8Array, offset: number, length: number): string => String.fromCharCode(...bytes.subarray(offset, offset + length));

/**
 * An XFS v4 or v5 filesystem, read by our own reader: superblock and AG geometry, inodes located
 * from their numbers, local/extent/btree data forks, short-form, block, leaf and node directories
 * (data blocks walked by the extent map), local and remote symlinks, and files with holes.
 */
export class XfsFilesystem extends InodeFilesystem<bigint, Inode> {
  protected readonly kind = "XFS";
  readonly type = "xfs";
  readonly uuid: string | undefined;
  readonly label: string | undefined;
  readonly version: 4 | 5;
  private readonly cache: BlockCache;
  private readonly blockSize: number;
  private readonly agBlocks: number;
  private readonly agCount: number;
  private readonly agBlockLog: number;
  private readonly inodeSize: number;
  private readonly inodesPerBlockLog: number;
  private readonly dirBlockSize: number;
  private readonly ftype: boolean;
  private readonly rootInode: bigint;
  /**
   * False when the log holds changes not yet written home (the filesystem was not cleanly
   * unmounted): the kernel would replay them first, this reader does not, so what it reads may be
   * stale. Shut the guest down cleanly, or mount a copy of the image once, to settle the log.
   */
  cleanLog = true;
  /** The log was not clean and its committed changes were replayed in memory. */
  replayedLog = false;

  private constructor(private readonly device: BlockDevice, sb: Uint8Array) {
    super();
    const dv = view(sb);
    this.blockSize = dv.getUint32(4, false);
    const blockLog = sb[120]!;
    if (blockLog < 9 || blockLog > 16 || this.blockSize !== 2 ** blockLog) throw corrupt(`the XFS superblock claims ${this.blockSize}-byte blocks`);
    const version = dv.getUint16(100, false) & 0xf;
    if (version !== 4 && version !== 5) throw new InspectError("INSPECT_UNSUPPORTED", `XFS version ${version} is not supported (only v4 and v5)`);
    this.version = version;
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
    this.cache = new BlockCache(device, this.blockSize, 8192, "XFS block");
  }

  static async open(device: BlockDevice): Promise<XfsFilesystem> {
    const sb = await readBytes(device, 0, 512, "XFS superblock");
    if (ascii(sb, 0, 4) !== "XFSB") throw new InspectError("INSPECT_UNSUPPORTED", "no XFS superblock on this volume");
    const fs = new XfsFilesystem(device, sb);
    const root = await fs.inode(fs.rootInode);
    if (typeOfMode(root.mode) !== "directory") throw corrupt("the XFS root inode is not a directory");
    const dv = view(sb);
    const log = await fs.logState(Number(dv.getBigUint64(48, false)), dv.getUint32(96, false));
    if (log && !log.clean && log.lastRecord >= 0) {
      // Not cleanly unmounted: read it as the kernel would after replaying the log.
      const patches = await replayXfsLog(device, { ...log, inodeSize: fs.inodeSize, version: fs.version });
      if (patches && patches.length > 0) {
        const replayed = overlayLog(device, patches);
        const again = new XfsFilesystem(replayed, await readBytes(replayed, 0, 512, "XFS superblock"));
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

  /**
   * Whether the internal log ends in an unmount record. A log that does not (a snapshot of a
   * running guest, a crash) holds metadata changes the kernel would replay before mounting; this
   * reader does not replay them, so such a filesystem may read stale.
   */
  private async logState(logStart: number, logBlocks: number): Promise<{ clean: boolean; base: number; basicBlocks: number; head: number; lastRecord: number } | undefined> {
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
      return { clean: operations === 1 && (op[9]! & UNMOUNT_TRANS) !== 0, base, basicBlocks, head, lastRecord: bb };
    }
    return { clean: false, base, basicBlocks, head, lastRecord: -1 };
  }

  /** A filesystem block number (AG number in the high bits) as a linear block index. */
  private linearBlock(fsBlock: number, what: string): number {
    const agno = Math.floor(fsBlock / 2 ** this.agBlockLog);
    const agbno = fsBlock % 2 ** this.agBlockLog;
    if (!Number.isSafeInteger(fsBlock) || agno >= this.agCount || agbno >= this.agBlocks) throw corrupt(`${what} points to block ${fsBlock}, outside the XFS filesystem`);
    const linear = agno * this.agBlocks + agbno;
    if ((linear + 1) * this.blockSize > this.device.size) throw corrupt(`${what} points past the end of the device`);
    return linear;
  }

  protected async inode(number: bigint): Promise<Inode> {
    const inoLog = BigInt(this.inodesPerBlockLog);
    const agLog = BigInt(this.agBlockLog);
    const agno = Number(number >> (inoLog + agLog));
    const agbno = Number((number >> inoLog) & ((1n << agLog) - 1n));
    const slot = Number(number & ((1n << inoLog) - 1n));
    if (agno >= this.agCount || agbno >= this.agBlocks) throw corrupt(`inode number ${number} lies outside the XFS filesystem`);
    const block = agno * this.agBlocks + agbno;
    const raw = await this.cache.bytes(block * this.blockSize + slot * this.inodeSize, this.inodeSize);
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
    };
  }

  private parseExtent(dv: DataView, at: number): Extent {
    const hi = dv.getBigUint64(at, false);
    const lo = dv.getBigUint64(at + 8, false);
    return {
      unwritten: hi >> 63n === 1n,
      offset: Number((hi & 0x7fffffffffffffffn) >> 9n),
      block: Number(((hi & 0x1ffn) << 43n) | (lo >> 21n)),
      count: Number(lo & 0x1fffffn),
    };
  }

  /** The data fork's extents (extent list or B+tree), bounded by the file's logical size. */
  private async extents(inode: Inode, maxBlocks: number): Promise<Extent[]> {
    const out: Extent[] = [];
    const take = (e: Extent) => {
      if (e.count === 0 || e.offset >= maxBlocks) return;
      out.push(e);
      if (out.length > maxBlocks) throw corrupt(`inode ${inode.number} has more extents than blocks`);
    };
    if (inode.format === FORMAT_EXTENTS) {
      if (inode.extentCount * 16 > inode.fork.length) throw corrupt(`inode ${inode.number} claims ${inode.extentCount} extents in its fork`);
      const dv = view(inode.fork);
      for (let i = 0; i < inode.extentCount; i++) take(this.parseExtent(dv, i * 16));
    } else if (inode.format === FORMAT_BTREE) {
      const dv = view(inode.fork);
      const level = dv.getUint16(0, false);
      const records = dv.getUint16(2, false);
      const maxRecords = Math.floor((inode.fork.length - 4) / 16);
      if (level === 0 || level > MAX_BTREE_LEVELS || records > maxRecords) throw corrupt(`inode ${inode.number} has a bad extent btree root`);
      const visited = new Set<number>();
      for (let i = 0; i < records; i++) {
        const pointer = Number(dv.getBigUint64(4 + maxRecords * 8 + i * 8, false));
        await this.walkBmbt(inode, pointer, level - 1, visited, take);
      }
    } else {
      throw corrupt(`inode ${inode.number} has data fork format ${inode.format} where extents were expected`);
    }
    out.sort((a, b) => a.offset - b.offset);
    return out;
  }

  private async walkBmbt(inode: Inode, fsBlock: number, level: number, visited: Set<number>, take: (e: Extent) => void): Promise<void> {
    const linear = this.linearBlock(fsBlock, `an extent btree block of inode ${inode.number}`);
    if (visited.has(linear)) throw corrupt(`inode ${inode.number}'s extent btree loops through block ${fsBlock}`);
    visited.add(linear);
    const block = await this.cache.block(linear);
    const dv = view(block);
    const magic = ascii(block, 0, 4);
    if (magic !== (this.version === 5 ? "BMA3" : "BMAP")) throw corrupt(`inode ${inode.number}'s extent btree block ${fsBlock} has magic ${JSON.stringify(magic)}`);
    const header = this.version === 5 ? 72 : 24;
    if (dv.getUint16(4, false) !== level) throw corrupt(`inode ${inode.number}'s extent btree block ${fsBlock} is at the wrong level`);
    const records = dv.getUint16(6, false);
    const maxRecords = Math.floor((this.blockSize - header) / 16);
    if (records > maxRecords) throw corrupt(`inode ${inode.number}'s extent btree block ${fsBlock} claims ${records} records`);
    if (level === 0) {
      for (let i = 0; i < records; i++) take(this.parseExtent(dv, header + i * 16));
      return;
    }
    for (let i = 0; i < records; i++) {
      const pointer = Number(dv.getBigUint64(header + maxRecords * 8 + i * 8, false));
      await this.walkBmbt(inode, pointer, level - 1, visited, take);
    }
  }

  /** Bytes [0, length) of a file's data fork, holes and unwritten extents as zeros. */
  private async readRange(inode: Inode, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    if (inode.format === FORMAT_LOCAL) {
      if (length > inode.fork.length) throw corrupt(`inode ${inode.number} claims ${length} bytes of local data in a ${inode.fork.length}-byte fork`);
      out.set(inode.fork.subarray(0, length));
      return out;
    }
    const blocks = Math.ceil(length / this.blockSize);
    const extents = await this.extents(inode, blocks);
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

  private readInumber(dv: DataView, at: number, wide: boolean): bigint {
    return wide ? dv.getBigUint64(at, false) : BigInt(dv.getUint32(at, false));
  }

  private shortFormDirectory(inode: Inode): Map<string, bigint> {
    const fork = inode.fork.subarray(0, Math.min(inode.size, inode.fork.length));
    const dv = view(fork);
    const entries = new Map<string, bigint>();
    if (fork.length < 6) throw corrupt(`directory inode ${inode.number} has a truncated short-form header`);
    const count = fork[0]!;
    const wide = fork[1]! > 0;
    let at = 2 + (wide ? 8 : 4);
    for (let i = 0; i < count; i++) {
      if (at + 3 > fork.length) throw corrupt(`directory inode ${inode.number} has a truncated short-form entry`);
      const nameLength = fork[at]!;
      const entrySize = 3 + nameLength + (this.ftype ? 1 : 0) + (wide ? 8 : 4);
      if (nameLength === 0 || at + entrySize > fork.length) throw corrupt(`directory inode ${inode.number} has a malformed short-form entry`);
      const name = new TextDecoder().decode(fork.subarray(at + 3, at + 3 + nameLength));
      entries.set(name, this.readInumber(dv, at + 3 + nameLength + (this.ftype ? 1 : 0), wide));
      at += entrySize;
    }
    return entries;
  }

  private parseDataBlock(inode: Inode, block: Uint8Array, entries: Map<string, bigint>): void {
    const dv = view(block);
    const magic = ascii(block, 0, 4);
    const v5 = this.version === 5;
    const isBlockForm = magic === (v5 ? "XDB3" : "XD2B");
    if (!isBlockForm && magic !== (v5 ? "XDD3" : "XD2D")) throw corrupt(`directory inode ${inode.number} has a data block with magic ${JSON.stringify(magic)}`);
    let end = block.length;
    if (isBlockForm) {
      // Block form: leaf entries and a tail (count, stale) fill the end of the block.
      const leafCount = dv.getUint32(block.length - 8, false);
      end = block.length - 8 - leafCount * 8;
      if (end < 0) throw corrupt(`directory inode ${inode.number} claims ${leafCount} leaf entries in its block`);
    }
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
      const name = new TextDecoder().decode(block.subarray(at + 9, at + 9 + nameLength));
      if (name !== "." && name !== "..") entries.set(name, dv.getBigUint64(at, false));
      at += size;
    }
  }

  protected async readDirectory(inode: Inode): Promise<Map<string, bigint>> {
    if (inode.format === FORMAT_LOCAL) return this.shortFormDirectory(inode);
    // di_size of a block/leaf/node directory covers just its data blocks (below the leaf offset).
    const length = Math.min(inode.size, DIR_LEAF_OFFSET);
    if (length > MAX_DIRECTORY_BYTES) throw new InspectError("INSPECT_TOO_LARGE", `directory inode ${inode.number} is ${length} bytes; leapp reads directories up to ${MAX_DIRECTORY_BYTES} bytes`);
    const data = await this.readRange(inode, length);
    const entries = new Map<string, bigint>();
    for (let at = 0; at + this.dirBlockSize <= data.length; at += this.dirBlockSize) {
      const block = data.subarray(at, at + this.dirBlockSize);
      if (block[0] === 0 && block[1] === 0 && block[2] === 0 && block[3] === 0) continue; // a hole left by removed data blocks
      this.parseDataBlock(inode, block, entries);
    }
    return entries;
  }

  protected rootInodeNumber(): bigint {
    return this.rootInode;
  }

  protected async openInode(inode: Inode, path: string): Promise<GuestFile> {
    if (inode.format === FORMAT_DEV) throw corrupt(`${path} is a regular file with a device fork`);
    if (inode.format === FORMAT_LOCAL) return runsFile(this.device, inode.size, await this.readRange(inode, inode.size));
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

  protected async inodeXattrs(_inode: Inode, path: string): Promise<Map<string, Uint8Array>> {
    throw new InspectError("INSPECT_UNSUPPORTED", `${path}: reading XFS extended attributes is not implemented yet`, { path });
  }

  // eslint-disable-next-line require-yield
  async *freeRanges(): AsyncIterable<{ offset: number; length: number }> {
    throw new InspectError("INSPECT_UNSUPPORTED", "listing the free blocks of an XFS filesystem is not implemented yet");
  }

  protected async fileContent(inode: Inode, maxBytes: number, path: string): Promise<Uint8Array> {
    if (inode.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} is ${inode.size} bytes, over the ${maxBytes}-byte limit; raise maxBytes if it is really needed`, { path });
    if (inode.format === FORMAT_DEV) throw corrupt(`${path} is a regular file with a device fork`);
    return this.readRange(inode, inode.size);
  }

  protected async symlinkTarget(inode: Inode, path: string): Promise<Uint8Array> {
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

export function openXfs(device: BlockDevice): Promise<XfsFilesystem> {
  return XfsFilesystem.open(device);
}

/** The XFS driver. Writing is not implemented yet: a writable open is refused. */
export const xfsDriver: FilesystemDriver = {
  types: ["xfs"],
  async open(device: BlockDevice, options: OpenFilesystemOptions = {}): Promise<WritableFilesystem> {
    if (options.writable) throw new InspectError("INSPECT_UNSUPPORTED", "writing XFS filesystems is not implemented yet");
    return (await XfsFilesystem.open(device)) as unknown as WritableFilesystem;
  },
} as FilesystemDriver;
