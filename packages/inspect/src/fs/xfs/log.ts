import type { BlockDevice } from "@leapp/storage";
import { corrupt, readBytes, view } from "../../block/volumes-io.js";

const RECORD_MAGIC = 0xfeedbabe;
const BB = 512;
const OP_START = 0x01;
const OP_COMMIT = 0x02;
const OP_WAS_CONTINUED = 0x08;
const OP_UNMOUNT = 0x20;
const CLIENT_TRANSACTION = 0x69;
const ITEM_INODE = 0x123b;
const ITEM_BUF = 0x123c;
const BUF_INODE = 0x1;
const BUF_CANCEL = 0x4;
const BUF_QUOTA = 0x8 | 0x10 | 0x20;
const ILOG_DATA = 0x2;
const ILOG_EXTENTS = 0x4;
const ILOG_BROOT = 0x8;
const ILOG_ADATA = 0x40;
const ILOG_AEXT = 0x80;
const ILOG_ABROOT = 0x100;
/** Metadata changes larger than this are not replayed (the log itself is at most 2 GiB). */
const MAX_REPLAY_BYTES = 64 * 1024 * 1024;

/** A byte range of the device as the committed log says it should read. */
export interface LogPatch {
  offset: number;
  bytes: Uint8Array;
  /** The metadata buffer (disk address in basic blocks) the patch came from. */
  buffer?: number;
  /** Cancelled by a later transaction (the buffer was freed). */
  dropped?: boolean;
}

export interface XfsLogGeometry {
  /** Byte offset of the internal log and its length in 512-byte basic blocks. */
  base: number;
  basicBlocks: number;
  /** Block of the last record header before the head. */
  lastRecord: number;
  head: number;
  inodeSize: number;
  version: 4 | 5;
}

/** Which on-disk inode fields (offset, width) the host-endian log inode stores natively. */
const DINODE_FIELDS: Array<[number, 1 | 2 | 4 | 8]> = [
  [0, 2], [2, 2], [4, 1], [5, 1], [6, 2], [8, 4], [12, 4], [16, 4], [20, 2], [22, 2],
  [56, 8], [64, 8], [72, 4], [76, 4], [80, 2], [82, 1], [83, 1], [84, 4], [88, 2], [90, 2], [92, 4], [96, 4],
];
const DINODE_V3_FIELDS: Array<[number, 1 | 2 | 4 | 8]> = [[100, 4], [104, 8], [112, 8], [120, 8], [128, 4], [152, 8]];

function swapInto(from: DataView, to: DataView, offset: number, width: 1 | 2 | 4 | 8): void {
  if (width === 1) to.setUint8(offset, from.getUint8(offset));
  else if (width === 2) to.setUint16(offset, from.getUint16(offset, true), false);
  else if (width === 4) to.setUint32(offset, from.getUint32(offset, true), false);
  else to.setBigUint64(offset, from.getBigUint64(offset, true), false);
}

/**
 * Replays the committed transactions of a dirty XFS log read-only: buffer items (dirty 128-byte
 * chunks of metadata blocks) and inode items (core, data and attribute forks) become patches over
 * the device, in log order. Logs written by big-endian hosts, extended record headers and other
 * item types are left alone (undefined: the caller keeps reading the filesystem as it is on disk).
 */
export async function replayXfsLog(device: BlockDevice, geometry: XfsLogGeometry): Promise<LogPatch[] | undefined> {
  const { base, basicBlocks } = geometry;
  const readBB = (bb: number, count: number) => readBytes(device, base + bb * BB, count * BB, "XFS log");
  const last = view(await readBB(geometry.lastRecord, 1));
  const tail = Number(last.getBigUint64(24, false) & 0xffffffffn);
  if (tail >= basicBlocks) throw corrupt("the XFS log tail lies outside the log");
  const transactions = new Map<number, Uint8Array[]>();
  const committed: Uint8Array[][] = [];
  let total = 0;
  let bb = tail;
  for (let records = 0; records < basicBlocks; records++) {
    if (bb === geometry.head) break;
    const header = view(await readBB(bb, 1));
    if (header.getUint32(0, false) !== RECORD_MAGIC) throw corrupt(`no XFS log record header at log block ${bb}`);
    const length = header.getUint32(12, false);
    const operations = header.getUint32(40, false);
    const headerSize = header.getUint32(320, false);
    if (header.getUint32(8, false) >= 2 && headerSize > 32768) return undefined;
    if (header.getUint32(300, false) !== 1) return undefined; // h_fmt: only logs of little-endian Linux hosts
    const dataBlocks = Math.ceil(length / BB);
    if (dataBlocks > 64) return undefined; // a record over 32 KiB needs extended headers
    const data = new Uint8Array(dataBlocks * BB);
    for (let i = 0; i < dataBlocks; i++) {
      const block = await readBB((bb + 1 + i) % basicBlocks, 1);
      data.set(block, i * BB);
      // The first word of each block was replaced by the cycle number; the header keeps the original.
      data.set(new Uint8Array(header.buffer, header.byteOffset + 44 + i * 4, 4), i * BB);
    }
    const dv = view(data);
    let at = 0;
    for (let op = 0; op < operations; op++) {
      if (at + 12 > length) throw corrupt(`an XFS log record at block ${bb} overruns its length`);
      const tid = dv.getUint32(at, false);
      const opLength = dv.getUint32(at + 4, false);
      const client = data[at + 8]!;
      const flags = data[at + 9]!;
      const payload = data.subarray(at + 12, at + 12 + opLength);
      if (at + 12 + opLength > length) throw corrupt(`an XFS log operation at block ${bb} overruns its record`);
      at += 12 + opLength;
      if (flags & OP_UNMOUNT || client !== CLIENT_TRANSACTION) continue;
      if (flags & OP_START) {
        transactions.set(tid, []);
        continue;
      }
      const regions = transactions.get(tid);
      if (!regions) continue; // began before the tail: already on disk
      total += payload.length;
      if (total > MAX_REPLAY_BYTES) return undefined;
      if (flags & OP_WAS_CONTINUED && regions.length > 0) {
        const previous = regions[regions.length - 1]!;
        const joined = new Uint8Array(previous.length + payload.length);
        joined.set(previous);
        joined.set(payload, previous.length);
        regions[regions.length - 1] = joined;
      } else if (payload.length > 0) {
        regions.push(payload.slice());
      }
      if (flags & OP_COMMIT) {
        committed.push(regions);
        transactions.delete(tid);
      }
    }
    bb = (bb + 1 + dataBlocks) % basicBlocks;
  }
  const patches: LogPatch[] = [];
  const byBuffer = new Map<number, LogPatch[]>();
  for (const regions of committed) itemsToPatches(regions, geometry, patches, byBuffer);
  return patches.filter((patch) => !patch.dropped);
}

function itemsToPatches(regions: Uint8Array[], geometry: XfsLogGeometry, patches: LogPatch[], byBuffer: Map<number, LogPatch[]>): void {
  // regions[0] is the transaction header ("TRAN"); then items, each a format region and its data.
  let i = 1;
  while (i < regions.length) {
    const format = regions[i]!;
    if (format.length < 4) throw corrupt("an XFS log item has a truncated format header");
    const fv = view(format);
    const type = fv.getUint16(0, true);
    const count = Math.max(1, fv.getUint16(2, true));
    const item = regions.slice(i, i + count);
    i += count;
    if (type === ITEM_BUF && format.length >= 20) bufferPatches(fv, item, patches, byBuffer);
    else if (type === ITEM_INODE && format.length >= 56 && item.length >= 2) inodePatch(fv, item, geometry, patches);
  }
}

function bufferPatches(format: DataView, item: Uint8Array[], patches: LogPatch[], byBuffer: Map<number, LogPatch[]>): void {
  const flags = format.getUint16(4, true);
  const blkno = Number(format.getBigInt64(8, true));
  if (flags & BUF_CANCEL) {
    // The buffer was freed: its earlier logged copies must not land on whatever reuses the space.
    for (const patch of byBuffer.get(blkno) ?? []) patch.dropped = true;
    byBuffer.delete(blkno);
    return;
  }
  // Inode cluster buffers carry only unlinked-list pointers (inode items carry the inodes), and
  // quota buffers nothing a reader needs: replaying their chunks would bring back stale inodes.
  if (flags & (BUF_INODE | BUF_QUOTA)) return;
  const mapWords = Math.min(format.getUint32(16, true), Math.floor((format.byteLength - 20) / 4));
  const bit = (n: number) => (format.getUint32(20 + Math.floor(n / 32) * 4, true) >>> (n % 32)) & 1;
  let region = 1;
  for (let n = 0; n < mapWords * 32 && region < item.length; ) {
    if (!bit(n)) {
      n++;
      continue;
    }
    let end = n;
    while (end < mapWords * 32 && bit(end)) end++;
    const data = item[region++]!;
    const patch: LogPatch = { offset: blkno * BB + n * 128, bytes: data.subarray(0, Math.min(data.length, (end - n) * 128)), buffer: blkno };
    patches.push(patch);
    let list = byBuffer.get(blkno);
    if (!list) byBuffer.set(blkno, (list = []));
    list.push(patch);
    n = end;
  }
}

function inodePatch(format: DataView, item: Uint8Array[], geometry: XfsLogGeometry, patches: LogPatch[]): void {
  const fields = format.getUint32(4, true);
  const at = Number(format.getBigInt64(40, true)) * BB + format.getInt32(52, true);
  const core = item[1]!;
  const v3 = geometry.version === 5;
  const coreSize = v3 ? 176 : 100;
  if (core.length < (v3 ? 176 : 96) || at < 0) return;
  // The core: the same layout as on disk, but in the host's (little-endian) byte order.
  const inode = new Uint8Array(coreSize);
  const from = view(core);
  const to = view(inode);
  for (const [offset, width] of DINODE_FIELDS) swapInto(from, to, offset, width);
  const flags2 = v3 ? from.getBigUint64(120, true) : 0n;
  const bigtime = (flags2 & (1n << 3n)) !== 0n;
  if (flags2 & (1n << 4n)) swapInto(from, to, 24, 8);
  else swapInto(from, to, 30, 2);
  const timestamp = (offset: number) => {
    if (bigtime) swapInto(from, to, offset, 8);
    else {
      swapInto(from, to, offset, 4);
      swapInto(from, to, offset + 4, 4);
    }
  };
  for (const offset of [32, 40, 48]) timestamp(offset);
  if (v3) {
    for (const [offset, width] of DINODE_V3_FIELDS) swapInto(from, to, offset, width);
    timestamp(144);
    inode.set(core.subarray(160, 176), 160);
  } else {
    inode.set(new Uint8Array(4).fill(0xff), 96); // di_next_unlinked: NULLAGINO (recovery keeps the disk's)
  }
  patches.push({ offset: at, bytes: inode.subarray(0, v3 ? 176 : 96) });
  // After the core come the data fork's region (if logged), then the attribute fork's (if logged),
  // each placed where the logged core's fork offset puts it.
  const forkOffset = to.getUint8(82) * 8;
  const dataFork = fields & (ILOG_DATA | ILOG_EXTENTS | ILOG_BROOT) ? item[2] : undefined;
  const attrFork = fields & (ILOG_ADATA | ILOG_AEXT | ILOG_ABROOT) ? item[dataFork ? 3 : 2] : undefined;
  const literal = geometry.inodeSize - coreSize;
  if (dataFork) {
    const bytes = forkBytes(dataFork, format.getUint16(10, true), (fields & ILOG_BROOT) !== 0, forkOffset || literal, v3);
    if (bytes) patches.push({ offset: at + coreSize, bytes });
  }
  if (attrFork && forkOffset > 0 && forkOffset < literal) {
    const bytes = forkBytes(attrFork, format.getUint16(8, true), (fields & ILOG_ABROOT) !== 0, literal - forkOffset, v3);
    if (bytes) patches.push({ offset: at + coreSize + forkOffset, bytes });
  }
}

/** A logged fork as it lies in the inode: its `size` logged bytes, or a B+tree root in disk form. */
function forkBytes(region: Uint8Array, size: number, broot: boolean, room: number, v3: boolean): Uint8Array | undefined {
  if (!broot) return region.subarray(0, Math.min(size, region.length, room));
  // Logged as an in-memory long-format btree block; on disk the root is the short bmdr form.
  const header = v3 ? 72 : 24;
  if (region.length < header) return undefined;
  const fv = view(region);
  const records = fv.getUint16(6, false);
  const memoryMax = Math.floor((region.length - header) / 16);
  const diskMax = Math.floor((room - 4) / 16);
  if (records > memoryMax || records > diskMax) return undefined;
  const root = new Uint8Array(room);
  const rv = view(root);
  rv.setUint16(0, fv.getUint16(4, false), false);
  rv.setUint16(2, records, false);
  root.set(region.subarray(header, header + records * 8), 4);
  root.set(region.subarray(header + memoryMax * 8, header + memoryMax * 8 + records * 8), 4 + diskMax * 8);
  return root;
}

/** A device that reads with the replayed log's patches applied, later patches winning. */
export function overlayLog(device: BlockDevice, patches: LogPatch[]): BlockDevice {
  if (patches.length === 0) return device;
  // Offsets come from the log (64-bit block numbers): one past the device is a damaged log, and
  // one past 2^53 would never advance the page loop below.
  for (const patch of patches) {
    if (!Number.isSafeInteger(patch.offset) || patch.offset < 0 || patch.offset + patch.bytes.length > device.size) {
      throw corrupt(`an XFS log item rewrites bytes at ${patch.offset}, outside the ${device.size}-byte filesystem`);
    }
  }
  const PAGE = 4096;
  const byPage = new Map<number, number[]>();
  patches.forEach((patch, index) => {
    for (let page = Math.floor(patch.offset / PAGE); page <= Math.floor((patch.offset + patch.bytes.length - 1) / PAGE); page++) {
      let list = byPage.get(page);
      if (!list) byPage.set(page, (list = []));
      list.push(index);
    }
  });
  return {
    ...device,
    async read(buffer, position) {
      await device.read(buffer, position);
      const end = position + buffer.length;
      const seen = new Set<number>();
      const touching: number[] = [];
      for (let page = Math.floor(position / PAGE); page <= Math.floor((end - 1) / PAGE); page++) {
        for (const index of byPage.get(page) ?? []) {
          if (seen.has(index)) continue;
          seen.add(index);
          touching.push(index);
        }
        if (touching.length > 100_000) break;
      }
      touching.sort((a, b) => a - b);
      for (const index of touching) {
        const { offset, bytes } = patches[index]!;
        const from = Math.max(position, offset);
        const to = Math.min(end, offset + bytes.length);
        if (from < to) buffer.set(bytes.subarray(from - offset, to - offset), from - position);
      }
    },
    async close() {},
  };
}
