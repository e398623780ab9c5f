/**
 * Test support for the vmdk, vdi, vhdx and vpc conformance and fuzz tests. Not part of the public
 * API (not exported from index.ts): it runs the real qemu-img, our oracle.
 */
import { execFile } from "node:child_process";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { BlockDevice, FormatDriver, OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";

/** Runs the real qemu-img; fails (never skips) when it is missing (Debian: qemu-utils). */
export function qemu(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("qemu-img", args, { maxBuffer: 64 << 20, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`qemu-img ${args.join(" ")} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** A fresh temporary directory; the caller removes it (see `withTempDir`). */
export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "leapp-formats-"));
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir();
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A small deterministic PRNG (mulberry32), so every fixture and fuzz run is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A sparse raw file of `size` bytes with scattered runs of pseudo-random data, one run of
 * explicit zeros, and data in the first and the last bytes; holes everywhere else.
 */
export async function makeScatteredRaw(dir: string, size: number, options: { seed?: number; runs?: number; maxRun?: number } = {}): Promise<string> {
  const random = seededRandom(options.seed ?? 7);
  const path = join(dir, "source.raw");
  await writeFile(path, "");
  const file = await open(path, "r+");
  try {
    await file.truncate(size);
    const runs = options.runs ?? 40;
    const maxRun = options.maxRun ?? 300 * 1024;
    for (let i = 0; i < runs; i++) {
      const length = 1 + Math.floor(random() * Math.min(maxRun, size));
      const at = Math.floor(random() * (size - length));
      const bytes = Buffer.allocUnsafe(length);
      for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
      // Every fourth run is explicit zeros, which formats may store as zero blocks.
      if (i % 4 === 3) bytes.fill(0);
      await file.write(bytes, 0, length, at);
    }
    await file.write(Buffer.from("first bytes of the disk"), 0, 23, 0);
    await file.write(Buffer.alloc(77, 0xa5), 0, 77, size - 77);
  } finally {
    await file.close();
  }
  return path;
}

/** An OpenContext for opening a driver directly: backing files open with `openBacking`. */
export function directContext(openBacking?: OpenContext["openBacking"]): OpenContext {
  return {
    writable: false,
    openBacking:
      openBacking ??
      (async (path) => {
        throw new StorageError("STORAGE_BACKING_MISSING", `no backing files in this test (${path})`);
      }),
  };
}

/** Reads the whole device in `chunk`-byte reads and checks it against the bytes of a raw file. */
export async function expectDeviceEqualsRaw(device: BlockDevice, rawPath: string, chunk = 1 << 20): Promise<void> {
  const raw = await open(rawPath, "r");
  try {
    expect(device.size, "virtual size").toBe((await raw.stat()).size);
    const ours = Buffer.alloc(chunk);
    const theirs = Buffer.alloc(chunk);
    for (let at = 0; at < device.size; at += chunk) {
      const n = Math.min(chunk, device.size - at);
      await device.read(ours.subarray(0, n), at);
      theirs.fill(0);
      await raw.read(theirs, 0, n, at);
      if (!ours.subarray(0, n).equals(theirs.subarray(0, n))) {
        let first = 0;
        while (ours[first] === theirs[first]) first++;
        expect.fail(`content differs from qemu-img convert -O raw at byte ${at + first}`);
      }
    }
    // The allocation map covers the disk exactly, and what it calls zero or unallocated is zero.
    let next = 0;
    const buffer = Buffer.alloc(chunk);
    for await (const extent of device.extents()) {
      expect(extent.offset, "extents are contiguous").toBe(next);
      expect(extent.length).toBeGreaterThan(0);
      next = extent.offset + extent.length;
      if (extent.kind === "data") continue;
      for (let at = extent.offset; at < next; at += chunk) {
        const n = Math.min(chunk, next - at);
        buffer.fill(1);
        await raw.read(buffer, 0, n, at);
        expect(buffer.subarray(0, n).every((b) => b === 0), `${extent.kind} range at ${at} reads as zeros in qemu-img's output`).toBe(true);
      }
    }
    expect(next, "extents cover the whole disk").toBe(device.size);
  } finally {
    await raw.close();
  }
}

/** Opens `image` with `driver` and checks its content against `qemu-img convert -O raw`. */
export async function expectDriverMatchesQemu(driver: FormatDriver, image: string, context = directContext()): Promise<void> {
  await withTempDir(async (dir) => {
    const raw = join(dir, "qemu.raw");
    await qemu("convert", "-f", driver.format, "-O", "raw", image, raw);
    const device = await driver.open(image, context);
    try {
      await expectDeviceEqualsRaw(device, raw);
    } finally {
      await device.close();
    }
  });
}
