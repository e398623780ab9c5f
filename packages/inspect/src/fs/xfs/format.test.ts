import { describe, expect, it } from "vitest";
import { memoryDevice } from "../../block/volumes-test-support.js";
import { buildTree, evenSplit, treeBlocks, treeLevels, type TreeShape } from "./btree-build.js";
import { daHash, packExtent, parseExtent } from "./format.js";
import { shortFormDirectory } from "./forks.js";
import { WriteBackDevice } from "../write-back-device.js";

describe("XFS codecs", () => {
  it("hashes names as xfs_da_hashname does (values from xfs_db's hash command)", () => {
    const hash = (name: string) => daHash(new TextEncoder().encode(name));
    expect(hash("leapp")).toBe(0xccb87876);
    expect(hash("note")).toBe(0x0ddbfa65);
    expect(hash("abcdefgh")).toBe(0x4c7a38f6);
    expect(hash("x")).toBe(0x78);
    expect(hash("ab_hé-ü")).toBe(0x44ee5e70);
  });

  it("packs extent records losslessly, up to 52-bit block numbers and 21-bit lengths", () => {
    const bytes = new Uint8Array(16);
    for (const e of [
      { offset: 0, block: 0, count: 1, unwritten: false },
      { offset: 2 ** 40 + 3, block: 2 ** 50 + 7, count: 2 ** 21 - 1, unwritten: true },
    ]) {
      packExtent(new DataView(bytes.buffer), 0, e);
      expect(parseExtent(new DataView(bytes.buffer), 0)).toEqual(e);
    }
  });

  it("lays out short-form directories with 4- or 8-byte inode numbers", () => {
    const g = { version: 5 as const, ftype: true, blockSize: 4096, dirBlockSize: 4096, metaUuid: new Uint8Array(16), lsn: 0n };
    const small = shortFormDirectory(g, 128n, new Map([["ab", { ino: 131n, ftype: 1 }]]))!;
    expect([...small]).toEqual([1, 0, 0, 0, 0, 128, 2, 0, 96, 0x61, 0x62, 1, 0, 0, 0, 131]);
    const wide = shortFormDirectory(g, 128n, new Map([["ab", { ino: 2n ** 33n, ftype: 1 }]]))!;
    expect(wide[1]).toBe(1);
    expect(wide.length).toBe(2 + 8 + 3 + 2 + 1 + 8);
    expect(shortFormDirectory(g, 128n, new Map(Array.from({ length: 256 }, (_, i) => [`n${i}`, { ino: 200n, ftype: 1 }])))).toBeUndefined();
  });
});

describe("B+tree bulk loading", () => {
  it("fills every non-root block at least half full", () => {
    expect(evenSplit(10, 3)).toEqual([4, 3, 3]);
    expect(treeLevels(0, 10, 10)).toEqual([1]);
    expect(treeLevels(101, 10, 10)).toEqual([11, 2, 1]);
    expect(treeBlocks(101, 10, 10)).toBe(14);
    for (const n of [11, 19, 20, 21, 99, 1000]) {
      const [leaves] = treeLevels(n, 10, 10);
      for (const size of evenSplit(n, leaves!)) expect(size).toBeGreaterThanOrEqual(5);
    }
  });

  it("links siblings and keys each child by its first record", () => {
    const shape: TreeShape = {
      blockSize: 64,
      headerSize: 8,
      recordSize: 8,
      keySize: 4,
      pointerSize: 4,
      writeHeader(block, level, count, left, right) {
        const dv = new DataView(block.buffer);
        dv.setUint16(0, level);
        dv.setUint16(2, count);
        dv.setUint16(4, left ?? 0xffff);
        dv.setUint16(6, right ?? 0xffff);
      },
      lowKey: (record) => record.subarray(0, 4),
    };
    const records = Array.from({ length: 20 }, (_, i) => Uint8Array.of(0, 0, 0, i, 0, 0, 0, 0));
    const built = buildTree(shape, records, [100, 101, 102, 103]);
    expect(built.levels).toBe(2);
    expect(built.root).toBe(103);
    const root = new DataView(built.blocks[3]!.bytes.buffer);
    expect(root.getUint16(2)).toBe(3);
    // Keys: first records 0, 7, 14 (20 records over 3 leaves: 7, 7, 6); pointers after 7 key slots.
    expect([root.getUint32(8), root.getUint32(12), root.getUint32(16)]).toEqual([0, 7, 14]);
    expect([root.getUint32(8 + 7 * 4), root.getUint32(8 + 7 * 4 + 4), root.getUint32(8 + 7 * 4 + 8)]).toEqual([100, 101, 102]);
    const middle = new DataView(built.blocks[1]!.bytes.buffer);
    expect([middle.getUint16(4), middle.getUint16(6)]).toEqual([100, 102]);
  });
});

describe("WriteBackDevice", () => {
  it("reads its own writes at once and writes runs of adjacent blocks when asked", async () => {
    const bytes = new Uint8Array(64 * 1024).fill(7);
    const base = memoryDevice(bytes);
    const writes: Array<[number, number]> = [];
    const device = new WriteBackDevice({ ...base, writable: true, async write(data, position) {
      writes.push([position, data.length]);
      bytes.set(data, position);
    } }, 4096);
    await device.write(new Uint8Array(4096).fill(1), 4096);
    await device.write(new Uint8Array(4096).fill(2), 8192);
    await device.write(Uint8Array.of(9, 9), 20_000);
    const read = new Uint8Array(5 * 4096);
    await device.read(read, 4096);
    expect([read[0], read[4096], read[8191 - 4096 + 4096], read[20_000 - 4096], read[20_002 - 4096]]).toEqual([1, 2, 2, 9, 7]);
    expect(writes).toEqual([]);
    await device.writeOut();
    expect(writes).toEqual([[4096, 8192], [16_384, 4096]]);
    expect(bytes[20_001]).toBe(9);
    expect(bytes[20_002]).toBe(7);
  });
});
