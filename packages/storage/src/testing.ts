/**
 * Test support shared by every driver's conformance test. Not part of the public API (not
 * exported from index.ts): it needs the real qemu-img, our oracle, which leapp never runs itself.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { DiskFormat } from "./block-device.js";
import { openDisk } from "./open-disk.js";
import { isZero } from "./util.js";

/** Block size of the content digest (see `contentDigest`). */
const DIGEST_BLOCK = 64 * 1024;
const READ_SIZE = 1 << 20;

/**
 * Runs the real qemu-img with `args` and returns its stdout. Fails loudly — never skips — when
 * qemu-img is not installed (Debian: qemu-utils) or exits non-zero.
 */
export function qemuImg(...args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile("qemu-img", args, { maxBuffer: 64 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new Error("qemu-img is not installed: the storage tests need it as their oracle (Debian: apt-get install qemu-utils)"));
        } else reject(new Error(`qemu-img ${args.join(" ")} failed (exit ${String(err.code)}): ${stderr || err.message}`));
        return;
      }
      resolvePromise(stdout);
    });
  });
}

const scratchDirs: string[] = [];
let cleanupRegistered = false;

/** A fresh empty directory under the system temp dir, removed when the test process exits. */
export async function scratchDir(prefix = "leapp-storage-"): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once("exit", () => {
      for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/**
 * Incremental digest of a disk's content: SHA-256 over, for each 64 KiB block that is not all
 * zero, its index and its bytes, then the total size. Two contents have the same digest exactly
 * when they are byte-identical (the framing is injective), yet runs of zeros cost nothing to
 * hash — so a 100 GiB sparse disk hashes as fast as its data. Feed blocks in increasing order.
 */
class ContentDigest {
  readonly #hash = createHash("sha256");
  readonly #index = Buffer.alloc(8);
  #last = -1;
  /** `block` is the content of block number `index` (64 KiB, or less for the last one). */
  block(index: number, block: Uint8Array): void {
    if (index <= this.#last) throw new Error(`digest blocks out of order: ${index} after ${this.#last}`);
    this.#last = index;
    if (isZero(block)) return;
    this.#index.writeBigUInt64BE(BigInt(index));
    this.#hash.update(this.#index);
    this.#hash.update(block);
  }
  finish(size: number): string {
    const tail = Buffer.alloc(8);
    tail.writeBigUInt64BE(BigInt(size));
    this.#hash.update("size");
    this.#hash.update(tail);
    return this.#hash.digest("hex");
  }
}

/** `qemu-img info --output=json` of an image, parsed. */
export async function qemuInfo(path: string, format?: string): Promise<Record<string, unknown> & { "virtual-size": number; format: string }> {
  const args = ["info", "--output=json", ...(format ? ["-f", format] : []), path];
  return JSON.parse(await qemuImg(...args)) as Record<string, unknown> & { "virtual-size": number; format: string };
}

/**
 * The content digest (see `ContentDigest`: SHA-256 in a sparse-invariant framing) of the output
 * of `qemu-img convert -O raw` of an image, and its size. Only the data ranges of the raw output
 * (from `qemu-img map`, which uses SEEK_DATA) are read.
 */
export async function qemuRawContent(path: string, options: { format?: DiskFormat } = {}): Promise<{ sha256: string; size: number }> {
  const dir = await scratchDir("leapp-qemu-raw-");
  const out = join(dir, "content.raw");
  try {
    await qemuImg("convert", ...(options.format ? ["-f", options.format] : []), "-O", "raw", path, out);
    const map = JSON.parse(await qemuImg("map", "--output=json", "-f", "raw", out)) as { start: number; length: number; data: boolean }[];
    const file = await open(out, "r");
    try {
      const size = (await file.stat()).size;
      const digest = new ContentDigest();
      const buffer = Buffer.alloc(DIGEST_BLOCK);
      let next = 0; // first block not yet fed
      for (const range of map) {
        if (!range.data) continue;
        const first = Math.max(next, Math.floor(range.start / DIGEST_BLOCK));
        const end = Math.ceil((range.start + range.length) / DIGEST_BLOCK);
        for (let b = first; b < end; b++) {
          const at = b * DIGEST_BLOCK;
          const n = Math.min(DIGEST_BLOCK, size - at);
          const { bytesRead } = await file.read(buffer, 0, n, at);
          if (bytesRead !== n) throw new Error(`short read of ${out} at ${at}`);
          digest.block(b, buffer.subarray(0, n));
        }
        next = Math.max(next, end);
      }
      return { sha256: digest.finish(size), size };
    } finally {
      await file.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The content digest of `qemu-img convert -O raw` output of an image (see `qemuRawContent`). */
export async function qemuRawSha256(path: string, options: { format?: DiskFormat } = {}): Promise<string> {
  return (await qemuRawContent(path, options)).sha256;
}

/**
 * The content digest and size of an image's full virtual content as read through `openDisk`, in
 * 1 MiB reads. With `useExtents`, ranges our allocation map calls zero or unallocated are not
 * read (they count as zeros) — for huge sparse disks; without it every byte is read.
 */
export async function leappRawContent(path: string, options: { format?: DiskFormat; useExtents?: boolean } = {}): Promise<{ sha256: string; size: number }> {
  const device = await openDisk(path, options.format ? { format: options.format } : {});
  try {
    const size = device.size;
    const digest = new ContentDigest();
    const buffer = new Uint8Array(READ_SIZE);
    const readRange = async (start: number, end: number) => {
      // Align to digest blocks; READ_SIZE is a multiple of DIGEST_BLOCK.
      for (let at = start; at < end; at += READ_SIZE) {
        const n = Math.min(READ_SIZE, end - at);
        const chunk = buffer.subarray(0, n);
        await device.read(chunk, at);
        for (let off = 0; off < n; off += DIGEST_BLOCK) digest.block((at + off) / DIGEST_BLOCK, chunk.subarray(off, Math.min(n, off + DIGEST_BLOCK)));
      }
    };
    if (!options.useExtents) await readRange(0, size);
    else {
      let next = 0; // first byte (block-aligned) not yet fed
      for await (const e of device.extents()) {
        if (e.kind !== "data") continue;
        const start = Math.max(next, Math.floor(e.offset / DIGEST_BLOCK) * DIGEST_BLOCK);
        const end = Math.min(size, Math.ceil((e.offset + e.length) / DIGEST_BLOCK) * DIGEST_BLOCK);
        if (end > start) await readRange(start, end);
        next = Math.max(next, end);
      }
    }
    return { sha256: digest.finish(size), size };
  } finally {
    await device.close();
  }
}

/** The content digest of an image's full virtual content read through `openDisk` (see `leappRawContent`). */
export async function leappRawSha256(path: string, options: { format?: DiskFormat; useExtents?: boolean } = {}): Promise<string> {
  return (await leappRawContent(path, options)).sha256;
}

/**
 * Asserts that what leapp reads from an image is byte-identical to `qemu-img convert -O raw` of
 * it, and that the virtual sizes agree. `format` is passed to both sides (else both probe).
 */
export async function expectSameContentAsQemu(path: string, options: { format?: DiskFormat; useExtents?: boolean } = {}): Promise<void> {
  const [qemu, ours] = await Promise.all([qemuRawContent(path, options), leappRawContent(path, options)]);
  expect(ours.size, `virtual size of ${path}`).toBe(qemu.size);
  expect(ours.sha256, `content of ${path} read by leapp vs qemu-img convert -O raw`).toBe(qemu.sha256);
}
