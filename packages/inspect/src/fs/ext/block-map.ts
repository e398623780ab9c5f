// A file's block mapping — ext4 extent trees of any depth or ext2/3 indirect block maps — read
// into a flat list of extents, and written back from one.
import { corrupt, view } from "../../block/volumes-io.js";
import type { WriteBackCache } from "../write-back-cache.js";
import { FLAG_EXTENTS, type ExtInode } from "./inode.js";

const EXTENT_MAGIC = 0xf30a;
const MAX_EXTENT_DEPTH = 5;
/** Longest initialized extent (ee_len ≤ 32768) and unwritten one (the top bit marks it). */
export const MAX_EXTENT = 32768;
const MAX_UNWRITTEN_EXTENT = 32767;

/** `count` file blocks from `logical` stored at `physical`; unwritten ones read as zeros. */
export interface Extent {
  logical: number;
  physical: number;
  count: number;
  unwritten: boolean;
}

/** The data extents in logical order, and the blocks the mapping itself takes (tree nodes, indirect blocks). */
export interface Mapping {
  extents: Extent[];
  nodes: number[];
}

export interface MappingContext {
  readonly blockSize: number;
  readonly blocksCount: number;
  readonly cache: WriteBackCache;
  checkBlock(block: number, what: string): void;
}

/**
 * Reads an inode's mapping. `limit` (logical blocks) bounds what is kept: readers pass the file's
 * size, a writer that must free everything passes nothing.
 */
export async function readMapping(ctx: MappingContext, inode: ExtInode, limit = 2 ** 32): Promise<Mapping> {
  const mapping: Mapping = { extents: [], nodes: [] };
  if (inode.flags & FLAG_EXTENTS) {
    await walkExtents(ctx, inode, inode.blockArea, MAX_EXTENT_DEPTH, new Set(), mapping, limit);
    mapping.extents.sort((a, b) => a.logical - b.logical);
  } else {
    await walkIndirect(ctx, inode, mapping, limit);
  }
  return mapping;
}

async function walkExtents(ctx: MappingContext, inode: ExtInode, node: Uint8Array, depthLeft: number, visited: Set<number>, out: Mapping, limit: number): Promise<void> {
  const dv = view(node);
  if (node.length < 12 || dv.getUint16(0, true) !== EXTENT_MAGIC) throw corrupt(`inode ${inode.number} has a bad extent header`);
  const entries = dv.getUint16(2, true);
  const depth = dv.getUint16(6, true);
  if (12 + entries * 12 > node.length) throw corrupt(`inode ${inode.number}'s extent node claims ${entries} entries`);
  if (depth >= depthLeft) throw corrupt(`inode ${inode.number}'s extent tree is deeper than any ext4 makes`);
  for (let i = 0; i < entries; i++) {
    const at = 12 + i * 12;
    const logical = dv.getUint32(at, true);
    if (depth === 0) {
      let count = dv.getUint16(at + 4, true);
      const unwritten = count > MAX_EXTENT;
      if (unwritten) count -= MAX_EXTENT;
      const physical = dv.getUint16(at + 6, true) * 2 ** 32 + dv.getUint32(at + 8, true);
      if (logical >= limit || count === 0) continue;
      count = Math.min(count, limit - logical);
      ctx.checkBlock(physical, `an extent of inode ${inode.number}`);
      ctx.checkBlock(physical + count - 1, `an extent of inode ${inode.number}`);
      out.extents.push({ logical, physical, count, unwritten });
      if (out.extents.length > ctx.blocksCount) throw corrupt(`inode ${inode.number} has more extents than its filesystem has blocks`);
    } else {
      const child = dv.getUint32(at + 4, true) + dv.getUint16(at + 8, true) * 2 ** 32;
      ctx.checkBlock(child, `an extent index of inode ${inode.number}`);
      if (visited.has(child)) throw corrupt(`inode ${inode.number}'s extent tree loops through block ${child}`);
      visited.add(child);
      out.nodes.push(child);
      await walkExtents(ctx, inode, await ctx.cache.block(child), depth, visited, out, limit);
    }
  }
}

/** ext2/3 block maps: 12 direct pointers, then single, double and triple indirect blocks. */
async function walkIndirect(ctx: MappingContext, inode: ExtInode, out: Mapping, limit: number): Promise<void> {
  const perBlock = ctx.blockSize / 4;
  const visited = new Set<number>();
  const add = (logical: number, physical: number) => {
    if (physical === 0 || logical >= limit) return;
    ctx.checkBlock(physical, `a block pointer of inode ${inode.number}`);
    const last = out.extents[out.extents.length - 1];
    if (last && last.logical + last.count === logical && last.physical + last.count === physical) last.count++;
    else out.extents.push({ logical, physical, count: 1, unwritten: false });
  };
  const walk = async (block: number, level: number, firstLogical: number): Promise<void> => {
    if (block === 0 || firstLogical >= limit) return;
    ctx.checkBlock(block, `an indirect block of inode ${inode.number}`);
    if (visited.has(block)) throw corrupt(`inode ${inode.number}'s block map uses block ${block} twice`);
    visited.add(block);
    out.nodes.push(block);
    const dv = view(await ctx.cache.block(block));
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
}

/** Merges adjacent extents and splits those longer than an extent entry holds. */
export function normalizeExtents(extents: readonly Extent[], forBlockMap: boolean): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    if (e.count <= 0) continue;
    const last = out[out.length - 1];
    if (last && last.unwritten === e.unwritten && last.logical + last.count === e.logical && last.physical + last.count === e.physical) last.count += e.count;
    else out.push({ ...e });
  }
  if (forBlockMap) return out;
  const split: Extent[] = [];
  for (const e of out) {
    const max = e.unwritten ? MAX_UNWRITTEN_EXTENT : MAX_EXTENT;
    for (let done = 0; done < e.count; done += max) split.push({ logical: e.logical + done, physical: e.physical + done, count: Math.min(max, e.count - done), unwritten: e.unwritten });
  }
  return split;
}

/** Largest logical block + 1 a block map reaches (12 direct, single, double, triple indirect). */
export function blockMapLimit(blockSize: number): number {
  const p = blockSize / 4;
  return 12 + p + p * p + p * p * p;
}

/** How many blocks the mapping structure of `extents` takes (tree nodes or indirect blocks). */
export function mappingNodes(extents: readonly Extent[], useExtents: boolean, blockSize: number): number {
  if (useExtents) {
    const perNode = Math.floor((blockSize - 12) / 12);
    let level = extents.length;
    let nodes = 0;
    while (level > 4) {
      level = Math.ceil(level / perNode);
      nodes += level;
    }
    return nodes;
  }
  return indirectLayout(extents, blockSize).length;
}

/** The indirect blocks a block map of `extents` needs: [level, first logical block] in creation order. */
function indirectLayout(extents: readonly Extent[], blockSize: number): Array<[number, number]> {
  const p = blockSize / 4;
  const out: Array<[number, number]> = [];
  const any = (from: number, to: number) => extents.some((e) => e.logical < to && e.logical + e.count > from);
  const visit = (level: number, first: number) => {
    const span = p ** level;
    if (!any(first, first + span)) return;
    out.push([level, first]);
    if (level > 1) for (let i = 0; i < p; i++) visit(level - 1, first + i * (span / p));
  };
  visit(1, 12);
  visit(2, 12 + p);
  visit(3, 12 + p + p * p);
  return out;
}

export interface WrittenMapping {
  /** The new 60-byte i_block content. */
  blockArea: Uint8Array;
  nodes: number[];
}

/**
 * Writes the mapping of `extents` (sorted, normalized) into fresh blocks `nodeBlocks` (exactly
 * mappingNodes() of them, allocated by the caller) and returns the i_block content. Extent blocks
 * are sealed with their checksum by `sealExtentBlock` when written back.
 */
export function writeMapping(ctx: MappingContext, extents: readonly Extent[], useExtents: boolean, nodeBlocks: readonly number[], sealExtentBlock: ((bytes: Uint8Array) => void) | undefined): WrittenMapping {
  const blockArea = new Uint8Array(60);
  if (!useExtents) {
    writeBlockMap(ctx, extents, nodeBlocks, blockArea);
    return { blockArea, nodes: [...nodeBlocks] };
  }
  const perNode = Math.floor((ctx.blockSize - 12) / 12);
  const header = (dv: DataView, entries: number, max: number, depth: number) => {
    dv.setUint16(0, EXTENT_MAGIC, true);
    dv.setUint16(2, entries, true);
    dv.setUint16(4, max, true);
    dv.setUint16(6, depth, true);
  };
  // Level 0: extents; each level above: one index entry (first logical, block) per node below.
  let level: Array<{ logical: number; write: (dv: DataView, at: number) => void }> = extents.map((e) => ({
    logical: e.logical,
    write: (dv, at) => {
      dv.setUint32(at, e.logical, true);
      dv.setUint16(at + 4, e.unwritten ? e.count + MAX_EXTENT : e.count, true);
      dv.setUint16(at + 6, Math.floor(e.physical / 2 ** 32), true);
      dv.setUint32(at + 8, e.physical % 2 ** 32, true);
    },
  }));
  let depth = 0;
  let used = 0;
  while (level.length > 4) {
    const next: typeof level = [];
    for (let i = 0; i < level.length; i += perNode) {
      const block = nodeBlocks[used++];
      if (block === undefined) throw new Error("writeMapping: fewer node blocks than the tree needs");
      const bytes = ctx.cache.fresh(block, sealExtentBlock);
      const dv = view(bytes);
      const chunk = level.slice(i, i + perNode);
      header(dv, chunk.length, perNode, depth);
      chunk.forEach((entry, k) => entry.write(dv, 12 + k * 12));
      const logical = chunk[0]!.logical;
      next.push({
        logical,
        write: (parent, at) => {
          parent.setUint32(at, logical, true);
          parent.setUint32(at + 4, block % 2 ** 32, true);
          parent.setUint16(at + 8, Math.floor(block / 2 ** 32), true);
          parent.setUint16(at + 10, 0, true);
        },
      });
    }
    level = next;
    depth++;
  }
  const root = view(blockArea);
  header(root, level.length, 4, depth);
  level.forEach((entry, k) => entry.write(root, 12 + k * 12));
  return { blockArea, nodes: nodeBlocks.slice(0, used) };
}

function writeBlockMap(ctx: MappingContext, extents: readonly Extent[], nodeBlocks: readonly number[], blockArea: Uint8Array): void {
  const p = ctx.blockSize / 4;
  const layout = indirectLayout(extents, ctx.blockSize);
  if (layout.length !== nodeBlocks.length) throw new Error("writeBlockMap: node blocks do not match the layout");
  const blockOf = new Map<string, number>();
  layout.forEach(([level, first], i) => blockOf.set(`${level}:${first}`, nodeBlocks[i]!));
  const area = view(blockArea);
  const holders = new Map<number, DataView>();
  const holder = (block: number) => {
    let dv = holders.get(block);
    if (!dv) holders.set(block, (dv = view(ctx.cache.fresh(block))));
    return dv;
  };
  // Indirect blocks point to their children.
  layout.forEach(([level, first], i) => {
    const block = nodeBlocks[i]!;
    holder(block);
    if (level === 3 || (level === 2 && first === 12 + p) || (level === 1 && first === 12)) {
      area.setUint32(level === 1 ? 48 : level === 2 ? 52 : 56, block, true);
    }
    if (level > 1) {
      const span = p ** (level - 1);
      for (let k = 0; k < p; k++) {
        const child = blockOf.get(`${level - 1}:${first + k * span}`);
        if (child !== undefined) holder(block).setUint32(k * 4, child, true);
      }
    }
  });
  // Data pointers: direct ones in i_block, the rest in their single-indirect block.
  for (const e of extents) {
    for (let k = 0; k < e.count; k++) {
      const logical = e.logical + k;
      const physical = e.physical + k;
      if (logical < 12) {
        area.setUint32(logical * 4, physical, true);
        continue;
      }
      const first = 12 + Math.floor((logical - 12) / p) * p;
      const block = blockOf.get(`1:${first}`);
      if (block === undefined) throw new Error(`writeBlockMap: no indirect block for logical block ${logical}`);
      holder(block).setUint32((logical - first) * 4, physical, true);
    }
  }
}
