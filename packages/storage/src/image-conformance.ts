/**
 * Test support for the vmdk, vdi, vhdx and vpc conformance and fuzz tests. Not part of the public
 * API (not exported from index.ts): it runs the real qemu-img, our oracle.
 */
import { copyFile, open, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { expect } from "vitest";
import type { BlockDevice, DiskFormat, FormatDriver, OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { detectDiskFormat } from "./formats.js";
import { ImageFile } from "./image-file.js";
import { openDisk } from "./open-disk.js";
import { diskInfo } from "./info.js";
import { qemuImg, qemuInfo, scratchDir } from "./testing.js";
import { isZero } from "./util.js";
import { seededRandom } from "@leapp/zoo";

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

/**
 * Opens `path` with one driver directly, bypassing detection: backing files open with
 * `openBacking` (none by default), other files the image names from its directory, unchecked.
 */
export async function openDirect(driver: FormatDriver, path: string, openBacking?: OpenContext["openBacking"]): Promise<BlockDevice> {
  return driver.open(await ImageFile.open(path), {
    writable: false,
    openBacking:
      openBacking ??
      (async (name) => {
        throw new StorageError("STORAGE_BACKING_MISSING", `no backing files in this test (${name})`);
      }),
    openFile: (name) => ImageFile.open(resolve(dirname(path), name)),
  });
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
        expect(isZero(buffer.subarray(0, n)), `${extent.kind} range at ${at} reads as zeros in qemu-img's output`).toBe(true);
      }
    }
    expect(next, "extents cover the whole disk").toBe(device.size);
  } finally {
    await raw.close();
  }
}

/**
 * The conformance check of one image: `detectDiskFormat` names `format`, and the whole virtual
 * content read through `openDisk` equals `qemu-img convert -O raw` byte for byte, with an
 * allocation map that covers the disk and calls nothing zero that is not.
 */
export async function expectConformsToQemu(image: string, format: DiskFormat): Promise<void> {
  expect(await detectDiskFormat(image), `detected format of ${image}`).toBe(format);
  const dir = await scratchDir("leapp-conformance-");
  try {
    const raw = join(dir, "qemu.raw");
    await qemuImg("convert", "-f", format, "-O", "raw", image, raw);
    const device = await openDisk(image);
    try {
      expect(device.format).toBe(format);
      await expectDeviceEqualsRaw(device, raw);
    } finally {
      await device.close();
    }
    // What `qemu-img info` says of the image, diskInfo says too.
    const [theirs, ours] = await Promise.all([qemuInfo(image, format), diskInfo(image)]);
    expect(ours.clusterSize, "cluster size").toBe(theirs["cluster-size"]);
    expect(ours.backingFile, "backing file").toBe(theirs["backing-filename"]);
    expect(ours.actualSize, "actual size").toBe(theirs["actual-size"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Converts a raw file to `format` with qemu-img (`options` as for -o) and returns the image path. */
export async function qemuConvert(raw: string, dir: string, format: DiskFormat, options: string, name = `disk.${format}`): Promise<string> {
  const image = join(dir, name);
  await qemuImg("convert", "-f", "raw", "-O", format, ...(options ? ["-o", options] : []), raw, image);
  return image;
}

/** Whether `run` either succeeds or throws a StorageError; anything else is rethrown. */
export async function storageErrorOrSuccess(run: () => Promise<void>): Promise<StorageError | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    if (error instanceof StorageError) return error;
    throw error;
  }
}

/**
 * Opens an image and reads all its data (what the allocation map calls data, up to `limit`
 * bytes, in 1 MiB reads) — what a copy would do. For the bad-input and fuzz tests.
 */
export async function openAndReadAll(image: string, format: DiskFormat, limit = 256 * 1024 * 1024): Promise<void> {
  const device = await openDisk(image, { format });
  try {
    const buffer = new Uint8Array(1 << 20);
    let budget = limit;
    for await (const extent of device.extents()) {
      if (extent.kind !== "data") continue;
      for (let at = extent.offset; at < extent.offset + extent.length && budget > 0; at += buffer.length) {
        const n = Math.min(buffer.length, extent.offset + extent.length - at);
        await device.read(buffer.subarray(0, n), at);
        budget -= n;
      }
    }
  } finally {
    await device.close();
  }
}

/** Asserts that opening and reading an image fails with a StorageError of one of `codes`. */
export async function expectStorageError(image: string, format: DiskFormat, ...codes: string[]): Promise<StorageError> {
  const error = await storageErrorOrSuccess(() => openAndReadAll(image, format));
  expect(error, `${image} should fail with ${codes.join(" or ")}`).toBeInstanceOf(StorageError);
  expect(codes).toContain(error!.code);
  return error!;
}

/** An edit of a file: overwrite bytes at `offset` with what `write` puts into a copy of them. */
export type Patch = [offset: number, length: number, write: (bytes: Buffer) => void];

/** Copies `source` to `target` and applies `patches` to the copy (offsets < 0 count from the end). */
export async function patchedCopy(source: string, target: string, patches: Patch[]): Promise<string> {
  await copyFile(source, target);
  const file = await open(target, "r+");
  try {
    const size = (await file.stat()).size;
    for (const [offset, length, write] of patches) {
      const at = offset < 0 ? size + offset : offset;
      const bytes = Buffer.alloc(length);
      await file.read(bytes, 0, length, at);
      write(bytes);
      await file.write(bytes, 0, length, at);
    }
  } finally {
    await file.close();
  }
  return target;
}

/** Reads `length` bytes at `offset` of a file. */
export async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const file = await open(path, "r");
  try {
    const bytes = Buffer.alloc(length);
    await file.read(bytes, 0, length, offset);
    return bytes;
  } finally {
    await file.close();
  }
}

export interface FuzzOptions {
  seed: number;
  /** How many mutated images to try (a fixed number, so a seed always gives the same run). */
  cases: number;
  /** Byte ranges [offset, length] worth mutating (headers and tables); one is picked per mutation. */
  regions: [offset: number, length: number][];
  /** Repairs checksums after mutating, so mutations reach the fields behind them. */
  fix?: (image: Buffer) => void;
}

/** The outcome counts of a fuzz run. */
export interface FuzzReport {
  cases: number;
  read: number;
  errors: Record<string, number>;
}

/** The longest one mutated image may take to open and read before it counts as a hang. */
const FUZZ_CASE_LIMIT_MS = 5000;

/**
 * Seeded mutation fuzzing of a real image: each case mutates a few bytes of its headers and
 * tables (random bytes, bit flips, all-ones and zero words, big and small integers), then opens
 * and reads the result. Each outcome must be a successful read or a StorageError — never another
 * exception, a hang, or a crash.
 */
export async function fuzzImage(image: string, format: DiskFormat, options: FuzzOptions): Promise<FuzzReport> {
  const random = seededRandom(options.seed);
  const pick = (n: number) => Math.floor(random() * n);
  const original = await readFile(image);
  // Beside the original, so the extent files a descriptor names are found.
  const target = join(dirname(image), `mutated-${basename(image)}`);
  const report: FuzzReport = { cases: 0, read: 0, errors: {} };
  try {
    while (report.cases < options.cases) {
      const mutated = Buffer.from(original);
      for (let m = 1 + pick(4); m > 0; m--) {
        const [start, length] = options.regions[pick(options.regions.length)]!;
        const at = start + pick(Math.max(1, Math.min(length, mutated.length - start) - 8));
        switch (pick(6)) {
          case 0:
            mutated[at] = pick(256);
            break;
          case 1:
            mutated[at]! ^= 1 << pick(8);
            break;
          case 2:
            mutated.fill(0xff, at, at + 4);
            break;
          case 3:
            mutated.fill(0, at, at + 8);
            break;
          case 4:
            mutated.writeUInt32LE(pick(2) ? pick(64) : 2 ** pick(32), at);
            break;
          default:
            mutated.writeUInt32BE(pick(2) ? pick(64) : 2 ** pick(32), at);
        }
      }
      if (random() < 0.9) options.fix?.(mutated);
      await writeFile(target, mutated);
      report.cases++;
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`case ${report.cases} (seed ${options.seed}) took over ${FUZZ_CASE_LIMIT_MS} ms`)), FUZZ_CASE_LIMIT_MS);
      });
      try {
        const error = await Promise.race([storageErrorOrSuccess(() => openAndReadAll(target, format, 32 * 1024 * 1024)), hang]);
        if (error) report.errors[error.code] = (report.errors[error.code] ?? 0) + 1;
        else report.read++;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    await rm(target, { force: true });
  }
  return report;
}
