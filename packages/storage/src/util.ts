import type { FileHandle } from "node:fs/promises";
import { StorageError } from "./errors.js";

const ZERO = Buffer.alloc(1 << 20);

/** Whether every byte of `data` is zero (memcmp against a shared zero page, so it runs at memory speed). */
export function isZero(data: Uint8Array): boolean {
  return isZeroRange(data, 0, data.length);
}

/**
 * Whether bytes [start, end) of `data` are all zero. Takes indices rather than a subarray because
 * a conversion asks this for every 4 KiB of data it copies, and a view per question is garbage.
 */
export function isZeroRange(data: Uint8Array, start: number, end: number): boolean {
  // Quick rejection without allocating anything: data blocks nearly always have a non-zero byte
  // at one of these places.
  if (end <= start) return true;
  if (data[start] !== 0 || data[end - 1] !== 0 || data[start + Math.floor((end - start) / 2)] !== 0) return false;
  const view = Buffer.from(data.buffer, data.byteOffset + start, end - start);
  for (let at = 0; at < view.length; at += ZERO.length) {
    const n = Math.min(ZERO.length, view.length - at);
    if (view.compare(ZERO, 0, n, at, at + n) !== 0) return false;
  }
  return true;
}

/**
 * Reads exactly `length` bytes at `position` of a file into `buffer` at `offset`. A file shorter
 * than that is a STORAGE_TRUNCATED error naming `path` and `what` was being read.
 */
export async function readExactly(
  file: FileHandle,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: number,
  path: string,
  what = "data",
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, offset + done, length - done, position + done);
    if (bytesRead === 0) {
      throw new StorageError("STORAGE_TRUNCATED", `${path}: the file ends before the ${what} at byte ${position + done}; the image is truncated or damaged`, { path });
    }
    done += bytesRead;
  }
}

/** Writes all of `data` at `position`. */
export async function writeFully(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Reads up to `length` bytes at `position`; fewer at the end of the file. */
export async function readUpTo(file: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/** Appends an extent to a list, merging it with the previous one when they are adjacent and of one kind. */
export function pushExtent(list: { offset: number; length: number; kind: string }[], offset: number, length: number, kind: string): void {
  if (length <= 0) return;
  const last = list[list.length - 1];
  if (last && last.kind === kind && last.offset + last.length === offset) last.length += length;
  else list.push({ offset, length, kind });
}
