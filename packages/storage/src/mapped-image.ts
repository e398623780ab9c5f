// Shared plumbing for the block-mapped image formats (vmdk, vdi, vhdx, vpc): a device whose
// virtual disk is cut into equal blocks, each located by a table (data at a file offset, zero,
// unallocated, or compressed).
import { checkRange, type BlockDevice, type DiskFormat, type Extent, type ExtentKind, type FormatDetails } from "./block-device.js";
import { StorageError } from "./errors.js";
import { backingRuns, type HostMapped, type HostRun } from "./host-runs.js";
import type { ImageFile } from "./image-file.js";

/**
 * Where one block of the virtual disk lives. `count`, when given, says that the same holds for
 * that many blocks from this one (data following on in the file), so allocation maps of huge
 * sparse disks cost time in proportion to their tables, not their size.
 */
export type BlockLocation =
  | { kind: "data"; fileOffset: number; count?: number }
  | { kind: "compressed"; fileOffset: number }
  | { kind: "zero"; count?: number }
  | { kind: "unallocated"; count?: number };

export interface MappedImageOptions {
  format: DiskFormat;
  /** Virtual size in bytes. */
  size: number;
  /** Bytes per block (a power of two). */
  blockSize: number;
  file: ImageFile;
  /** Where block `index` lives; may load tables lazily. */
  locate(index: number): BlockLocation | Promise<BlockLocation>;
  /**
   * Reads compressed blocks, each into its `target` (exactly `blockSize` bytes); `partial` marks
   * a block only part of which was asked for (its `target` is a fresh buffer the reader may keep).
   */
  readCompressed?(blocks: { fileOffset: number; target: Uint8Array; partial: boolean }[]): Promise<void>;
  /**
   * Where unallocated blocks read from (a parent disk, at `offset` plus the position in this
   * device); zeros when absent. The caller owns the parent and closes it.
   */
  backing?: { device: BlockDevice; offset: number };
  /** Extra cleanup on close (other files of the image). */
  onClose?(): Promise<void>;
  /** What `diskInfo` reports beyond the basics (cluster size…). */
  details?: FormatDetails;
}

/** Reads of contiguous data blocks are merged up to this many bytes per file read. */
const MAX_MERGED_READ = 8 * 1024 * 1024;

/** A read-only device over a block table, the core of every block-mapped image driver. */
export function mappedImage(options: MappedImageOptions): BlockDevice & HostMapped {
  const { size, blockSize, file } = options;
  const backing = options.backing?.device;
  const backingOffset = options.backing?.offset ?? 0;
  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw new StorageError("STORAGE_CLOSED", `${file.path} is closed`, { path: file.path });
  };
  const kindOf = (location: BlockLocation): ExtentKind =>
    location.kind === "data" || location.kind === "compressed" ? "data" : location.kind;

  return {
    format: options.format,
    size,
    writable: false,
    ...(options.details ? { details: options.details } : {}),
    async read(buffer, position) {
      assertOpen();
      checkRange(size, position, buffer.length);
      const pending: Promise<void>[] = [];
      const compressed: { fileOffset: number; target: Uint8Array; partial: boolean }[] = [];
      const partials: { whole: Uint8Array; within: number; target: Uint8Array }[] = [];
      // A run of blocks whose data follow each other in the file, read with one call.
      let run: { fileOffset: number; start: number; end: number } | undefined;
      const flushRun = (): void => {
        if (run) pending.push(file.readData(buffer.subarray(run.start, run.end), run.fileOffset));
        run = undefined;
      };
      let done = 0;
      while (done < buffer.length) {
        const virtual = position + done;
        const index = Math.floor(virtual / blockSize);
        const within = virtual - index * blockSize;
        const length = Math.min(blockSize - within, buffer.length - done);
        const location = await options.locate(index);
        if (location.kind === "data") {
          const fileOffset = location.fileOffset + within;
          if (run && run.fileOffset + (run.end - run.start) === fileOffset && run.end - run.start + length <= MAX_MERGED_READ) {
            run.end += length;
          } else {
            flushRun();
            run = { fileOffset, start: done, end: done + length };
          }
        } else {
          flushRun();
          const target = buffer.subarray(done, done + length);
          if (location.kind === "compressed") {
            if (!options.readCompressed) throw new StorageError("STORAGE_CORRUPT", `${file.path}: unexpected compressed block`, { path: file.path });
            if (length === blockSize) compressed.push({ fileOffset: location.fileOffset, target, partial: false });
            else {
              const whole = new Uint8Array(blockSize);
              compressed.push({ fileOffset: location.fileOffset, target: whole, partial: true });
              partials.push({ whole, within, target });
            }
          } else if (location.kind === "unallocated" && backing) {
            pending.push(readBacking(backing, target, backingOffset + virtual));
          } else {
            target.fill(0);
          }
        }
        done += length;
      }
      flushRun();
      if (compressed.length > 0 && options.readCompressed) pending.push(options.readCompressed(compressed));
      await Promise.all(pending);
      for (const { whole, within, target } of partials) target.set(whole.subarray(within, within + target.length));
    },
    async *extents(start = 0, length = size - start) {
      assertOpen();
      checkRange(size, start, length);
      let current: Extent | undefined;
      const end = start + length;
      let position = start;
      while (position < end) {
        const index = Math.floor(position / blockSize);
        const location = await options.locate(index);
        const count = "count" in location && location.count !== undefined && location.count > 1 ? location.count : 1;
        const blockEnd = Math.min((index + count) * blockSize, end);
        const pieces: Extent[] =
          location.kind === "unallocated" && backing
            ? await parentExtents(backing, backingOffset, position, blockEnd)
            : [{ offset: position, length: blockEnd - position, kind: kindOf(location) }];
        for (const piece of pieces) {
          if (current && current.kind === piece.kind) current.length += piece.length;
          else {
            if (current) yield current;
            current = { ...piece };
          }
        }
        position = blockEnd;
      }
      if (current) yield current;
    },
    async *hostRuns(start = 0, length = size - start): AsyncIterable<HostRun> {
      assertOpen();
      checkRange(size, start, length);
      const end = start + length;
      for (let position = start; position < end; ) {
        const index = Math.floor(position / blockSize);
        const location = await options.locate(index);
        const count = "count" in location && location.count !== undefined && location.count > 1 ? location.count : 1;
        const blockEnd = Math.min((index + count) * blockSize, end);
        const runLength = blockEnd - position;
        if (location.kind === "data") {
          // `count` data blocks follow on in the file.
          const fileOffset = location.fileOffset + (position - index * blockSize);
          if (file.fd !== undefined && fileOffset + runLength <= file.size) yield { kind: "file", offset: position, length: runLength, fd: file.fd, fileOffset };
          else yield { kind: "other", offset: position, length: runLength };
        } else if (location.kind === "unallocated") yield* backingRuns(backing, position, blockEnd, backingOffset);
        else if (location.kind === "zero") yield { kind: "zero", offset: position, length: runLength };
        else yield { kind: "other", offset: position, length: runLength };
        position = blockEnd;
      }
    },
    async write() {
      throw new StorageError("STORAGE_READ_ONLY", `${file.path}: ${options.format} images are read-only in leapp; convert to qcow2 to write`, { path: file.path });
    },
    async flush() {},
    async close() {
      if (closed) return;
      closed = true;
      await file.close();
      await options.onClose?.();
    },
  };
}

/** Reads a range from a parent disk that may be smaller than this one (the rest is zeros). */
async function readBacking(backing: BlockDevice, target: Uint8Array, position: number): Promise<void> {
  const inParent = Math.max(0, Math.min(target.length, backing.size - position));
  if (inParent > 0) await backing.read(target.subarray(0, inParent), position);
  target.fill(0, inParent);
}

/**
 * The parent's allocation map of [from, to) of this device, the parent's range starting at
 * `offset + from`; what lies past the parent's end is unallocated.
 */
async function parentExtents(parent: BlockDevice, offset: number, from: number, to: number): Promise<Extent[]> {
  const pieces: Extent[] = [];
  const inParent = Math.max(0, Math.min(to - from, parent.size - (offset + from)));
  if (inParent > 0) {
    for await (const e of parent.extents(offset + from, inParent)) pieces.push({ offset: e.offset - offset, length: e.length, kind: e.kind });
  }
  if (from + inParent < to) pieces.push({ offset: from + inParent, length: to - from - inParent, kind: "unallocated" });
  return pieces;
}

/** Whether `n` is a power of two within [min, max]. */
export function isPowerOfTwoIn(n: number, min: number, max: number): boolean {
  return Number.isSafeInteger(n) && n >= min && n <= max && 2 ** Math.round(Math.log2(n)) === n;
}

/** A 64-bit unsigned field as a number, rejecting values beyond 2^53 as corrupt. */
export function safeU64(value: bigint, what: string, path: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StorageError("STORAGE_CORRUPT", `${path}: the ${what} (${value}) is absurdly large; the header is corrupt`, { path });
  }
  return Number(value);
}

export function corrupt(path: string, detail: string): StorageError {
  return new StorageError("STORAGE_CORRUPT", `${path}: ${detail}; the image is corrupt (check it with \`qemu-img check\` or recreate it)`, { path });
}

export function unsupported(path: string, detail: string): StorageError {
  return new StorageError("STORAGE_UNSUPPORTED", `${path}: ${detail}`, { path });
}
