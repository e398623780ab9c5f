// Directory and attribute forks laid out whole from their entries: the smallest form that holds
// them (short-form in the inode; else a single block; else data blocks and a leaf; else data
// blocks, a da-btree of leaf blocks and free-index blocks), exactly as xfs_repair expects them.
import { view } from "../../block/volumes-io.js";
import { DIR_FREE_OFFSET, DIR_LEAF_OFFSET, daHash, keyBytes, MAGIC, setCrc } from "./format.js";
import type { DirectoryEntry, RawAttr } from "./xfs.js";

export interface ForkGeometry {
  version: 4 | 5;
  ftype: boolean;
  blockSize: number;
  dirBlockSize: number;
  metaUuid: Uint8Array;
  lsn: bigint;
}

/** A directory or attribute block to place: its offset in the fork (filesystem blocks) and bytes. */
export interface ForkBlock {
  /** File offset in filesystem blocks. */
  offset: number;
  bytes: Uint8Array;
  /** Where the v5 header keeps its disk address and CRC (undefined on v4). */
  blknoAt?: number;
  crcAt?: number;
}

/** Fills in a v5 block's disk address and CRC once it has a place. */
export function sealBlock(block: ForkBlock, daddr: number): void {
  if (block.blknoAt === undefined || block.crcAt === undefined) return;
  view(block.bytes).setBigUint64(block.blknoAt, BigInt(daddr), false);
  setCrc(block.bytes, block.crcAt);
}

const MAX_SHORT_INO = 0xffffffffn;

/** The short-form directory, or undefined when it holds more than 255 entries. */
export function shortFormDirectory(g: ForkGeometry, parent: bigint, entries: Map<string, DirectoryEntry>): Uint8Array | undefined {
  if (entries.size > 255) return undefined;
  let i8 = parent > MAX_SHORT_INO ? 1 : 0;
  for (const e of entries.values()) if (e.ino > MAX_SHORT_INO) i8++;
  const inoSize = i8 > 0 ? 8 : 4;
  let size = 2 + inoSize;
  for (const key of entries.keys()) size += 3 + key.length + (g.ftype ? 1 : 0) + inoSize;
  const out = new Uint8Array(size);
  const dv = view(out);
  out[0] = entries.size;
  out[1] = i8;
  const putIno = (at: number, ino: bigint) => (inoSize === 8 ? dv.setBigUint64(at, ino, false) : dv.setUint32(at, Number(ino), false));
  putIno(2, parent);
  let at = 2 + inoSize;
  // Offsets as if the entries were laid out in a data block after `.` and `..`.
  let offset = dataHeaderSize(g) + 2 * entrySize(g, 1);
  for (const [key, entry] of entries) {
    out[at] = key.length;
    dv.setUint16(at + 1, offset, false);
    out.set(keyBytes(key), at + 3);
    if (g.ftype) out[at + 3 + key.length] = entry.ftype;
    putIno(at + 3 + key.length + (g.ftype ? 1 : 0), entry.ino);
    at += 3 + key.length + (g.ftype ? 1 : 0) + inoSize;
    offset += entrySize(g, key.length);
  }
  return out;
}

const dataHeaderSize = (g: ForkGeometry) => (g.version === 5 ? 64 : 16);
const leafHeaderSize = (g: ForkGeometry) => (g.version === 5 ? 64 : 16);
const entrySize = (g: ForkGeometry, nameLength: number) => (8 + 1 + nameLength + (g.ftype ? 1 : 0) + 2 + 7) & ~7;

interface Placed {
  name: Uint8Array;
  ino: bigint;
  ftype: number;
  hash: number;
  /** Directory data address in 8-byte units. */
  address: number;
}

/** Writes the dir3 block header (v5) or just the magic (v4). */
function dataHeader(g: ForkGeometry, block: Uint8Array, magic: string, owner: bigint): Pick<ForkBlock, "blknoAt" | "crcAt"> {
  for (let i = 0; i < 4; i++) block[i] = magic.charCodeAt(i);
  if (g.version !== 5) return {};
  const dv = view(block);
  dv.setBigUint64(16, g.lsn, false);
  block.set(g.metaUuid, 24);
  dv.setBigUint64(40, owner, false);
  return { blknoAt: 8, crcAt: 4 };
}

/** Writes a da-block header (leaf, node, attribute leaf): forw, back, magic and the v5 part. */
function daHeader(g: ForkGeometry, block: Uint8Array, magic: number, owner: bigint, forw: number, back: number): Pick<ForkBlock, "blknoAt" | "crcAt"> {
  const dv = view(block);
  dv.setUint32(0, forw, false);
  dv.setUint32(4, back, false);
  dv.setUint16(8, magic, false);
  if (g.version !== 5) return {};
  dv.setBigUint64(24, g.lsn, false);
  block.set(g.metaUuid, 32);
  dv.setBigUint64(48, owner, false);
  return { blknoAt: 16, crcAt: 12 };
}

/**
 * Lays out entries into data blocks of `room` bytes after the header; returns per block the
 * entries' (offset, entry) and the free bytes left at its end.
 */
function writeEntries(g: ForkGeometry, block: Uint8Array, items: Array<{ name: Uint8Array; ino: bigint; ftype: number }>, blockIndex: number, end: number, placed: Placed[]): number {
  const dv = view(block);
  let at = dataHeaderSize(g);
  for (const item of items) {
    dv.setBigUint64(at, item.ino, false);
    block[at + 8] = item.name.length;
    block.set(item.name, at + 9);
    if (g.ftype) block[at + 9 + item.name.length] = item.ftype;
    const size = entrySize(g, item.name.length);
    dv.setUint16(at + size - 2, at, false);
    placed.push({ ...item, hash: daHash(item.name), address: (blockIndex * g.dirBlockSize + at) / 8 });
    at += size;
  }
  const free = end - at;
  if (free > 0) {
    // One unused entry covers the rest; bestfree[0] names it.
    dv.setUint16(at, 0xffff, false);
    dv.setUint16(at + 2, free, false);
    dv.setUint16(at + free - 2, at, false);
    const bestAt = g.version === 5 ? 48 : 4;
    dv.setUint16(bestAt, at, false);
    dv.setUint16(bestAt + 2, free, false);
  }
  return free;
}

/** The blocks of a block, leaf or node directory, and its size (di_size). */
export function directoryBlocks(g: ForkGeometry, self: bigint, parent: bigint, entries: Map<string, DirectoryEntry>): { blocks: ForkBlock[]; size: number } {
  const items = [
    { name: Uint8Array.of(0x2e), ino: self, ftype: 2 },
    { name: Uint8Array.of(0x2e, 0x2e), ino: parent, ftype: 2 },
    ...[...entries].map(([key, e]) => ({ name: keyBytes(key), ino: e.ino, ftype: e.ftype })),
  ];
  const v5 = g.version === 5 ? 1 : 0;
  const fsPerDir = g.dirBlockSize / g.blockSize;
  const dataRoom = g.dirBlockSize - dataHeaderSize(g);
  const totalEntryBytes = items.reduce((n, i) => n + entrySize(g, i.name.length), 0);
  const placed: Placed[] = [];
  const byHash = () => [...placed].sort((a, b) => a.hash - b.hash || a.address - b.address);

  // Block form: entries, their leaf and a tail, all in one block.
  if (dataHeaderSize(g) + totalEntryBytes + 8 * items.length + 8 <= g.dirBlockSize) {
    const block = new Uint8Array(g.dirBlockSize);
    const header = dataHeader(g, block, MAGIC.dirBlock[v5], self);
    const leafAt = g.dirBlockSize - 8 - 8 * items.length;
    writeEntries(g, block, items, 0, leafAt, placed);
    const dv = view(block);
    byHash().forEach((p, i) => {
      dv.setUint32(leafAt + i * 8, p.hash, false);
      dv.setUint32(leafAt + i * 8 + 4, p.address, false);
    });
    dv.setUint32(g.dirBlockSize - 8, items.length, false);
    return { blocks: [{ offset: 0, bytes: block, ...header }], size: g.dirBlockSize };
  }

  // Data blocks, packed in order.
  const blocks: ForkBlock[] = [];
  const bests: number[] = [];
  let index = 0;
  while (index < items.length) {
    const group: typeof items = [];
    let used = 0;
    while (index < items.length && used + entrySize(g, items[index]!.name.length) <= dataRoom) {
      used += entrySize(g, items[index]!.name.length);
      group.push(items[index++]!);
    }
    const block = new Uint8Array(g.dirBlockSize);
    const header = dataHeader(g, block, MAGIC.dirData[v5], self);
    bests.push(writeEntries(g, block, group, blocks.length, g.dirBlockSize, placed));
    blocks.push({ offset: blocks.length * fsPerDir, bytes: block, ...header });
  }
  const size = blocks.length * g.dirBlockSize;
  const leafBlock = DIR_LEAF_OFFSET / g.blockSize;
  const sorted = byHash();
  const writeLeafEntries = (block: Uint8Array, list: Placed[]) => {
    const dv = view(block);
    const countAt = g.version === 5 ? 56 : 12;
    dv.setUint16(countAt, list.length, false);
    list.forEach((p, i) => {
      dv.setUint32(leafHeaderSize(g) + i * 8, p.hash, false);
      dv.setUint32(leafHeaderSize(g) + i * 8 + 4, p.address, false);
    });
  };

  // Leaf form: one leaf block with every hash and the best free space of each data block.
  if (leafHeaderSize(g) + 8 * sorted.length + 2 * bests.length + 4 <= g.dirBlockSize) {
    const block = new Uint8Array(g.dirBlockSize);
    const header = daHeader(g, block, MAGIC.leaf1[v5], self, 0, 0);
    writeLeafEntries(block, sorted);
    const dv = view(block);
    dv.setUint32(g.dirBlockSize - 4, bests.length, false);
    bests.forEach((b, i) => dv.setUint16(g.dirBlockSize - 4 - 2 * bests.length + i * 2, b, false));
    blocks.push({ offset: leafBlock, bytes: block, ...header });
    return { blocks, size };
  }

  // Node form: leaf blocks under a da-btree whose root sits at the leaf offset, and free-index blocks.
  const leafMax = Math.floor((g.dirBlockSize - leafHeaderSize(g)) / 8);
  const nodeMax = Math.floor((g.dirBlockSize - leafHeaderSize(g)) / 8);
  const leafCount = Math.ceil(sorted.length / leafMax);
  let nextBlock = leafBlock + (leafCount === 1 ? 0 : fsPerDir);
  type Child = { offset: number; hash: number };
  let children: Child[] = [];
  const leafOffsets = Array.from({ length: leafCount }, (_, i) => (leafCount === 1 ? leafBlock : nextBlock + i * fsPerDir));
  nextBlock += leafCount === 1 ? 0 : leafCount * fsPerDir;
  let from = 0;
  leafOffsets.forEach((offset, i) => {
    const take = Math.floor(sorted.length / leafCount) + (i < sorted.length % leafCount ? 1 : 0);
    const list = sorted.slice(from, from + take);
    from += take;
    const block = new Uint8Array(g.dirBlockSize);
    const header = daHeader(g, block, MAGIC.leafn[v5], self, leafOffsets[i + 1] ?? 0, leafOffsets[i - 1] ?? 0);
    writeLeafEntries(block, list);
    blocks.push({ offset, bytes: block, ...header });
    children.push({ offset, hash: list[list.length - 1]!.hash });
  });
  for (let level = 1; children.length > 1; level++) {
    const parents = Math.ceil(children.length / nodeMax);
    const offsets = Array.from({ length: parents }, (_, i) => (parents === 1 ? leafBlock : nextBlock + i * fsPerDir));
    if (parents > 1) nextBlock += parents * fsPerDir;
    const up: Child[] = [];
    let c = 0;
    offsets.forEach((offset, i) => {
      const take = Math.floor(children.length / parents) + (i < children.length % parents ? 1 : 0);
      const list = children.slice(c, c + take);
      c += take;
      const block = new Uint8Array(g.dirBlockSize);
      const header = daHeader(g, block, MAGIC.daNode[v5], self, offsets[i + 1] ?? 0, offsets[i - 1] ?? 0);
      const dv = view(block);
      dv.setUint16(g.version === 5 ? 56 : 12, list.length, false);
      dv.setUint16(g.version === 5 ? 58 : 14, level, false);
      list.forEach((child, k) => {
        dv.setUint32(leafHeaderSize(g) + k * 8, child.hash, false);
        dv.setUint32(leafHeaderSize(g) + k * 8 + 4, child.offset, false);
      });
      blocks.push({ offset, bytes: block, ...header });
      up.push({ offset, hash: list[list.length - 1]!.hash });
    });
    children = up;
  }
  // Free-index blocks.
  const freeHeader = g.version === 5 ? 64 : 16;
  const perFree = Math.floor((g.dirBlockSize - freeHeader) / 2);
  for (let k = 0; k * perFree < bests.length; k++) {
    const block = new Uint8Array(g.dirBlockSize);
    const header = dataHeader(g, block, MAGIC.dirFree[v5], self);
    const dv = view(block);
    const mine = bests.slice(k * perFree, (k + 1) * perFree);
    const at = g.version === 5 ? 48 : 4;
    dv.setUint32(at, k * perFree, false);
    dv.setUint32(at + 4, mine.length, false);
    dv.setUint32(at + 8, mine.length, false);
    mine.forEach((b, i) => dv.setUint16(freeHeader + i * 2, b, false));
    blocks.push({ offset: DIR_FREE_OFFSET / g.blockSize + k * fsPerDir, bytes: block, ...header });
  }
  return { blocks, size };
}

// ---- attributes ----

const attrLocalSize = (a: RawAttr) => (3 + a.name.length + a.value.length + 3) & ~3;
const attrRemoteSize = (a: RawAttr) => (11 + a.name.length + 3) & ~3;

/** The short-form attribute fork, or undefined when an entry cannot be short-form. */
export function shortFormAttrs(attrs: RawAttr[]): Uint8Array | undefined {
  let size = 4;
  for (const a of attrs) {
    if (a.name.length > 255 || a.value.length > 255) return undefined;
    size += 3 + a.name.length + a.value.length;
  }
  if (attrs.length > 255 || size > 0xffff) return undefined;
  const out = new Uint8Array(size);
  view(out).setUint16(0, size, false);
  out[2] = attrs.length;
  let at = 4;
  for (const a of attrs) {
    out[at] = a.name.length;
    out[at + 1] = a.value.length;
    out[at + 2] = a.flags & ~1;
    out.set(a.name, at + 3);
    out.set(a.value, at + 3 + a.name.length);
    at += 3 + a.name.length + a.value.length;
  }
  return out;
}

/** Blocks a remote value takes (v5 blocks each start with a 56-byte header). */
export function remoteValueBlocks(g: ForkGeometry, length: number): number {
  return Math.max(1, Math.ceil(length / (g.blockSize - (g.version === 5 ? 56 : 0))));
}

/**
 * An attribute fork in blocks: one leaf at attribute block 0 when the names fit in it, else leaves
 * under a da-btree node at block 0 (node form); values go local where they fit and to remote blocks
 * after the leaves otherwise. Undefined when the leaves would need more than one node level.
 */
export function attrBlocks(g: ForkGeometry, owner: bigint, attrs: RawAttr[]): ForkBlock[] | undefined {
  const header = g.version === 5 ? 80 : 32;
  const room = g.blockSize - header;
  const sorted = attrs.map((a) => ({ a, hash: daHash(a.name), remote: attrLocalSize(a) > (g.blockSize * 3) / 4 })).sort((x, y) => x.hash - y.hash);
  const size = (s: (typeof sorted)[number]) => 8 + (s.remote ? attrRemoteSize(s.a) : attrLocalSize(s.a));
  // One leaf if values pushed out, largest first, make everything fit.
  const byValue = [...sorted].sort((x, y) => y.a.value.length - x.a.value.length);
  for (const s of byValue) {
    if (sorted.reduce((n, x) => n + size(x), 0) <= room) break;
    s.remote = true;
  }
  let leaves: Array<typeof sorted> = [sorted];
  if (sorted.reduce((n, x) => n + size(x), 0) > room) {
    // Node form: values local again where they fit, leaves filled in hash order.
    for (const s of sorted) s.remote = attrLocalSize(s.a) > (g.blockSize * 3) / 4;
    leaves = [];
    let current: typeof sorted = [];
    let used = 0;
    for (const s of sorted) {
      if (used + size(s) > room) {
        leaves.push(current);
        current = [];
        used = 0;
      }
      current.push(s);
      used += size(s);
    }
    leaves.push(current);
    if (leaves.length > Math.floor((g.blockSize - (g.version === 5 ? 64 : 16)) / 8)) return undefined;
  }
  const v5 = g.version === 5 ? 1 : 0;
  const single = leaves.length === 1;
  const leafBlock = (i: number) => (single ? 0 : 1 + i);
  let remote = single ? 1 : 1 + leaves.length;
  const out: ForkBlock[] = [];
  const remoteBlocks: ForkBlock[] = [];
  leaves.forEach((entries, i) => {
    const block = new Uint8Array(g.blockSize);
    const head = daHeader(g, block, MAGIC.attrLeaf[v5], owner, single || i === leaves.length - 1 ? 0 : leafBlock(i + 1), single || i === 0 ? 0 : leafBlock(i - 1));
    const dv = view(block);
    let nameAt = g.blockSize;
    entries.forEach((s, k) => {
      const bytes = s.remote ? attrRemoteSize(s.a) : attrLocalSize(s.a);
      nameAt -= bytes;
      dv.setUint32(header + k * 8, s.hash, false);
      dv.setUint16(header + k * 8 + 4, nameAt, false);
      block[header + k * 8 + 6] = (s.a.flags & ~1) | (s.remote ? 0 : 1);
      if (!s.remote) {
        dv.setUint16(nameAt, s.a.value.length, false);
        block[nameAt + 2] = s.a.name.length;
        block.set(s.a.name, nameAt + 3);
        block.set(s.a.value, nameAt + 3 + s.a.name.length);
        return;
      }
      dv.setUint32(nameAt, remote, false);
      dv.setUint32(nameAt + 4, s.a.value.length, false);
      block[nameAt + 8] = s.a.name.length;
      block.set(s.a.name, nameAt + 9);
      const per = g.blockSize - (g.version === 5 ? 56 : 0);
      for (let done = 0; done < s.a.value.length; done += per) {
        const piece = new Uint8Array(g.blockSize);
        const take = Math.min(per, s.a.value.length - done);
        if (g.version === 5) {
          const pv = view(piece);
          piece.set([0x58, 0x41, 0x52, 0x4d], 0);
          pv.setUint32(4, done, false);
          pv.setUint32(8, take, false);
          piece.set(g.metaUuid, 16);
          pv.setBigUint64(32, owner, false);
          pv.setBigUint64(48, g.lsn, false);
          piece.set(s.a.value.subarray(done, done + take), 56);
          remoteBlocks.push({ offset: remote++, bytes: piece, blknoAt: 40, crcAt: 12 });
        } else {
          piece.set(s.a.value.subarray(done, done + take), 0);
          remoteBlocks.push({ offset: remote++, bytes: piece });
        }
      }
    });
    const countAt = g.version === 5 ? 56 : 12;
    dv.setUint16(countAt, entries.length, false);
    dv.setUint16(countAt + 2, entries.reduce((n, s) => n + size(s) - 8, 0), false);
    dv.setUint16(countAt + 4, nameAt, false);
    // freemap[0]: the gap between the entry table and the names.
    const base = header + 8 * entries.length;
    dv.setUint16(countAt + 8, base, false);
    dv.setUint16(countAt + 10, nameAt - base, false);
    out.push({ offset: leafBlock(i), bytes: block, ...head });
  });
  if (!single) {
    const block = new Uint8Array(g.blockSize);
    const head = daHeader(g, block, MAGIC.daNode[v5], owner, 0, 0);
    const dv = view(block);
    const nodeHeader = g.version === 5 ? 64 : 16;
    dv.setUint16(g.version === 5 ? 56 : 12, leaves.length, false);
    dv.setUint16(g.version === 5 ? 58 : 14, 1, false);
    leaves.forEach((entries, i) => {
      dv.setUint32(nodeHeader + i * 8, entries[entries.length - 1]!.hash, false);
      dv.setUint32(nodeHeader + i * 8 + 4, leafBlock(i), false);
    });
    out.unshift({ offset: 0, bytes: block, ...head });
  }
  return [...out, ...remoteBlocks];
}
