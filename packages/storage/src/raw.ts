import { open, type FileHandle } from "node:fs/promises";
import { checkRange, type BlockDevice, type Extent, type ExtentKind, type FormatDriver, type OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { seekSparse, sparseAddon, type SparseAddon } from "./native.js";
import { isZero, isZeroRange, readExactly, writeFully } from "./util.js";

/**
 * How a raw file's holes are found. With the optional addon (native/sparse.c), lseek SEEK_DATA /
 * SEEK_HOLE walks the file system's own map: cost grows with the number of extents, not the size.
 * Without it (Node's fs has no lseek), `st_blocks` tells whether a file has holes at all (most do
 * not, or are entirely empty — both cost nothing), and only a file that has some is scanned for
 * zero blocks at HOLE_GRANULARITY. Holes and scanned zero blocks are reported as `zero`, which is
 * what they read as.
 */
const HOLE_GRANULARITY = 64 * 1024;
const SCAN_CHUNK = 4 * 1024 * 1024;

export const rawDriver: FormatDriver = {
  format: "raw",
  probe: () => true,
  open: (path, context) => RawDevice.open(path, context),
};

export class RawDevice implements BlockDevice {
  readonly format = "raw" as const;
  #closed = false;
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
    readonly writable: boolean,
  ) {}

  static async open(path: string, context: Pick<OpenContext, "writable">): Promise<RawDevice> {
    const handle = await open(path, context.writable ? "r+" : "r");
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new StorageError("STORAGE_UNSUPPORTED", `${path} is not a regular file; leapp reads disk images from files`, { path });
      return new RawDevice(path, handle, stat.size, context.writable);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    checkRange(this.size, position, buffer.length);
    await readExactly(this.handle, buffer, 0, buffer.length, position, this.path);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    if (!this.writable) throw new StorageError("STORAGE_READ_ONLY", `${this.path} was opened read-only; open it with writable: true`, { path: this.path });
    checkRange(this.size, position, data.length);
    await writeFully(this.handle, data, position);
  }

  async *extents(start = 0, length = this.size - start): AsyncIterable<Extent> {
    this.#checkOpen();
    checkRange(this.size, start, length);
    if (length === 0) return;
    const stat = await this.handle.stat();
    const allocated = stat.blocks * 512;
    if (allocated === 0) {
      yield { offset: start, length, kind: "zero" };
      return;
    }
    if (allocated >= this.size) {
      yield { offset: start, length, kind: "data" };
      return;
    }
    const addon = sparseAddon();
    yield* addon ? this.#seekExtents(addon, start, length) : this.#scan(start, length);
  }

  /** Whether `extents()` is cheap (the file system's map) rather than a read of the whole range. */
  get mapsHoles(): boolean {
    return sparseAddon() !== null;
  }

  /**
   * The file system's own data/hole map over [start, start+length), two lseek calls per data
   * extent. Where the file system cannot tell (no SEEK_DATA), the rest of the range is scanned.
   */
  async *#seekExtents(addon: SparseAddon, start: number, length: number): AsyncIterable<Extent> {
    const fd = this.handle.fd;
    const end = start + length;
    for (let at = start; at < end; ) {
      const data = seekSparse(addon, fd, at, "data");
      if (data === undefined) return yield* this.#scan(at, end - at);
      const dataStart = data < 0 ? end : Math.min(data, end);
      if (dataStart > at) yield { offset: at, length: dataStart - at, kind: "zero" };
      if (dataStart >= end) return;
      const hole = seekSparse(addon, fd, dataStart, "hole");
      if (hole === undefined) return yield* this.#scan(dataStart, end - dataStart);
      // The end of the file counts as a hole; a file that shrank under us reads short later, typed.
      const dataEnd = hole < 0 ? end : Math.min(Math.max(hole, dataStart + 1), end);
      yield { offset: dataStart, length: dataEnd - dataStart, kind: "data" };
      at = dataEnd;
    }
  }

  async *#scan(start: number, length: number): AsyncIterable<Extent> {
    const end = start + length;
    // Two buffers: the next chunk is read while the current one is classified.
    const buffers = [new Uint8Array(SCAN_CHUNK), new Uint8Array(SCAN_CHUNK)];
    const load = (at: number, index: number) => {
      const view = buffers[index]!.subarray(0, Math.min(SCAN_CHUNK, end - at));
      return readExactly(this.handle, view, 0, view.length, at, this.path).then(() => view);
    };
    let pending: Extent | undefined;
    const add = function* (offset: number, len: number, kind: ExtentKind): Generator<Extent> {
      if (pending && pending.kind === kind) pending.length += len;
      else {
        if (pending) yield pending;
        pending = { offset, length: len, kind };
      }
    };
    let next: Promise<Uint8Array> | undefined = load(start, 0);
    for (let at = start, index = 0; next; index ^= 1) {
      const view: Uint8Array = await next;
      const after: number = at + view.length;
      next = after < end ? load(after, index ^ 1) : undefined;
      if (isZero(view)) yield* add(at, view.length, "zero"); // the common case, one pass
      else {
        for (let off = 0; off < view.length; ) {
          // Granules align to the file, not to `start`, so neighbouring calls agree.
          const granuleEnd = Math.min(view.length, (Math.floor((at + off) / HOLE_GRANULARITY) + 1) * HOLE_GRANULARITY - at);
          yield* add(at + off, granuleEnd - off, isZeroRange(view, off, granuleEnd) ? "zero" : "data");
          off = granuleEnd;
        }
      }
      at = after;
    }
    if (pending) yield pending;
  }

  async flush(): Promise<void> {
    this.#checkOpen();
    if (this.writable) await this.handle.datasync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new StorageError("STORAGE_CLOSED", `${this.path} is closed`, { path: this.path });
  }
}
