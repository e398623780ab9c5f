// The allocation groups of a writable XFS: free space, inode chunks, reverse mappings and shared
// extents held in memory as sorted records (loaded from an AG's B+trees the first time it is
// touched), and the B+trees rebuilt from them on flush, with the AG headers' counters to match.
import { InspectError } from "../../errors.js";
import { corrupt, view } from "../../block/volumes-io.js";
import { buildTree, treeBlocks, type TreeShape } from "./btree-build.js";
import { ascii, NULL_AGBLOCK, setCrc, type MetadataCache } from "./format.js";

export const OWN_FS = -3n & 0xffffffffffffffffn;
export const OWN_LOG = -4n & 0xffffffffffffffffn;
export const OWN_AG = -5n & 0xffffffffffffffffn;
export const OWN_INOBT = -6n & 0xffffffffffffffffn;
export const OWN_INODES = -7n & 0xffffffffffffffffn;
export const OWN_REFC = -8n & 0xffffffffffffffffn;
const OWN_MIN = -10n & 0xffffffffffffffffn;

/** Reverse-mapping flags (the high bits of the record's offset). */
export const RMAP_ATTR = 1;
export const RMAP_BMBT = 2;
export const RMAP_UNWRITTEN = 4;

export interface FreeExtent {
  start: number;
  length: number;
}

export interface InodeChunk {
  /** AG inode number of the chunk's first inode. */
  start: number;
  /** Sparse chunks: one bit per 4 inodes that are not there. */
  holemask: number;
  count: number;
  freecount: number;
  /** One bit per inode, set when free (holes are set too). */
  free: bigint;
}

export interface Rmap {
  start: number;
  length: number;
  owner: bigint;
  offset: number;
  flags: number;
}

interface Refcount {
  start: number;
  length: number;
  refcount: number;
}

/** What the AG code needs of the filesystem. */
export interface SpaceGeometry {
  version: 4 | 5;
  blockSize: number;
  sectorSize: number;
  agBlocks: number;
  agCount: number;
  metaUuid: Uint8Array;
  finobt: boolean;
  rmapbt: boolean;
  reflink: boolean;
  sparseInodes: boolean;
  inobtCount: boolean;
  lazyCounters: boolean;
  cache: MetadataCache;
  lsn(): bigint;
  walkShortBtree(agno: number, root: number, levels: number, magic: string, recordSize: number, keySize: number, record: (rec: DataView) => void, blocks?: number[]): Promise<void>;
}

const isInodeOwner = (owner: bigint) => owner < OWN_MIN;

function mergeable(a: Rmap, b: Rmap): boolean {
  if (a.owner !== b.owner || a.start + a.length !== b.start || a.length + b.length > 0xffffffff) return false;
  if (!isInodeOwner(b.owner)) return true;
  if (a.flags !== b.flags) return false;
  return (a.flags & RMAP_BMBT) !== 0 || a.offset + a.length === b.offset;
}

function keyOffset(r: Rmap): bigint {
  return BigInt(r.offset) | (r.flags & RMAP_ATTR ? 1n << 63n : 0n) | (r.flags & RMAP_BMBT ? 1n << 62n : 0n);
}

function compareRmap(a: Rmap, b: Rmap): number {
  if (a.start !== b.start) return a.start - b.start;
  if (a.owner !== b.owner) return a.owner < b.owner ? -1 : 1;
  const x = keyOffset(a);
  const y = keyOffset(b);
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Index of the last element whose `start` is at most `value` (−1 if none). */
function lastAtOrBefore<T extends { start: number }>(items: T[], value: number): number {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.start <= value) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** One allocation group's in-memory state. */
export class AllocationGroup {
  free: FreeExtent[] = [];
  freeBlocks = 0;
  chunks: InodeChunk[] = [];
  rmaps: Rmap[] = [];
  private refcounts: Refcount[] = [];
  private agfl: number[] = [];
  /** Blocks of the trees as loaded: freed when the trees are rebuilt. */
  private treeBlocks = { bno: [] as number[], cnt: [] as number[], ino: [] as number[], fino: [] as number[], rmap: [] as number[], refc: [] as number[] };
  dirty = false;
  private refcountsDirty = false;
  newIno: number | undefined;
  length: number;
  private agf!: Uint8Array;
  private agi!: Uint8Array;

  private constructor(
    private readonly g: SpaceGeometry,
    readonly agno: number,
  ) {
    this.length = g.agBlocks;
  }

  private get sectorBase(): number {
    return this.agno * this.g.agBlocks * this.g.blockSize;
  }

  /** Reads the AG's headers and every record of its B+trees. */
  static async load(g: SpaceGeometry, agno: number): Promise<AllocationGroup> {
    const ag = new AllocationGroup(g, agno);
    const v5 = g.version === 5;
    ag.agf = (await g.cache.bytes(ag.sectorBase + g.sectorSize, g.sectorSize, "XFS AGF")).slice();
    ag.agi = (await g.cache.bytes(ag.sectorBase + 2 * g.sectorSize, g.sectorSize, "XFS AGI")).slice();
    if (ascii(ag.agf, 0, 4) !== "XAGF" || ascii(ag.agi, 0, 4) !== "XAGI") throw corrupt(`AG ${agno} has no AGF or AGI magic`);
    const agf = view(ag.agf);
    const agi = view(ag.agi);
    if (agf.getUint32(8, false) !== agno || agi.getUint32(8, false) !== agno) throw corrupt(`AG ${agno}'s headers claim another AG number`);
    ag.length = agf.getUint32(12, false);
    if (ag.length === 0 || ag.length > g.agBlocks) throw corrupt(`AG ${agno} claims ${ag.length} blocks`);
    const tb = ag.treeBlocks;
    await g.walkShortBtree(agno, agf.getUint32(16, false), agf.getUint32(28, false), v5 ? "AB3B" : "ABTB", 8, 4, (r) => {
      const start = r.getUint32(0, false);
      const length = r.getUint32(4, false);
      if (length === 0 || start + length > ag.length) throw corrupt(`AG ${agno}'s free-space btree holds an extent outside the AG`);
      const last = ag.free[ag.free.length - 1];
      if (last && last.start + last.length >= start) throw corrupt(`AG ${agno}'s free-space btree holds overlapping or unsorted extents`);
      ag.free.push({ start, length });
      ag.freeBlocks += length;
    }, tb.bno);
    await g.walkShortBtree(agno, agf.getUint32(20, false), agf.getUint32(32, false), v5 ? "AB3C" : "ABTC", 8, 8, () => {}, tb.cnt);
    await g.walkShortBtree(agno, agi.getUint32(20, false), agi.getUint32(24, false), v5 ? "IAB3" : "IABT", 16, 4, (r) => {
      const start = r.getUint32(0, false);
      const chunk: InodeChunk = g.sparseInodes
        ? { start, holemask: r.getUint16(4, false), count: r.getUint8(6), freecount: r.getUint8(7), free: r.getBigUint64(8, false) }
        : { start, holemask: 0, count: 64, freecount: r.getUint32(4, false), free: r.getBigUint64(8, false) };
      if (chunk.count > 64 || chunk.freecount > chunk.count) throw corrupt(`AG ${agno}'s inode btree holds a bad record`);
      ag.chunks.push(chunk);
    }, tb.ino);
    if (g.finobt) await g.walkShortBtree(agno, agi.getUint32(328, false), agi.getUint32(332, false), v5 ? "FIB3" : "FIBT", 16, 4, () => {}, tb.fino);
    if (g.rmapbt) {
      await g.walkShortBtree(agno, agf.getUint32(24, false), agf.getUint32(36, false), "RMB3", 24, 40, (r) => {
        const raw = r.getBigUint64(16, false);
        ag.rmaps.push({
          start: r.getUint32(0, false),
          length: r.getUint32(4, false),
          owner: r.getBigUint64(8, false),
          offset: Number(raw & 0x3fffffffffffffn),
          flags: (raw >> 63n ? RMAP_ATTR : 0) | ((raw >> 62n) & 1n ? RMAP_BMBT : 0) | ((raw >> 61n) & 1n ? RMAP_UNWRITTEN : 0),
        });
      }, tb.rmap);
    }
    if (g.reflink) {
      await g.walkShortBtree(agno, agf.getUint32(88, false), agf.getUint32(92, false), "R3FC", 12, 4, (r) => {
        const start = r.getUint32(0, false);
        // CoW staging extents (the high bit) only exist while mounted; a clean filesystem has none.
        if (start & 0x80000000) throw new InspectError("INSPECT_DIRTY", `AG ${agno} holds copy-on-write staging extents; mount and unmount the filesystem once to settle them`);
        ag.refcounts.push({ start, length: r.getUint32(4, false), refcount: r.getUint32(8, false) });
      }, tb.refc);
    }
    // The AGFL: a circular list from flfirst, flcount long.
    const agflBytes = await g.cache.bytes(ag.sectorBase + 3 * g.sectorSize, g.sectorSize, "XFS AGFL");
    const listAt = v5 ? 36 : 0;
    const size = (g.sectorSize - listAt) / 4;
    const first = agf.getUint32(40, false);
    const count = agf.getUint32(48, false);
    if (first >= size || count > size) throw corrupt(`AG ${agno}'s free list claims ${count} blocks from slot ${first}`);
    for (let i = 0; i < count; i++) {
      const block = view(agflBytes).getUint32(listAt + ((first + i) % size) * 4, false);
      if (block >= ag.length) throw corrupt(`AG ${agno}'s free list holds block ${block}, outside the AG`);
      ag.agfl.push(block);
    }
    return ag;
  }

  private growthMemo = { key: "", value: 0 };

  /** Blocks the next rebuild of the trees may need beyond the blocks they hold now. */
  treeGrowth(): number {
    const t = this.treeBlocks;
    const key = `${this.free.length},${this.chunks.length},${this.rmaps.length},${this.refcounts.length},${t.bno.length + t.cnt.length + t.ino.length + t.fino.length + t.rmap.length + t.refc.length}`;
    if (this.growthMemo.key !== key) this.growthMemo = { key, value: this.computeTreeGrowth() };
    return this.growthMemo.value;
  }

  private computeTreeGrowth(): number {
    const leaf = (recordSize: number) => Math.floor((this.g.blockSize - (this.g.version === 5 ? 56 : 16)) / recordSize);
    const node = (keySize: number) => Math.floor((this.g.blockSize - (this.g.version === 5 ? 56 : 16)) / (keySize + 4));
    let need = 2 * treeBlocks(this.free.length + 2, leaf(8), node(8)) + treeBlocks(this.chunks.length + 1, leaf(16), node(4)) * (this.g.finobt ? 2 : 1);
    if (this.g.rmapbt) need += treeBlocks(this.rmaps.length + 4, leaf(24), node(40));
    if (this.g.reflink) need += treeBlocks(this.refcounts.length, leaf(12), node(4));
    const held = Object.values(this.treeBlocks).reduce((a, b) => a + b.length, 0);
    return Math.max(0, need - held) + 8;
  }

  // ---- free space ----

  /** Marks [start, start+length) free, merging with its neighbours. */
  addFree(start: number, length: number): void {
    if (length <= 0) return;
    if (start + length > this.length) throw corrupt(`a free of blocks ${start}+${length} runs outside AG ${this.agno}`);
    const i = lastAtOrBefore(this.free, start);
    const before = this.free[i];
    const after = this.free[i + 1];
    if ((before && before.start + before.length > start) || (after && start + length > after.start)) {
      throw corrupt(`blocks ${start}+${length} of AG ${this.agno} are freed twice: the filesystem's space accounting is inconsistent`);
    }
    this.freeBlocks += length;
    this.dirty = true;
    if (before && before.start + before.length === start) {
      before.length += length;
      if (after && before.start + before.length === after.start) {
        before.length += after.length;
        this.free.splice(i + 1, 1);
      }
    } else if (after && start + length === after.start) {
      after.start = start;
      after.length += length;
    } else {
      this.free.splice(i + 1, 0, { start, length });
    }
  }

  /** Takes [start, start+length) out of the free space; it must lie inside one free extent. */
  takeFree(start: number, length: number): void {
    const i = lastAtOrBefore(this.free, start);
    const extent = this.free[i];
    if (!extent || extent.start + extent.length < start + length) throw corrupt(`blocks ${start}+${length} of AG ${this.agno} are in use and free at once: its space accounting is inconsistent`);
    this.freeBlocks -= length;
    this.dirty = true;
    const tail = extent.start + extent.length - (start + length);
    if (extent.start === start) {
      extent.start += length;
      extent.length -= length;
      if (extent.length === 0) this.free.splice(i, 1);
    } else {
      extent.length = start - extent.start;
      if (tail > 0) this.free.splice(i + 1, 0, { start: start + length, length: tail });
    }
  }

  /** The free extent that starts exactly at `start`, if any (to extend a file's last extent). */
  freeAt(start: number): FreeExtent | undefined {
    const i = lastAtOrBefore(this.free, start);
    const e = this.free[i];
    return e && e.start === start ? e : undefined;
  }

  /** The first free extent of at least `length` blocks, else the largest one. */
  bestFit(length: number): FreeExtent | undefined {
    let largest: FreeExtent | undefined;
    for (const e of this.free) {
      if (e.length >= length) return e;
      if (!largest || e.length > largest.length) largest = e;
    }
    return largest;
  }

  /** A free, `align`-aligned run of `length` blocks, if there is one. */
  alignedRun(length: number, align: number): number | undefined {
    for (const e of this.free) {
      const start = Math.ceil(e.start / align) * align;
      if (start + length <= e.start + e.length) return start;
    }
    return undefined;
  }

  // ---- reverse mappings ----

  addRmap(record: Rmap): void {
    if (!this.g.rmapbt) return;
    this.dirty = true;
    let lo = 0;
    let hi = this.rmaps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareRmap(this.rmaps[mid]!, record) < 0) lo = mid + 1;
      else hi = mid;
    }
    const before = this.rmaps[lo - 1];
    const after = this.rmaps[lo];
    if (before && mergeable(before, record)) {
      before.length += record.length;
      if (after && mergeable(before, after)) {
        before.length += after.length;
        this.rmaps.splice(lo, 1);
      }
    } else if (after && mergeable(record, after)) {
      after.start = record.start;
      after.offset = record.offset;
      after.length += record.length;
    } else {
      this.rmaps.splice(lo, 0, { ...record });
    }
  }

  /** Removes the mapping of `owner` over [start, start+length) (and the file offsets it covered). */
  removeRmap(start: number, length: number, owner: bigint): void {
    if (!this.g.rmapbt) return;
    this.dirty = true;
    let i = lastAtOrBefore(this.rmaps, start);
    for (let steps = 0; i >= 0 && steps < 100_000; i--, steps++) {
      const r = this.rmaps[i]!;
      if (r.owner !== owner || r.start > start || r.start + r.length < start + length) continue;
      const pieces: Rmap[] = [];
      if (r.start < start) pieces.push({ ...r, length: start - r.start });
      if (r.start + r.length > start + length) {
        const skip = start + length - r.start;
        pieces.push({ ...r, start: start + length, length: r.length - skip, offset: isInodeOwner(owner) && !(r.flags & RMAP_BMBT) ? r.offset + skip : r.offset });
      }
      this.rmaps.splice(i, 1, ...pieces);
      return;
    }
    throw corrupt(`AG ${this.agno}'s reverse mappings do not show blocks ${start}+${length} owned by ${owner}`);
  }

  // ---- shared extents ----

  /**
   * Frees blocks of a file: ranges another file shares (the refcount btree) lose one reference
   * instead. Returns the blocks really freed.
   */
  releaseShared(start: number, length: number): FreeExtent[] {
    const out: FreeExtent[] = [];
    if (this.refcounts.length === 0) return [{ start, length }];
    let at = start;
    const end = start + length;
    while (at < end) {
      const i = this.refcounts.findIndex((r) => r.start + r.length > at && r.start < end);
      const shared = this.refcounts[i];
      if (!shared || shared.start >= end) {
        out.push({ start: at, length: end - at });
        break;
      }
      if (shared.start > at) {
        out.push({ start: at, length: shared.start - at });
        at = shared.start;
      }
      const to = Math.min(end, shared.start + shared.length);
      // Split the record around [at, to) and drop one reference there.
      const pieces: Refcount[] = [];
      if (shared.start < at) pieces.push({ ...shared, length: at - shared.start });
      if (shared.refcount > 2) pieces.push({ start: at, length: to - at, refcount: shared.refcount - 1 });
      if (shared.start + shared.length > to) pieces.push({ start: to, length: shared.start + shared.length - to, refcount: shared.refcount });
      this.refcounts.splice(i, 1, ...pieces);
      this.refcountsDirty = true;
      this.dirty = true;
      at = to;
    }
    return out;
  }

  isShared(start: number, length: number): boolean {
    return this.refcounts.some((r) => r.start < start + length && r.start + r.length > start);
  }

  // ---- rebuild ----

  private shortShape(magic: string, recordSize: number, keySize: number, highKey?: (r: Uint8Array) => Uint8Array): TreeShape {
    const g = this.g;
    const v5 = g.version === 5;
    const blocksPerFs = g.blockSize / 512;
    const base = this.agno * g.agBlocks;
    return {
      blockSize: g.blockSize,
      headerSize: v5 ? 56 : 16,
      recordSize,
      keySize,
      pointerSize: 4,
      writeHeader: (block, level, count, left, right, at) => {
        const dv = view(block);
        for (let i = 0; i < 4; i++) block[i] = magic.charCodeAt(i);
        dv.setUint16(4, level, false);
        dv.setUint16(6, count, false);
        dv.setUint32(8, left ?? NULL_AGBLOCK, false);
        dv.setUint32(12, right ?? NULL_AGBLOCK, false);
        if (v5) {
          dv.setBigUint64(16, BigInt((base + at) * blocksPerFs), false);
          dv.setBigUint64(24, g.lsn(), false);
          block.set(g.metaUuid, 32);
          dv.setUint32(48, this.agno, false);
        }
      },
      lowKey: (r) => r.subarray(0, highKey ? keySize / 2 : keySize),
      ...(highKey ? { highKey } : {}),
    };
  }

  private leafMax(recordSize: number): number {
    return Math.floor((this.g.blockSize - (this.g.version === 5 ? 56 : 16)) / recordSize);
  }

  private nodeMax(keySize: number): number {
    return Math.floor((this.g.blockSize - (this.g.version === 5 ? 56 : 16)) / (keySize + 4));
  }

  /** Takes `count` blocks from the end of the largest free extents, recording them for `owner`. */
  private takeForTrees(count: number, owner: bigint): number[] {
    const out: number[] = [];
    while (out.length < count) {
      let largest: FreeExtent | undefined;
      for (const e of this.free) if (!largest || e.length > largest.length) largest = e;
      if (!largest) throw new InspectError("INSPECT_NO_SPACE", `AG ${this.agno} has no room left for its own B+trees; free some space and try again`);
      const take = Math.min(largest.length, count - out.length);
      const start = largest.start + largest.length - take;
      this.takeFree(start, take);
      this.addRmap({ start, length: take, owner, offset: 0, flags: 0 });
      for (let b = 0; b < take; b++) out.push(start + b);
    }
    return out.sort((a, b) => a - b);
  }

  /** Frees the loaded trees' blocks, builds new trees from the records, writes them and the AG headers. */
  async rebuild(): Promise<{ freeBlocks: number; flcount: number; btreeBlocks: number; icount: number; ifree: number }> {
    const g = this.g;
    const v5 = g.version === 5;
    const tb = this.treeBlocks;
    const release = (blocks: number[], owner: bigint) => {
      for (const b of blocks) {
        this.addFree(b, 1);
        this.removeRmap(b, 1, owner);
      }
    };
    release(tb.bno, OWN_AG);
    release(tb.cnt, OWN_AG);
    release(tb.rmap, OWN_AG);
    release(tb.ino, OWN_INOBT);
    release(tb.fino, OWN_INOBT);
    if (this.refcountsDirty) release(tb.refc, OWN_REFC);

    const finoChunks = this.chunks.filter((c) => c.freecount > 0);
    const inoBlocks = this.takeForTrees(treeBlocks(this.chunks.length, this.leafMax(16), this.nodeMax(4)), OWN_INOBT);
    const finoBlocks = g.finobt ? this.takeForTrees(treeBlocks(finoChunks.length, this.leafMax(16), this.nodeMax(4)), OWN_INOBT) : [];
    const refcBlocks = this.refcountsDirty ? this.takeForTrees(treeBlocks(this.refcounts.length, this.leafMax(12), this.nodeMax(4)), OWN_REFC) : [];

    // The free-space and rmap trees describe the space they take themselves: take, recount, repeat.
    const taken: number[] = [];
    const allocLeaf = this.leafMax(8);
    const allocNode = this.nodeMax(8);
    const needed = () => 2 * treeBlocks(this.free.length, allocLeaf, allocNode) + (g.rmapbt ? treeBlocks(this.rmaps.length, this.leafMax(24), this.nodeMax(40)) : 0);
    for (let round = 0; taken.length < needed(); round++) {
      if (round > 16) throw corrupt(`AG ${this.agno}'s free space is too fragmented for its own B+trees`);
      taken.push(...this.takeForTrees(needed() - taken.length, OWN_AG));
    }
    taken.sort((a, b) => a - b);
    const need = needed();
    const agflSize = (g.sectorSize - (v5 ? 36 : 0)) / 4;
    const surplus = taken.splice(need);
    if (this.agfl.length + surplus.length > agflSize) throw new InspectError("INSPECT_NO_SPACE", `AG ${this.agno}'s free list has no room for ${surplus.length} spare blocks; run xfs_repair to rebuild it, then try again`);
    this.agfl.push(...surplus);

    const encode = (size: number, fill: (dv: DataView) => void) => {
      const bytes = new Uint8Array(size);
      fill(view(bytes));
      return bytes;
    };
    const writeTree = async (shape: TreeShape, records: Uint8Array[], blocks: number[]) => {
      const built = buildTree(shape, records, blocks);
      for (const block of built.blocks) {
        if (v5) setCrc(block.bytes, 52);
        await g.cache.write((this.agno * g.agBlocks + block.at) * g.blockSize, block.bytes);
      }
      return built;
    };
    const bnoCount = treeBlocks(this.free.length, allocLeaf, allocNode);
    const byBlock = this.free.map((e) => encode(8, (dv) => (dv.setUint32(0, e.start, false), dv.setUint32(4, e.length, false))));
    const byCount = [...this.free].sort((a, b) => a.length - b.length || a.start - b.start).map((e) => encode(8, (dv) => (dv.setUint32(0, e.start, false), dv.setUint32(4, e.length, false))));
    const bno = await writeTree(this.shortShape(v5 ? "AB3B" : "ABTB", 8, 8), byBlock, taken.slice(0, bnoCount));
    const cnt = await writeTree(this.shortShape(v5 ? "AB3C" : "ABTC", 8, 8), byCount, taken.slice(bnoCount, 2 * bnoCount));
    let rmap: { root: number; levels: number } | undefined;
    const rmapBlocks = taken.slice(2 * bnoCount);
    if (g.rmapbt) {
      const records = this.rmaps.map((r) =>
        encode(24, (dv) => {
          dv.setUint32(0, r.start, false);
          dv.setUint32(4, r.length, false);
          dv.setBigUint64(8, r.owner, false);
          dv.setBigUint64(16, keyOffset(r) | (r.flags & RMAP_UNWRITTEN ? 1n << 61n : 0n), false);
        }),
      );
      const highKey = (rec: Uint8Array): Uint8Array => {
        const dv = view(rec);
        const key = new Uint8Array(20);
        const kv = view(key);
        const adjust = dv.getUint32(4, false) - 1;
        const owner = dv.getBigUint64(8, false);
        let offset = dv.getBigUint64(16, false) & ~(1n << 61n);
        kv.setUint32(0, dv.getUint32(0, false) + adjust, false);
        kv.setBigUint64(4, owner, false);
        if (isInodeOwner(owner) && !((offset >> 62n) & 1n)) offset = ((offset & 0x3fffffffffffffn) + BigInt(adjust)) | (offset & ~0x3fffffffffffffn);
        kv.setBigUint64(12, offset, false);
        return key;
      };
      const shape = this.shortShape("RMB3", 24, 40, highKey);
      shape.lowKey = (rec) => {
        const key = new Uint8Array(20);
        key.set(rec.subarray(0, 4), 0);
        key.set(rec.subarray(8, 16), 4);
        view(key).setBigUint64(12, view(rec).getBigUint64(16, false) & ~(1n << 61n), false);
        return key;
      };
      rmap = await writeTree(shape, records, rmapBlocks);
    }
    const chunkRecord = (c: InodeChunk) =>
      encode(16, (dv) => {
        dv.setUint32(0, c.start, false);
        if (g.sparseInodes) {
          dv.setUint16(4, c.holemask, false);
          dv.setUint8(6, c.count);
          dv.setUint8(7, c.freecount);
        } else dv.setUint32(4, c.freecount, false);
        dv.setBigUint64(8, c.free, false);
      });
    const ino = await writeTree(this.shortShape(v5 ? "IAB3" : "IABT", 16, 4), this.chunks.map(chunkRecord), inoBlocks);
    const fino = g.finobt ? await writeTree(this.shortShape(v5 ? "FIB3" : "FIBT", 16, 4), finoChunks.map(chunkRecord), finoBlocks) : undefined;
    const refc = this.refcountsDirty
      ? await writeTree(this.shortShape("R3FC", 12, 4), this.refcounts.map((r) => encode(12, (dv) => (dv.setUint32(0, r.start, false), dv.setUint32(4, r.length, false), dv.setUint32(8, r.refcount, false)))), refcBlocks)
      : undefined;
    this.treeBlocks = { bno: taken.slice(0, bnoCount), cnt: taken.slice(bnoCount, 2 * bnoCount), rmap: g.rmapbt ? rmapBlocks : [], ino: inoBlocks, fino: finoBlocks, refc: this.refcountsDirty ? refcBlocks : tb.refc };
    this.refcountsDirty = false;

    // The AGF.
    const agf = view(this.agf);
    agf.setUint32(16, bno.root, false);
    agf.setUint32(20, cnt.root, false);
    agf.setUint32(28, bno.levels, false);
    agf.setUint32(32, cnt.levels, false);
    if (rmap) {
      agf.setUint32(24, rmap.root, false);
      agf.setUint32(36, rmap.levels, false);
      agf.setUint32(80, rmapBlocks.length, false);
    }
    if (refc) {
      agf.setUint32(88, refc.root, false);
      agf.setUint32(92, refc.levels, false);
      agf.setUint32(84, refcBlocks.length, false);
    }
    agf.setUint32(40, 0, false);
    agf.setUint32(44, this.agfl.length === 0 ? agflSize - 1 : this.agfl.length - 1, false);
    agf.setUint32(48, this.agfl.length, false);
    agf.setUint32(52, this.freeBlocks, false);
    agf.setUint32(56, this.free.reduce((m, e) => Math.max(m, e.length), 0), false);
    const btreeBlocks = 2 * bnoCount - 2 + (g.rmapbt ? rmapBlocks.length - 1 : 0);
    if (g.lazyCounters) agf.setUint32(60, btreeBlocks, false);
    if (v5) {
      agf.setBigUint64(208, g.lsn(), false);
      setCrc(this.agf, 216);
    }
    // The AGFL, rewritten in order from slot 0.
    const agflBytes = new Uint8Array(g.sectorSize).fill(0xff);
    const fl = view(agflBytes);
    const listAt = v5 ? 36 : 0;
    if (v5) {
      agflBytes.set([0x58, 0x41, 0x46, 0x4c], 0);
      fl.setUint32(4, this.agno, false);
      agflBytes.set(g.metaUuid, 8);
      fl.setBigUint64(24, g.lsn(), false);
    }
    this.agfl.forEach((b, i) => fl.setUint32(listAt + i * 4, b, false));
    if (v5) setCrc(agflBytes, 32);
    // The AGI.
    const agi = view(this.agi);
    const icount = this.chunks.reduce((n, c) => n + c.count, 0);
    const ifree = this.chunks.reduce((n, c) => n + c.freecount, 0);
    agi.setUint32(16, icount, false);
    agi.setUint32(20, ino.root, false);
    agi.setUint32(24, ino.levels, false);
    agi.setUint32(28, ifree, false);
    if (this.newIno !== undefined) agi.setUint32(32, this.newIno, false);
    if (fino) {
      agi.setUint32(328, fino.root, false);
      agi.setUint32(332, fino.levels, false);
    }
    if (g.inobtCount) {
      agi.setUint32(336, inoBlocks.length, false);
      agi.setUint32(340, finoBlocks.length, false);
    }
    if (v5) {
      agi.setBigUint64(320, g.lsn(), false);
      setCrc(this.agi, 312);
    }
    await g.cache.write(this.sectorBase + g.sectorSize, this.agf);
    await g.cache.write(this.sectorBase + 2 * g.sectorSize, this.agi);
    await g.cache.write(this.sectorBase + 3 * g.sectorSize, agflBytes);
    this.dirty = false;
    return this.counters();
  }

  /** The counters the superblock sums over AGs. */
  counters(): { freeBlocks: number; flcount: number; btreeBlocks: number; icount: number; ifree: number } {
    const agf = view(this.agf);
    const agi = view(this.agi);
    return { freeBlocks: agf.getUint32(52, false), flcount: agf.getUint32(48, false), btreeBlocks: agf.getUint32(60, false), icount: agi.getUint32(16, false), ifree: agi.getUint32(28, false) };
  }
}
