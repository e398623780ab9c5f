// Bulk-loading of XFS B+trees from sorted records, as xfs_repair rebuilds them: every block but the
// root holds between half and all of its capacity, keys are the first key (and, in overlapping
// trees such as the rmapbt, the highest key) of each child, siblings are linked.

/** How many blocks each level of a tree of `records` needs, leaves first; the last level is the root's. */
export function treeLevels(records: number, leafMax: number, nodeMax: number, rootMax = 1): number[] {
  const levels = [Math.max(1, Math.ceil(records / leafMax))];
  while (levels[levels.length - 1]! > rootMax) levels.push(Math.ceil(levels[levels.length - 1]! / nodeMax));
  return levels;
}

export function treeBlocks(records: number, leafMax: number, nodeMax: number): number {
  return treeLevels(records, leafMax, nodeMax).reduce((a, b) => a + b, 0);
}

/** Splits `count` items over `parts` groups as evenly as possible: the size of each group. */
export function evenSplit(count: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(count / parts) + (i < count % parts ? 1 : 0));
  return out;
}

/** The on-disk shape of one B+tree family. */
export interface TreeShape {
  blockSize: number;
  headerSize: number;
  recordSize: number;
  /** Bytes of one key entry in a node (low and high key together for overlapping trees). */
  keySize: number;
  pointerSize: 4 | 8;
  /** Writes the header of a block: level, record count and sibling pointers (undefined = none). */
  writeHeader(block: Uint8Array, level: number, count: number, left: number | undefined, right: number | undefined, at: number): void;
  /** The low key of a record (keySize bytes for plain trees, half of it for overlapping ones). */
  lowKey(record: Uint8Array): Uint8Array;
  /** The highest key a record covers, for overlapping trees. */
  highKey?(record: Uint8Array): Uint8Array;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

interface Child {
  low: Uint8Array;
  high?: Uint8Array;
  pointer: number;
}

export interface BuiltTree {
  /** The blocks, each with the pointer (block address) it was given. */
  blocks: Array<{ at: number; bytes: Uint8Array }>;
  levels: number;
  /** The root's pointer (when the root is a block), or the root's entries (when it lives in an inode). */
  root: number;
  rootEntries: Child[];
}

/**
 * Builds a tree over encoded, sorted `records`, in the blocks `addresses` (exactly
 * `treeBlocks(...)` of them, leaves first). With `rootMax`, the top level stays out of the blocks
 * (the inode keeps it: a bmbt root) and is returned as entries.
 */
export function buildTree(shape: TreeShape, records: Uint8Array[], addresses: number[], rootMax?: number): BuiltTree {
  const leafMax = Math.floor((shape.blockSize - shape.headerSize) / shape.recordSize);
  const nodeMax = Math.floor((shape.blockSize - shape.headerSize) / (shape.keySize + shape.pointerSize));
  const levels = treeLevels(records.length, leafMax, nodeMax, rootMax ?? 1);
  const blocks: Array<{ at: number; bytes: Uint8Array }> = [];
  let next = 0;
  // Leaves.
  let children: Child[] = [];
  {
    const sizes = evenSplit(records.length, levels[0]!);
    const mine = addresses.slice(next, next + sizes.length);
    next += sizes.length;
    let r = 0;
    sizes.forEach((size, i) => {
      const block = new Uint8Array(shape.blockSize);
      shape.writeHeader(block, 0, size, mine[i - 1], mine[i + 1], mine[i]!);
      let high: Uint8Array | undefined;
      for (let k = 0; k < size; k++) {
        const record = records[r + k]!;
        block.set(record, shape.headerSize + k * shape.recordSize);
        if (shape.highKey) {
          const h = shape.highKey(record);
          if (!high || compareBytes(h, high) > 0) high = h;
        }
      }
      children.push({ low: size > 0 ? shape.lowKey(records[r]!) : new Uint8Array(shape.highKey ? shape.keySize / 2 : shape.keySize), ...(high ? { high } : {}), pointer: mine[i]! });
      r += size;
      blocks.push({ at: mine[i]!, bytes: block });
    });
  }
  // Interior levels; an inode root sits above the last of them.
  for (let level = 1; level < levels.length; level++) {
    const sizes = evenSplit(children.length, levels[level]!);
    const mine = addresses.slice(next, next + sizes.length);
    next += sizes.length;
    const parents: Child[] = [];
    let c = 0;
    sizes.forEach((size, i) => {
      const block = new Uint8Array(shape.blockSize);
      shape.writeHeader(block, level, size, mine[i - 1], mine[i + 1], mine[i]!);
      const dv = new DataView(block.buffer);
      let high: Uint8Array | undefined;
      for (let k = 0; k < size; k++) {
        const child = children[c + k]!;
        block.set(child.low, shape.headerSize + k * shape.keySize);
        if (child.high) {
          block.set(child.high, shape.headerSize + k * shape.keySize + child.low.length);
          if (!high || compareBytes(child.high, high) > 0) high = child.high;
        }
        const pointerAt = shape.headerSize + nodeMax * shape.keySize + k * shape.pointerSize;
        if (shape.pointerSize === 4) dv.setUint32(pointerAt, child.pointer, false);
        else dv.setBigUint64(pointerAt, BigInt(child.pointer), false);
      }
      parents.push({ low: children[c]!.low, ...(high ? { high } : {}), pointer: mine[i]! });
      c += size;
      blocks.push({ at: mine[i]!, bytes: block });
    });
    children = parents;
  }
  if (rootMax !== undefined) return { blocks, levels: levels.length, root: 0, rootEntries: children };
  return { blocks, levels: levels.length, root: children[0]!.pointer, rootEntries: children };
}
