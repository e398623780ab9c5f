import type { BlockDevice } from "@leapp/storage";
import { describe, expect, it } from "vitest";
import { WriteBackCache } from "./write-back-cache.js";
import { writeBehind } from "./write-behind-device.js";

/** A writable in-memory device that logs every read and write it is asked for. */
function memory(size: number): BlockDevice & { bytes: Uint8Array; reads: Array<[number, number]>; writes: Array<[number, number]> } {
  const bytes = new Uint8Array(size);
  const reads: Array<[number, number]> = [];
  const writes: Array<[number, number]> = [];
  return {
    format: "raw",
    size,
    writable: true,
    bytes,
    reads,
    writes,
    async read(buffer, position) {
      reads.push([position, buffer.length]);
      buffer.set(bytes.subarray(position, position + buffer.length));
    },
    async *extents() {
      yield { offset: 0, length: size, kind: "data" as const };
    },
    async write(data, position) {
      writes.push([position, data.length]);
      bytes.set(data, position);
    },
    async flush() {},
    async close() {},
  };
}

describe("WriteBackCache", () => {
  it("keeps dirty blocks until write-back, seals them last, writes adjacent ones at once", async () => {
    const device = memory(64 * 1024);
    const cache = new WriteBackCache(device, 1024, 2, "test", false);
    const a = await cache.block(3);
    a[0] = 1;
    cache.dirty(3, a, (bytes) => (bytes[1023] = 0xaa));
    const b = cache.fresh(4, (bytes) => (bytes[1023] = 0xbb));
    b[0] = 2;
    cache.fresh(9)[0] = 3;
    // Dirty blocks survive any amount of reading and trimming.
    for (let i = 10; i < 40; i++) await cache.block(i);
    cache.trim();
    expect(await cache.block(3)).toBe(a);
    expect(device.bytes[3 * 1024]).toBe(0);
    expect(cache.dirtyBytes).toBe(3 * 1024);
    await cache.writeBack();
    expect(device.writes).toEqual([[3 * 1024, 2048], [9 * 1024, 1024]]);
    expect([device.bytes[3 * 1024], device.bytes[4 * 1024 - 1], device.bytes[4 * 1024], device.bytes[5 * 1024 - 1], device.bytes[9 * 1024]]).toEqual([1, 0xaa, 2, 0xbb, 3]);
    expect(cache.dirtyBytes).toBe(0);
  });

  it("reads a run's missing blocks with one device read; a forgotten block is never written", async () => {
    const device = memory(64 * 1024);
    device.bytes.fill(7);
    const cache = new WriteBackCache(device, 1024, 100, "test");
    const held = await cache.block(5);
    device.reads.length = 0;
    const run = await cache.blocks(2, 8);
    expect(run[3]).toBe(held);
    expect(device.reads).toEqual([[2048, 3072], [6144, 4096]]);
    const doomed = await cache.block(20);
    doomed[0] = 1;
    cache.dirty(20, doomed);
    cache.forget(20);
    await cache.writeBack();
    expect(device.writes).toEqual([]);
  });
});

describe("writeBehind", () => {
  it("gathers writes that follow one another into one, and every read sees them", async () => {
    const device = memory(1 << 20);
    const wb = writeBehind(device, 64 * 1024);
    const piece = new Uint8Array(1000);
    for (let i = 0; i < 10; i++) {
      piece.fill(i + 1);
      await wb.write(piece, 4096 + i * 1000);
    }
    expect(device.writes).toEqual([]);
    // A read elsewhere does not need them; a read of them does.
    const elsewhere = new Uint8Array(10);
    await wb.read(elsewhere, 0);
    expect(device.writes).toEqual([]);
    const back = new Uint8Array(10_000);
    await wb.read(back, 4096);
    expect(device.writes).toEqual([[4096, 10_000]]);
    expect(back[0]).toBe(1);
    expect(back[9999]).toBe(10);
    // A write somewhere else first writes what was gathered; big writes go straight through.
    await wb.write(new Uint8Array(10), 200_000);
    await wb.write(new Uint8Array(10), 300_000);
    await wb.write(new Uint8Array(40_000), 400_000);
    await wb.flush();
    expect(device.writes.slice(1)).toEqual([[200_000, 10], [300_000, 10], [400_000, 40_000]]);
  });
});
