// Test support: BlockDevices over plain image files, and helpers that run the real mkfs tools.
import { execFileSync } from "node:child_process";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { checkRange, StorageError, type BlockDevice } from "@leapp/storage";

/** A read-only raw BlockDevice over a file (the storage package's raw driver does this for real). */
export function fileDevice(path: string): BlockDevice {
  const fd = openSync(path, "r");
  const size = fstatSync(fd).size;
  let closed = false;
  return {
    format: "raw",
    size,
    writable: false,
    async read(buffer, position) {
      if (closed) throw new StorageError("STORAGE_CLOSED", "closed");
      checkRange(size, position, buffer.length);
      let done = 0;
      while (done < buffer.length) {
        const n = readSync(fd, buffer, done, buffer.length - done, position + done);
        if (n === 0) throw new StorageError("STORAGE_TRUNCATED", "short read");
        done += n;
      }
    },
    async *extents(start = 0, length = size - start) {
      yield { offset: start, length, kind: "data" as const };
    },
    async write() {
      throw new StorageError("STORAGE_READ_ONLY", "read-only");
    },
    async flush() {},
    async close() {
      if (!closed) closeSync(fd);
      closed = true;
    },
  };
}

/** A BlockDevice over bytes in memory (for mutated copies of real images in fuzz tests). */
export function memoryDevice(bytes: Uint8Array): BlockDevice {
  return {
    format: "raw",
    size: bytes.length,
    writable: false,
    async read(buffer, position) {
      checkRange(bytes.length, position, buffer.length);
      buffer.set(bytes.subarray(position, position + buffer.length));
    },
    async *extents(start = 0, length = bytes.length - start) {
      yield { offset: start, length, kind: "data" as const };
    },
    async write() {
      throw new StorageError("STORAGE_READ_ONLY", "read-only");
    },
    async flush() {},
    async close() {},
  };
}

/** Runs a tool, failing the test with its stderr when it fails (and when it is missing). */
export function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` } });
}

/**
 * A device that reads like `base` with some bytes replaced — for mutating large real images
 * without copying them — and records the block-sized reads a clean walk makes (its metadata).
 */
export function patchedDevice(base: BlockDevice, patches: Map<number, number>, onRead?: (position: number, length: number) => void): BlockDevice {
  return {
    ...base,
    async read(buffer, position) {
      await base.read(buffer, position);
      onRead?.(position, buffer.length);
      for (const [at, value] of patches) if (at >= position && at < position + buffer.length) buffer[at - position] = value;
    },
    async close() {},
  };
}
