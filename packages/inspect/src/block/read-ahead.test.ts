// The read-ahead view of an image (seeded): any read, at any offset and length — across window
// edges, in the partial last window, past the end — returns what the device itself returns, with
// far fewer device reads for a walk of small neighbouring reads; a window the device cannot read
// falls back to the bytes asked for; writable devices are never windowed.
import { describe, expect, it } from "vitest";
import type { BlockDevice } from "@leapp/storage";
import { seededRandom } from "@leapp/zoo";
import { readAheadDevice } from "./read-ahead.js";
import { memoryDevice } from "./volumes-test-support.js";

const WINDOW = 64 * 1024;

function counting(device: BlockDevice, failAt?: number): BlockDevice & { reads: number } {
  const counted = {
    ...device,
    reads: 0,
    async read(buffer: Uint8Array, position: number) {
      counted.reads++;
      // A damaged stretch: only reads that include `failAt` fail.
      if (failAt !== undefined && position <= failAt && failAt < position + buffer.length) throw new Error(`unreadable byte ${failAt}`);
      await device.read(buffer, position);
    },
  };
  return counted;
}

describe("readAheadDevice", () => {
  const random = seededRandom(7);
  const bytes = new Uint8Array(5 * WINDOW + 1234).map(() => Math.floor(random() * 256));

  it("reads exactly what the device holds, wherever and however much is asked", async () => {
    const device = counting(memoryDevice(bytes));
    const view = readAheadDevice(device, WINDOW, 3);
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(random() * (random() < 0.9 ? 4096 : WINDOW));
      const position = Math.floor(random() * (bytes.length - length + 1));
      const got = new Uint8Array(length);
      await view.read(got, position);
      expect(Buffer.from(got).equals(Buffer.from(bytes.subarray(position, position + length))), `${length} at ${position}`).toBe(true);
    }
    await expect(view.read(new Uint8Array(10), bytes.length - 5)).rejects.toMatchObject({ code: "STORAGE_OUT_OF_RANGE" });
    await expect(view.read(new Uint8Array(10), -1)).rejects.toMatchObject({ code: "STORAGE_OUT_OF_RANGE" });
  });

  it("reads each window of a walk of small neighbouring reads once", async () => {
    const device = counting(memoryDevice(bytes));
    const view = readAheadDevice(device, WINDOW, 4);
    for (let at = 0; at + 512 <= 4 * WINDOW; at += 700) await view.read(new Uint8Array(512), at);
    expect(device.reads).toBe(4);
    // Concurrent reads of one window share its one read.
    await Promise.all([0, 100, 200, 300].map((at) => view.read(new Uint8Array(50), 4 * WINDOW + at)));
    expect(device.reads).toBe(5);
  });

  it("falls back to the bytes asked for when their window cannot be read", async () => {
    const device = counting(memoryDevice(bytes), WINDOW + 100);
    const view = readAheadDevice(device, WINDOW, 4);
    const got = new Uint8Array(64);
    await view.read(got, WINDOW + 1000);
    expect(Buffer.from(got).equals(Buffer.from(bytes.subarray(WINDOW + 1000, WINDOW + 1064)))).toBe(true);
    await expect(view.read(new Uint8Array(64), WINDOW + 64)).rejects.toThrow(/unreadable byte/);
  });

  it("leaves writable devices as they are", () => {
    const writable = { ...memoryDevice(bytes), writable: true };
    expect(readAheadDevice(writable)).toBe(writable);
  });
});
