// The bytes an image lives in: a host file opened safely (never blocking on a FIFO, never a device
// the user did not name), or an opened BlockDevice it does not own (an OVA member inside its tar).
// Every driver reads its image through this, so the rules live in one place.
import { constants } from "node:fs";
import { open, readFile, type FileHandle } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { BlockDevice } from "./block-device.js";
import { StorageError } from "./errors.js";

/** The largest metadata table or descriptor any driver reads into memory in one piece. */
export const MAX_METADATA_BYTES = 512 * 1024 * 1024;

export interface OpenFileOptions {
  /** Open for reading and writing. */
  writable?: boolean;
  /** Accept a block device (only for a path the user named; never for a file an image names). */
  allowBlockDevice?: boolean;
  /** Refuse a symbolic link as the last component (for paths already resolved and checked). */
  noFollow?: boolean;
}

/** What `fstat` says a file is, for messages. */
function fileKind(stat: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isDirectory(): boolean }): string {
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isDirectory()) return "a directory";
  return "not a regular file";
}

function notAFile(path: string, kind: string, allowBlockDevice: boolean, cause?: unknown): StorageError {
  const hint = allowBlockDevice ? "leapp reads disk images from regular files and block devices" : "leapp reads the files an image names only when they are regular files";
  return new StorageError("STORAGE_NOT_A_FILE", `${path} is ${kind}; ${hint}`, { path, ...(cause === undefined ? {} : { cause }) });
}

/**
 * The size of a block device, from sysfs: `fstat` says 0 and Node has no ioctl. Linux only; the
 * size file counts 512-byte sectors whatever the device's own sector size.
 */
async function blockDeviceSize(path: string, handle: FileHandle): Promise<number> {
  const { rdev } = await handle.stat({ bigint: true });
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  try {
    const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, "utf8")).trim());
    if (!Number.isSafeInteger(sectors * 512) || sectors < 0) throw new Error(`size ${sectors}`);
    return sectors * 512;
  } catch (cause) {
    throw new StorageError("STORAGE_UNSUPPORTED", `${path}: cannot tell the size of this block device (${(cause as Error).message}); copy it into an image file first`, { path, cause });
  }
}

/** An image file: positional reads (concurrent reads are safe), writes for writable host files. */
export class ImageFile {
  #closed = false;
  #size: number;
  /** The last write queued (see `write`). */
  #writing: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The path (or, for a device, a description) the messages name. */
    readonly path: string,
    size: number,
    readonly writable: boolean,
    /** The host file; undefined for an image inside a device. */
    readonly handle: FileHandle | undefined,
    /** The device the image lies in; not ours to close. */
    readonly device: BlockDevice | undefined,
    /** `dev:ino` of a host file: the same file however it was reached (symlinks, hard links). */
    readonly identity: string | undefined,
  ) {
    this.#size = size;
  }

  /**
   * Opens a host file without blocking (O_NONBLOCK: a FIFO would otherwise wait forever for a
   * writer) and refuses whatever is not a regular file, block devices only where allowed.
   */
  static async open(path: string, options: OpenFileOptions = {}): Promise<ImageFile> {
    let flags = (options.writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK;
    if (options.noFollow) flags |= constants.O_NOFOLLOW;
    let handle: FileHandle;
    try {
      handle = await open(path, flags);
    } catch (cause) {
      // A socket cannot be opened at all; say what it is rather than "no such device".
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === "ENXIO" || code === "ENODEV" || code === "EOPNOTSUPP") throw notAFile(path, "not a file that can be read", options.allowBlockDevice ?? false, cause);
      if (code === "ENAMETOOLONG") throw new StorageError("STORAGE_UNSUPPORTED", `${path.slice(0, 200)}…: the name is too long for the host`, { path, cause });
      throw cause;
    }
    try {
      const stat = await handle.stat();
      let size: number;
      if (stat.isFile()) size = stat.size;
      else if (stat.isBlockDevice() && options.allowBlockDevice) size = await blockDeviceSize(path, handle);
      else throw notAFile(path, fileKind(stat), options.allowBlockDevice ?? false);
      return new ImageFile(path, size, options.writable ?? false, handle, undefined, `${stat.dev}:${stat.ino}`);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** A file leapp has just created for writing (empty). */
  static created(path: string, handle: FileHandle): ImageFile {
    return new ImageFile(path, 0, true, handle, undefined, undefined);
  }

  /** The image that fills `device` (read-only; closing the file leaves the device open). */
  static overDevice(device: BlockDevice, name: string): ImageFile {
    return new ImageFile(name, device.size, false, undefined, device, undefined);
  }

  /** Bytes in the file (a writer that extends the file says so with `grow`). */
  get size(): number {
    return this.#size;
  }

  /** The directory files this image names are looked up in; undefined inside a device. */
  get directory(): string | undefined {
    return this.handle ? dirname(resolve(this.path)) : undefined;
  }

  /** The descriptor, for the SEEK_DATA addon; undefined inside a device. */
  get fd(): number | undefined {
    return this.handle?.fd;
  }

  /** Reads up to `length` bytes into `buffer` at `offset`; fewer (0) at the end of the file. */
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#assertOpen();
    if (this.handle) return (await this.handle.read(buffer, offset, length, position)).bytesRead;
    const n = Math.max(0, Math.min(length, this.#size - position));
    if (n > 0) await this.device!.read(buffer.subarray(offset, offset + n), position);
    return n;
  }

  /** Fills `buffer` from `position`; returns how many bytes the file had (the rest is untouched). */
  async readFully(buffer: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buffer.length) {
      const n = await this.read(buffer, done, buffer.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /** Up to `length` bytes at `position`: fewer at the end of the file. */
  async readUpTo(length: number, position: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(length);
    return buffer.subarray(0, await this.readFully(buffer, position));
  }

  /** Reads metadata that must lie wholly inside the file (a header, a table). */
  async readExact(buffer: Uint8Array, position: number, what: string): Promise<void> {
    this.#assertInside(position, buffer.length, what);
    const done = await this.readFully(buffer, position);
    if (done < buffer.length) {
      throw new StorageError("STORAGE_TRUNCATED", `${this.path}: the file ends before the ${what} at byte ${position + done}; the image is truncated or damaged`, { path: this.path });
    }
  }

  /** Reads `length` bytes of metadata; `length` is bounded by MAX_METADATA_BYTES. */
  async readBytes(position: number, length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_METADATA_BYTES) {
      throw new StorageError("STORAGE_CORRUPT", `${this.path}: the ${what} claims ${length} bytes, more than leapp accepts; the header is corrupt`, { path: this.path });
    }
    // Checked before allocating, so a lying length costs nothing.
    this.#assertInside(position, length, what);
    const buffer = Buffer.allocUnsafe(length);
    await this.readExact(buffer, position, what);
    return buffer;
  }

  /**
   * Reads guest data. Data must start inside the file; a block whose tail runs past the end reads
   * as zeros there (as qemu does), which also serves files whose last block was never filled.
   */
  async readData(buffer: Uint8Array, position: number): Promise<void> {
    if (!Number.isSafeInteger(position) || position < 0 || (position >= this.#size && buffer.length > 0)) {
      throw new StorageError("STORAGE_CORRUPT", `${this.path}: a data block at offset ${position} lies past the end of the ${this.#size}-byte file; the image is truncated or its tables are corrupt`, { path: this.path });
    }
    const done = await this.readFully(buffer.subarray(0, Math.min(buffer.length, this.#size - position)), position);
    // A file that shrank under us reads as zeros rather than stale bytes.
    buffer.fill(0, done);
  }

  /**
   * Writes all of `parts`, back to back, at `position` (one vectored write when it can). Writes
   * to one file run one after another: the kernel takes the file's lock for each anyway, and
   * several threads waiting for it spin (system time) where a queue here costs nothing.
   */
  write(parts: Uint8Array[], position: number): Promise<void> {
    const handle = this.#writableHandle();
    const job = this.#writing.then(() => this.#write(handle, parts, position));
    this.#writing = job.catch(() => {});
    return job;
  }

  async #write(handle: FileHandle, parts: Uint8Array[], position: number): Promise<void> {
    if (parts.length === 1) {
      const data = parts[0]!;
      for (let done = 0; done < data.length; ) done += (await handle.write(data, done, data.length - done, position + done)).bytesWritten;
    } else {
      let total = 0;
      for (const p of parts) total += p.length;
      const { bytesWritten } = await handle.writev(parts, position);
      // A short vectored write: the rest piece by piece.
      let skip = bytesWritten;
      let at = position + bytesWritten;
      for (const p of bytesWritten < total ? parts : []) {
        if (skip >= p.length) {
          skip -= p.length;
          continue;
        }
        await this.#write(handle, [p.subarray(skip)], at);
        at += p.length - skip;
        skip = 0;
      }
    }
    const end = position + parts.reduce((n, p) => n + p.length, 0);
    if (end > this.#size) this.#size = end;
  }

  /** Sets the file's length (a hole when it grows). */
  async truncate(length: number): Promise<void> {
    await this.#writableHandle().truncate(length);
    this.#size = length;
  }

  /** Makes what was written durable. */
  async datasync(): Promise<void> {
    await this.#writableHandle().datasync();
  }

  /** Bytes the file takes on the host (`st_blocks`); for an image inside a device, its size. */
  async allocatedBytes(): Promise<number> {
    this.#assertOpen();
    return this.handle ? (await this.handle.stat()).blocks * 512 : this.#size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle?.close();
  }

  #writableHandle(): FileHandle {
    this.#assertOpen();
    if (!this.writable || !this.handle) throw new StorageError("STORAGE_READ_ONLY", `${this.path} was opened read-only`, { path: this.path });
    return this.handle;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageError("STORAGE_CLOSED", `${this.path} is closed`, { path: this.path });
  }

  #assertInside(position: number, length: number, what: string): void {
    this.#assertOpen();
    if (!Number.isSafeInteger(position) || position < 0 || position + length > this.#size) {
      throw new StorageError(
        "STORAGE_TRUNCATED",
        `${this.path}: the ${what} (${length} bytes at ${position}) lies past the end of the ${this.#size}-byte file; the image is truncated or its header is corrupt`,
        { path: this.path },
      );
    }
  }
}
