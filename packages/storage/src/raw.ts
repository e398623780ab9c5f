import { checkRange, type BlockDevice, type Extent, type ExtentKind, type FormatDriver } from "./block-device.js";
import { StorageError } from "./errors.js";
import { isHostMapped, type HostMapped, type HostRun } from "./host-runs.js";
import type { ImageFile } from "./image-file.js";
import { seekSparse, sparseAddon, type SparseAddon } from "./native.js";
import { isZero, isZeroRange } from "./util.js";

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
  open: async (file, context) => {
    if (context.writable && !file.writable) {
      await file.close();
      throw new StorageError("STORAGE_READ_ONLY", `${file.path} cannot be written: it lies inside a device opened for reading`, { path: file.path });
    }
    return new RawDevice(file, context.scratch === true);
  },
};

export class RawDevice implements BlockDevice, HostMapped {
  readonly format = "raw" as const;
  readonly size: number;
  readonly writable: boolean;
  #closed = false;

  constructor(
    private readonly file: ImageFile,
    /** Thrown away after use: `flush` does not sync. */
    private readonly scratch = false,
  ) {
    this.size = file.size;
    this.writable = file.writable;
  }

  get path(): string {
    return this.file.path;
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    checkRange(this.size, position, buffer.length);
    if ((await this.file.readFully(buffer, position)) < buffer.length) {
      throw new StorageError("STORAGE_TRUNCATED", `${this.path}: the file ends before byte ${position + buffer.length}; it shrank while open`, { path: this.path });
    }
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    if (!this.writable) throw new StorageError("STORAGE_READ_ONLY", `${this.path} was opened read-only; open it with writable: true`, { path: this.path });
    checkRange(this.size, position, data.length);
    await this.file.write([data], position);
  }

  async *extents(start = 0, length = this.size - start): AsyncIterable<Extent> {
    this.#checkOpen();
    checkRange(this.size, start, length);
    if (length === 0) return;
    // Inside a device (an OVA member): the device's own map.
    if (this.file.device) return yield* this.file.device.extents(start, length);
    const allocated = await this.file.allocatedBytes();
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

  /** A host file's bytes are its content; inside a device, the device's own runs (if it maps them), else only `read()` knows. */
  async *hostRuns(start: number, length: number): AsyncIterable<HostRun> {
    this.#checkOpen();
    checkRange(this.size, start, length);
    const device = this.file.device;
    if (device && isHostMapped(device)) return yield* device.hostRuns(start, length);
    const fd = this.file.fd;
    if (length > 0) yield fd === undefined ? { kind: "other", offset: start, length } : { kind: "file", offset: start, length, fd, fileOffset: start };
  }

  /** Whether `extents()` is cheap (the file system's map) rather than a read of the whole range. */
  get mapsHoles(): boolean {
    return this.file.device !== undefined || sparseAddon() !== null;
  }

  /**
   * The file system's own data/hole map over [start, start+length), two lseek calls per data
   * extent. Where the file system cannot tell (no SEEK_DATA), the rest of the range is scanned.
   */
  async *#seekExtents(addon: SparseAddon, start: number, length: number): AsyncIterable<Extent> {
    const fd = this.file.fd!;
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
      return this.read(view, at).then(() => view);
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
    if (this.writable && !this.scratch) await this.file.datasync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.file.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new StorageError("STORAGE_CLOSED", `${this.path} is closed`, { path: this.path });
  }
}
