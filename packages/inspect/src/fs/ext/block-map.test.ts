import type { BlockDevice } from "@leapp/storage";
import { describe, expect, it } from "vitest";
import { corrupt } from "../../block/volumes-io.js";
import { seededRandom } from "@leapp/zoo";
import { WriteBackCache } from "../write-back-cache.js";
import { blockMapLimit, mappingNodes, normalizeExtents, readMapping, writeMapping, type Extent, type MappingContext } from "./block-map.js";
import { FLAG_EXTENTS, type ExtInode } from "./inode.js";

/** A device of 2^40 blocks that reads as zeros: extents straddle 2^32 to use the 48-bit addresses. */
const BLOCKS = 2 ** 40;

function context(blockSize: number): MappingContext {
  const device: BlockDevice = {
    format: "raw",
    size: BLOCKS * blockSize,
    writable: true,
    async read(buffer) {
      buffer.fill(0);
    },
    async *extents() {},
    async write() {},
    async flush() {},
    async close() {},
  };
  return {
    blockSize,
    blocksCount: BLOCKS,
    cache: new WriteBackCache(device, blockSize, 1 << 20, "test", false),
    checkBlock(block, what) {
      if (!Number.isSafeInteger(block) || block < 1 || block >= BLOCKS) throw corrupt(`${what}: ${block}`);
    },
  };
}

/** Random sorted, non-overlapping extents reaching up to `maxLogical`. */
function randomExtents(random: () => number, count: number, maxLogical: number, unwritten: boolean, firstPhysical = 2 ** 32 - 5000): Extent[] {
  const logicals = new Set<number>();
  while (logicals.size < count * 2) logicals.add(Math.floor(random() * maxLogical));
  const points = [...logicals].sort((a, b) => a - b);
  const out: Extent[] = [];
  let physical = firstPhysical;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const length = Math.min(points[i + 1]! - points[i]!, 70_000);
    out.push({ logical: points[i]!, physical, count: length, unwritten: unwritten && random() < 0.3 });
    physical += length + 1 + Math.floor(random() * 5);
  }
  return out;
}

describe("ext block mappings", () => {
  for (const blockSize of [1024, 4096]) {
    it(`extent trees of every depth read back as written (${blockSize}-byte blocks)`, async () => {
      const random = seededRandom(blockSize);
      for (const count of [0, 1, 4, 5, 300, 2000, 40_000]) {
        const ctx = context(blockSize);
        const extents = normalizeExtents(randomExtents(random, count, 2 ** 32 - 1, true), false);
        const nodes = Array.from({ length: mappingNodes(extents, true, blockSize) }, (_, i) => BLOCKS - 1 - i);
        const written = writeMapping(ctx, extents, true, nodes, undefined);
        const inode = { number: 12, flags: FLAG_EXTENTS, blockArea: written.blockArea } as ExtInode;
        const back = await readMapping(ctx, inode);
        expect(back.extents).toEqual(extents);
        expect(back.nodes.sort()).toEqual(written.nodes.sort());
      }
    });

    it(`block maps through single, double and triple indirect blocks read back as written (${blockSize}-byte blocks)`, async () => {
      const random = seededRandom(blockSize + 1);
      const limit = blockMapLimit(blockSize);
      for (const reach of [12, 12 + blockSize / 4, 12 + (blockSize / 4) ** 2 + 5, limit]) {
        const ctx = context(blockSize);
        // Block maps hold 32-bit block numbers.
        const extents = normalizeExtents(randomExtents(random, 6, reach, false, 1000).map((e) => ({ ...e, count: Math.min(e.count, 3000) })), true);
        const nodes = Array.from({ length: mappingNodes(extents, false, blockSize) }, (_, i) => 2 ** 32 - 1 - i);
        const written = writeMapping(ctx, extents, false, nodes, undefined);
        const inode = { number: 12, flags: 0, blockArea: written.blockArea } as ExtInode;
        const back = await readMapping(ctx, inode);
        expect(back.extents).toEqual(extents);
        expect(back.nodes.sort()).toEqual([...nodes].sort());
      }
    });
  }
});
