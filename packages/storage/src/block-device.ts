import { StorageError } from "./errors.js";

/** The disk formats leapp reads; detection is always by content, never by file name. */
export type DiskFormat = "raw" | "qcow2" | "vmdk" | "vdi" | "vhdx" | "vpc";

/**
 * What a range of a device holds. `zero` reads as zeros and is known to be zero (a qcow2 zero
 * cluster, a raw hole); `unallocated` reads as zeros (or from a backing file) and takes no space.
 * Copies skip both; only `data` must be read and written.
 */
export type ExtentKind = "data" | "zero" | "unallocated";

export interface Extent {
  offset: number;
  length: number;
  kind: ExtentKind;
}

/**
 * The one interface everything reads guest disks through: a virtual disk of `size` bytes with
 * positional reads. Reads may run concurrently. Offsets are plain numbers (exact up to 8 PiB).
 */
export interface BlockDevice {
  readonly format: DiskFormat;
  /** Virtual size in bytes. */
  readonly size: number;
  readonly writable: boolean;
  /** Fills `buffer` with the bytes at `position`; a range past `size` is a STORAGE_OUT_OF_RANGE error. */
  read(buffer: Uint8Array, position: number): Promise<void>;
  /**
   * The allocation map of [start, start+length) (default: the whole disk), in order, covering the
   * range exactly; adjacent extents of one kind are merged.
   */
  extents(start?: number, length?: number): AsyncIterable<Extent>;
  /** Writes `data` at `position` (writable devices only; STORAGE_READ_ONLY otherwise). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Makes written data and metadata durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Throws unless [position, position+length) lies inside a device of `size` bytes. */
export function checkRange(size: number, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > size) {
    throw new StorageError("STORAGE_OUT_OF_RANGE", `access of ${length} bytes at ${position} is outside the ${size}-byte disk`);
  }
}

/**
 * A window of `length` bytes at `start` of another device — a partition or a logical volume.
 * Closing the slice does not close the parent.
 */
export function sliceDevice(parent: BlockDevice, start: number, length: number): BlockDevice {
  checkRange(parent.size, start, length);
  return {
    format: parent.format,
    size: length,
    writable: parent.writable,
    async read(buffer, position) {
      checkRange(length, position, buffer.length);
      await parent.read(buffer, start + position);
    },
    async *extents(from = 0, len = length - from) {
      checkRange(length, from, len);
      for await (const e of parent.extents(start + from, len)) yield { ...e, offset: e.offset - start };
    },
    async write(data, position) {
      checkRange(length, position, data.length);
      await parent.write(data, start + position);
    },
    flush: () => parent.flush(),
    async close() {},
  };
}

/** How a driver opens the files its image refers to (backing files, vmdk extents). */
export interface OpenContext {
  /** Open for writing too (raw and qcow2 only). */
  writable: boolean;
  /**
   * Opens a file this image depends on — a backing file — with loop detection and a depth limit.
   * `format` is the one the image names, or undefined to probe.
   */
  openBacking(path: string, format: DiskFormat | undefined): Promise<BlockDevice>;
}

/** A disk format driver: one file per format, detected by content and never by file name. */
export interface FormatDriver {
  readonly format: DiskFormat;
  /**
   * Whether a file is in this format, from its first and last bytes (up to 64 KiB each; fewer
   * for a small file) and its size.
   */
  probe(head: Uint8Array, tail: Uint8Array, fileSize: number): boolean;
  open(path: string, context: OpenContext): Promise<BlockDevice>;
}
