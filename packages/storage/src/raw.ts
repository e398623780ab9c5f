import { open, type FileHandle } from "node:fs/promises";
import { checkRange, type BlockDevice, type Extent, type ExtentKind, type FormatDriver, type OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { isAllZero, readExactly, writeExactly } from "./file-io.js";

/**
 * How finely a sparse raw file's holes are found. Node has no lseek binding, so SEEK_DATA /
 * SEEK_HOLE are out of reach; instead `st_blocks` tells whether a file has holes at all (most
 * do not, or are entirely empty — both cost nothing), and only a file that has some is scanned
 * for zero blocks at this granularity. A scanned zero block is reported as `zero`, which is what
 * a hole reads as; an allocated block of zeros is reported the same way, harmlessly.
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
    await readExactly(this.handle, buffer, position, this.path);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    if (!this.writable) throw new StorageError("STORAGE_READ_ONLY", `${this.path} was opened read-only; open it with writable: true`, { path: this.path });
    checkRange(this.size, position, data.length);
    await writeExactly(this.handle, data, position);
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
    yield* this.#scan(start, length);
  }

  async *#scan(start: number, length: number): AsyncIterable<Extent> {
    const end = start + length;
    // Two buffers: the next chunk is read while the current one is classified.
    const buffers = [new Uint8Array(SCAN_CHUNK), new Uint8Array(SCAN_CHUNK)];
    const load = (at: number, index: number) => {
      const view = buffers[index]!.subarray(0, Math.min(SCAN_CHUNK, end - at));
      return readExactly(this.handle, view, at, this.path).then(() => view);
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
      if (isAllZero(view)) yield* add(at, view.length, "zero"); // the common case, one pass
      else {
        for (let off = 0; off < view.length; ) {
          // Granules align to the file, not to `start`, so neighbouring calls agree.
          const granuleEnd = Math.min(view.length, (Math.floor((at + off) / HOLE_GRANULARITY) + 1) * HOLE_GRANULARITY - at);
          yield* add(at + off, granuleEnd - off, isAllZero(view.subarray(off, granuleEnd)) ? "zero" : "data");
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
