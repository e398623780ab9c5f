// Hostile and broken images built in pure TypeScript (our own qcow2 writer, then byte surgery):
// every one must end in a typed StorageError, quickly and without large allocations.
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageError } from "./errors.js";
import { openDisk } from "./open-disk.js";
import { createQcow2 } from "./qcow2-create.js";
import { compareDisks } from "./compare.js";
import { diskInfo } from "./info.js";
import type { BlockDevice } from "./block-device.js";

let dir: string;
let good: string;
const SIZE = 8 * 1024 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "leapp-bad-input-"));
  good = join(dir, "good.qcow2");
  await createQcow2(good, { size: SIZE, clusterSize: 4096 });
  const device = await openDisk(good, { writable: true });
  for (let i = 0; i < 16; i++) await device.write(Buffer.alloc(5000, i + 1), i * 500_000);
  await device.close();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Reads everything a consumer would: the allocation map and every byte. */
async function readAll(device: BlockDevice): Promise<void> {
  for await (const _e of device.extents());
  const buffer = new Uint8Array(1024 * 1024);
  for (let at = 0; at < device.size; at += buffer.length) await device.read(buffer.subarray(0, Math.min(buffer.length, device.size - at)), at);
}

async function expectTypedError(path: string, codes: string[]): Promise<void> {
  const started = Date.now();
  let error: unknown;
  try {
    const device = await openDisk(path);
    try {
      await readAll(device);
    } finally {
      await device.close();
    }
  } catch (err) {
    error = err;
  }
  expect(error, `${path} should be refused`).toBeInstanceOf(StorageError);
  expect(codes).toContain((error as StorageError).code);
  expect((error as StorageError).message.length).toBeGreaterThan(20);
  expect(Date.now() - started).toBeLessThan(5000);
}

/** A copy of the good image with `patch` applied to its bytes. */
async function mutant(name: string, patch: (bytes: Buffer, view: DataView) => void): Promise<string> {
  const bytes = Buffer.from(await readFile(good));
  patch(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe("qcow2 images that lie", () => {
  it("huge l1_size", async () => expectTypedError(await mutant("l1.qcow2", (_b, v) => v.setUint32(36, 0xffffffff)), ["STORAGE_CORRUPT", "STORAGE_TRUNCATED"]));
  it("l1_size too small for the disk", async () => expectTypedError(await mutant("l1small.qcow2", (_b, v) => v.setUint32(36, 0)), ["STORAGE_CORRUPT"]));
  it("absurd cluster_bits", async () => {
    for (const bits of [0, 8, 22, 63, 0xffffffff]) await expectTypedError(await mutant(`cb${bits}.qcow2`, (_b, v) => v.setUint32(20, bits)), ["STORAGE_CORRUPT"]);
  });
  it("L1 table past the end of the file", async () => expectTypedError(await mutant("l1off.qcow2", (_b, v) => v.setBigUint64(40, 1n << 40n)), ["STORAGE_TRUNCATED", "STORAGE_CORRUPT"]));
  it("L1 table offset beyond any number", async () => expectTypedError(await mutant("l1big.qcow2", (_b, v) => v.setBigUint64(40, 0xfffffffffffff000n)), ["STORAGE_TRUNCATED", "STORAGE_CORRUPT"]));
  it("a virtual size of 2^62", async () => expectTypedError(await mutant("size.qcow2", (_b, v) => v.setBigUint64(24, 1n << 62n)), ["STORAGE_CORRUPT"]));
  it("L2 entries pointing past the end and into the header", async () => {
    // Find the first L2 table through the L1 table, then aim its entries elsewhere.
    const bytes = await readFile(good);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const l1 = Number(view.getBigUint64(40));
    const l2 = Number(view.getBigUint64(l1) & 0x00fffffffffffe00n);
    await expectTypedError(await mutant("l2past.qcow2", (_b, v) => v.setBigUint64(l2, (1n << 63n) | (1n << 45n))), ["STORAGE_TRUNCATED", "STORAGE_CORRUPT"]);
    await expectTypedError(await mutant("l2unaligned.qcow2", (_b, v) => v.setBigUint64(l2, (1n << 63n) | 512n)), ["STORAGE_CORRUPT"]);
    await expectTypedError(await mutant("l2compressed.qcow2", (_b, v) => v.setBigUint64(l2, (1n << 62n) | 12345n)), ["STORAGE_CORRUPT", "STORAGE_TRUNCATED"]);
    await expectTypedError(await mutant("l1l2past.qcow2", (_b, v) => v.setBigUint64(l1, (1n << 63n) | (1n << 44n))), ["STORAGE_TRUNCATED", "STORAGE_CORRUPT"]);
  });
  it("refcount table pointing anywhere (opened for writing)", async () => {
    const path = await mutant("reftable.qcow2", (_b, v) => v.setBigUint64(48, 1n << 41n));
    await expect(openDisk(path, { writable: true }).then(async (d) => (await d.write(Buffer.alloc(512, 1), 7 * 1024 * 1024), d.close()))).rejects.toBeInstanceOf(StorageError);
  });
  it("unknown version, encryption and external data file are unsupported", async () => {
    await expectTypedError(await mutant("v1.qcow2", (_b, v) => v.setUint32(4, 1)), ["STORAGE_UNSUPPORTED"]);
    await expectTypedError(await mutant("crypt.qcow2", (_b, v) => v.setUint32(32, 2)), ["STORAGE_UNSUPPORTED"]);
    await expectTypedError(await mutant("datafile.qcow2", (_b, v) => v.setUint32(76, v.getUint32(76) | 4)), ["STORAGE_UNSUPPORTED"]);
  });
  it("truncated anywhere", async () => {
    const whole = (await readFile(good)).length;
    for (const length of [0, 3, 50, 71, 103, 4096, 8192, 3 * 4096 + 100, whole - 4096, whole - 1]) {
      const path = join(dir, `trunc-${length}.qcow2`);
      await writeFile(path, (await readFile(good)).subarray(0, length));
      if (length < 4) {
        // Too short for any magic: a (tiny) raw disk, which is what qemu makes of it too.
        const device = await openDisk(path);
        expect(device.format).toBe("raw");
        await device.close();
        continue;
      }
      if (length <= 3 * 4096 + 100) await expectTypedError(path, ["STORAGE_TRUNCATED", "STORAGE_CORRUPT"]);
      else {
        // Cut near the end, the lost cluster may be one no read needs (a refcount block): then
        // reading succeeds, as in qemu; otherwise it must be a typed error.
        const outcome = await (async () => {
          const d = await openDisk(path);
          try {
            await readAll(d);
            return "read";
          } finally {
            await d.close();
          }
        })().catch((err: unknown) => err);
        if (outcome !== "read") expect(outcome).toBeInstanceOf(StorageError);
      }
    }
  });
});

describe("backing chains that lie", () => {
  it("an image backed by itself", async () => {
    const self = join(dir, "self.qcow2");
    await createQcow2(self, { size: SIZE, backingFile: "self.qcow2", backingFormat: "qcow2" });
    await expectTypedError(self, ["STORAGE_BACKING_LOOP"]);
  });
  it("a loop through a symlink and another image", async () => {
    const a = join(dir, "loop-a.qcow2");
    await createQcow2(a, { size: SIZE, backingFile: "loop-b.qcow2", backingFormat: "qcow2" });
    await createQcow2(join(dir, "loop-b-real.qcow2"), { size: SIZE, backingFile: "loop-a.qcow2", backingFormat: "qcow2" });
    await symlink(join(dir, "loop-b-real.qcow2"), join(dir, "loop-b.qcow2"));
    await expectTypedError(a, ["STORAGE_BACKING_LOOP"]);
  });
  it("a chain deeper than the limit", async () => {
    await createQcow2(join(dir, "deep-0.qcow2"), { size: SIZE });
    for (let i = 1; i <= 70; i++) await createQcow2(join(dir, `deep-${i}.qcow2`), { size: SIZE, backingFile: `deep-${i - 1}.qcow2`, backingFormat: "qcow2" });
    await expectTypedError(join(dir, "deep-70.qcow2"), ["STORAGE_BACKING_DEPTH"]);
    const ok = await diskInfo(join(dir, "deep-40.qcow2"));
    expect(ok.backing).toHaveLength(40);
  });
  it("a missing backing file", async () => {
    const orphan = join(dir, "orphan.qcow2");
    await createQcow2(orphan, { size: SIZE, backingFile: "no-such-base.raw", backingFormat: "raw" });
    await expectTypedError(orphan, ["STORAGE_BACKING_MISSING"]);
    // Outside the image's directory it is refused before anyone looks whether it exists.
    const far = join(dir, "far-orphan.qcow2");
    await createQcow2(far, { size: SIZE, backingFile: "/nonexistent/base.raw", backingFormat: "raw" });
    await expectTypedError(far, ["STORAGE_PATH_ESCAPE"]);
  });
});

describe("files that are no image", () => {
  it("a zero-length file is an empty raw disk; random bytes are a raw disk", async () => {
    const empty = join(dir, "empty");
    await writeFile(empty, "");
    const d = await openDisk(empty);
    expect([d.format, d.size]).toEqual(["raw", 0]);
    await d.close();
    const random = join(dir, "random");
    const bytes = Buffer.alloc(100_000);
    let seed = 7;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    await writeFile(random, bytes);
    const r = await openDisk(random);
    expect(r.format).toBe("raw");
    await r.close();
    // Random bytes behind a qcow2 magic are refused.
    bytes.write("QFI\xfb", 0, "latin1");
    await writeFile(random, bytes);
    await expectTypedError(random, ["STORAGE_CORRUPT", "STORAGE_UNSUPPORTED", "STORAGE_TRUNCATED"]);
  });
  it("reads outside the disk, writes to read-only devices and closed devices are refused", async () => {
    const d = await openDisk(good);
    await expect(d.read(new Uint8Array(10), SIZE - 5)).rejects.toMatchObject({ code: "STORAGE_OUT_OF_RANGE" });
    await expect(d.write(new Uint8Array(10), 0)).rejects.toMatchObject({ code: "STORAGE_READ_ONLY" });
    await d.close();
    await expect(d.read(new Uint8Array(10), 0)).rejects.toMatchObject({ code: "STORAGE_CLOSED" });
  });
});

describe("compareDisks", () => {
  it("counts allocation differences that read as zero as equal, and finds the first difference", async () => {
    const a = join(dir, "cmp-a.raw");
    const b = join(dir, "cmp-b.qcow2");
    await writeFile(a, Buffer.alloc(SIZE));
    await createQcow2(b, { size: SIZE + 65536 });
    expect(await compareDisks(a, b)).toEqual({ identical: true, sizeA: SIZE, sizeB: SIZE + 65536 });
    const device = await openDisk(b, { writable: true });
    await device.write(Buffer.alloc(4096), 0); // allocated zeros
    await device.write(Buffer.from([1]), 5_000_001);
    await device.close();
    expect(await compareDisks(a, b)).toMatchObject({ identical: false, firstDifference: 5_000_001 });
    const tail = join(dir, "cmp-tail.qcow2");
    await createQcow2(tail, { size: SIZE + 65536 });
    const t = await openDisk(tail, { writable: true });
    await t.write(Buffer.from([9]), SIZE + 100);
    await t.close();
    expect(await compareDisks(a, tail)).toMatchObject({ identical: false, firstDifference: SIZE + 100 });
  });
});
