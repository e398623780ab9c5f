import { StorageError } from "./errors.js";
import type { ImageFile } from "./image-file.js";

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
   * range exactly; adjacent extents of one kind are merged. It describes the content as `read`
   * returns it, through the whole backing chain: a range a backing file holds data for is `data`
   * even where the top image does not allocate it.
   */
  extents(start?: number, length?: number): AsyncIterable<Extent>;
  /** Writes `data` at `position` (writable devices only; STORAGE_READ_ONLY otherwise). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Makes written data and metadata durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional facts about the image for `diskInfo` (cluster size, compat, the backing file name as
   * the image records it…). Drivers fill in what their format has; everything is optional.
   */
  readonly details?: FormatDetails;
}

/** What a driver can tell `diskInfo` about its image beyond the `BlockDevice` basics. */
export interface FormatDetails {
  /** Allocation unit of the format in bytes (qcow2 cluster, vmdk grain, vdi block…). */
  clusterSize?: number;
  /** Format version, as qemu-img names it (qcow2: "0.10" or "1.1"). */
  compat?: string;
  /** The backing (parent) file name exactly as the image records it. */
  backingFile?: string;
  /** The backing file's format as the image records it, if it does. */
  backingFormat?: DiskFormat;
  /**
   * Bytes the image takes on the host, when it is more than its own file's allocated blocks
   * (e.g. a vmdk descriptor with separate extent files). Default: the file's allocated blocks.
   */
  actualSize?: number;
  /** Other format-specific facts worth reporting (qemu-img's "format-specific" data). */
  specific?: Record<string, string | number | boolean>;
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

/** How a driver opens the files its image refers to (backing files, vmdk extents, data files). */
export interface OpenContext {
  /** Open for writing too (raw and qcow2 only). */
  writable: boolean;
  /** A writable image thrown away after use: nothing it writes need be made durable (see `OpenDiskOptions.scratch`). */
  scratch?: boolean;
  /**
   * Opens the image's backing (parent) file, with the confinement rule, loop detection and a
   * depth limit. `format` is the one the image names; without one, the file is opened as raw and
   * only if it holds no image format's magic (a backing file is never probed into another format).
   */
  openBacking(name: string, format: DiskFormat | undefined): Promise<BlockDevice>;
  /**
   * Opens another file of the image (a vmdk extent, a qcow2 data file) by the name the image
   * records, under the same confinement rule as backing files; it must be a regular file.
   */
  openFile(name: string, what: string): Promise<ImageFile>;
}

/** A disk format driver: one file per format, detected by content and never by file name. */
export interface FormatDriver {
  readonly format: DiskFormat;
  /**
   * Whether a file is in this format, from its first and last bytes (up to 64 KiB each; fewer
   * for a small file) and its size.
   */
  probe(head: Uint8Array, tail: Uint8Array, fileSize: number): boolean;
  /** Opens the image in `file`; the device owns the file from then on (closing it on close or failure). */
  open(file: ImageFile, context: OpenContext): Promise<BlockDevice>;
}
