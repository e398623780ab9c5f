import type { FileHandle } from "node:fs/promises";
import { StorageError } from "./errors.js";

/** pread until `length` bytes are in; a short file is STORAGE_TRUNCATED (a lying offset, usually). */
export async function readExactly(handle: FileHandle, buffer: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) {
      throw new StorageError("STORAGE_TRUNCATED", `${path} ends before byte ${position + buffer.length}: the image is truncated or its metadata points past its end`, { path });
    }
    done += bytesRead;
  }
}

/** pwrite until everything is out. */
export async function writeExactly(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

const zeroPage = new Uint8Array(64 * 1024);

/** Whether every byte of `data` is zero (memcmp against a zero page, not a JS loop). */
export function isAllZero(data: Uint8Array): boolean {
  // Quick rejection without allocating anything: data blocks nearly always have a non-zero byte
  // at one of these places, and this runs for every cluster a conversion copies.
  const last = data.length - 1;
  if (last >= 0 && (data[0] !== 0 || data[last] !== 0 || data[last >>> 1] !== 0)) return false;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < buf.length; at += zeroPage.length) {
    const n = Math.min(zeroPage.length, buf.length - at);
    if (buf.compare(zeroPage, 0, n, at, at + n) !== 0) return false;
  }
  return true;
}
