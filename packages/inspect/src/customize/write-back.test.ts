// The write-back buffer against a plain byte array (seeded random writes, reads, flushes and
// small capacities that force drains mid-way): reads always see the latest writes, and after a
// flush the device holds exactly the reference bytes — in fewer, larger writes.
import { checkRange, StorageError, type BlockDevice } from "@leapp/storage";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../fs/conformance.js";
import { writeBackDevice } from "./write-back.js";

function recordingDevice(size: number) {
  const bytes = new Uint8Array(size);
  const stats = { writes: 0, flushes: 0, closed: false };
  const device: BlockDevice = {
    format: "raw",
    size,
    writable: true,
    async read(buffer, position) {
      checkRange(size, position, buffer.length);
      await new Promise((r) => setImmediate(r));
      buffer.set(bytes.subarray(position, position + buffer.length));
    },
    async *extents(start = 0, length = size - start) {
      yield { offset: start, length, kind: "data" as const };
    },
    async write(data, position) {
      checkRange(size, position, data.length);
      await new Promise((r) => setImmediate(r));
      bytes.set(data, position);
      stats.writes++;
    },
    async flush() {
      stats.flushes++;
    },
    async close() {
      stats.closed = true;
    },
  };
  return { device, bytes, stats };
}

describe("writeBackDevice", () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`reads its own writes and drains them exactly (seed ${seed})`, async () => {
      const size = 1 << 20;
      const random = seededRandom(seed);
      const { device, bytes, stats } = recordingDevice(size);
      const reference = new Uint8Array(size);
      const buffered = writeBackDevice(device, seed === 1 ? 1 << 30 : 20_000);
      const pending: Promise<void>[] = [];
      let writeCalls = 0;
      for (let step = 0; step < 2000; step++) {
        const roll = random();
        const length = 1 + Math.floor(random() * (random() < 0.8 ? 4096 : 70_000));
        const at = Math.floor(random() * (size - length));
        if (roll < 0.6) {
          // A read racing a write to the same bytes may see either: reads and drains race, writes wait.
          await Promise.all(pending.splice(0));
          const data = new Uint8Array(length).fill(1 + Math.floor(random() * 255));
          reference.set(data, at);
          writeCalls++;
          const write = buffered.write(data, at);
          data.fill(0); // the caller may reuse its buffer at once
          await write;
        } else if (roll < 0.95) {
          const out = new Uint8Array(length);
          const expected = reference.slice(at, at + length);
          pending.push(buffered.read(out, at).then(() => expect(Buffer.from(out).equals(Buffer.from(expected))).toBe(true)));
          if (pending.length > 8) await Promise.all(pending.splice(0));
        } else pending.push(buffered.flush()); // reads run while it drains
      }
      await Promise.all(pending);
      await buffered.flush();
      expect(Buffer.from(bytes).equals(Buffer.from(reference))).toBe(true);
      expect(stats.writes).toBeLessThan(writeCalls);
      await buffered.close();
      expect(stats.closed).toBe(true);
    });
  }

  it("joins adjacent writes into one", async () => {
    const { device, stats, bytes } = recordingDevice(1 << 20);
    const buffered = writeBackDevice(device);
    for (let i = 0; i < 100; i++) await buffered.write(new Uint8Array(4096).fill(i), i * 4096);
    expect(stats.writes).toBe(0);
    await buffered.flush();
    expect(stats.writes).toBe(1);
    expect(bytes[99 * 4096]).toBe(99);
  });

  it("passes the device's range errors through", async () => {
    const buffered = writeBackDevice(recordingDevice(4096).device);
    await expect(buffered.write(new Uint8Array(2), 4095)).rejects.toBeInstanceOf(StorageError);
  });
});
