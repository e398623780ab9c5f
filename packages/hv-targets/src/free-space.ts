// Copy only what the guest uses, as virt-v2v's fstrim step: the ranges of each disk that its ext
// and XFS filesystems mark free (and swap past its header) are not copied — they read as zeros in
// the target. A guest that deleted a lot of data converts fast and small.
import { InspectError, openFilesystem, scanDisks, type DiskRange } from "@leapp/inspect";
import { checkRange, isHostMapped, StorageError, type BlockDevice, type Extent, type HostRun } from "@leapp/storage";

export interface ByteRange {
  offset: number;
  length: number;
}

/** Swap keeps its header (and bad-block list) in its first page: 64 KiB covers every page size. */
const SWAP_HEADER = 64 * 1024;

/**
 * The free ranges of each disk (by index), sorted and merged. A filesystem that cannot be read,
 * or whose free space cannot be trusted (ext marked with errors), is copied whole.
 */
export async function freeRangesOf(disks: readonly BlockDevice[], signal?: AbortSignal): Promise<ByteRange[][]> {
  const perDisk: DiskRange[][] = disks.map(() => []);
  const volumes = await scanDisks([...disks]);
  for (const volume of volumes) {
    signal?.throwIfAborted();
    const onDisks = volume.onDisks;
    if (!onDisks) continue;
    const found: DiskRange[] = [];
    const size = volume.block.size;
    // A lying superblock may describe more than the volume holds: only what lies inside counts.
    const add = (offset: number, length: number) => {
      const end = Math.min(size, offset + length);
      if (offset >= 0 && end > offset) for (const r of onDisks(offset, end - offset)) found.push(r);
    };
    if (volume.content === "swap" && volume.block.size > SWAP_HEADER) add(SWAP_HEADER, volume.block.size - SWAP_HEADER);
    if (volume.content === "filesystem") {
      let fs;
      try {
        fs = await openFilesystem(volume);
      } catch (err) {
        if (err instanceof InspectError) continue;
        throw err;
      }
      try {
        for await (const r of fs.freeRanges()) add(r.offset, r.length);
      } catch (err) {
        // Free space that cannot be trusted (or listed): the filesystem is copied whole.
        if (!(err instanceof InspectError)) throw err;
        found.length = 0;
      } finally {
        await fs.close();
      }
    }
    for (const r of found) perDisk[r.disk]?.push(r);
  }
  return perDisk.map(mergeRanges);
}

/** The ranges sorted, with overlapping and touching ones merged. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

export function totalBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((n, r) => n + r.length, 0);
}

/** Index of the first range ending after `position` (ranges sorted, not overlapping). */
function firstAfter(ranges: readonly ByteRange[], position: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]!.offset + ranges[mid]!.length <= position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** [start, end) cut into pieces inside and outside `holes`, in order. */
function* cut(holes: readonly ByteRange[], start: number, end: number): Generator<{ offset: number; length: number; hole: boolean }> {
  let at = start;
  for (let i = firstAfter(holes, start); at < end && i < holes.length; i++) {
    const h = holes[i]!;
    if (h.offset >= end) break;
    if (h.offset > at) {
      yield { offset: at, length: h.offset - at, hole: false };
      at = h.offset;
    }
    const holeEnd = Math.min(end, h.offset + h.length);
    yield { offset: at, length: holeEnd - at, hole: true };
    at = holeEnd;
  }
  if (at < end) yield { offset: at, length: end - at, hole: false };
}

/**
 * `base` with `holes` reading as zeros: its map calls them `zero`, so a copy neither reads nor
 * writes them, and where `base` says which host files hold its bytes, so does this view (the
 * native copy keeps its speed). Read-only.
 */
export function withHoles(base: BlockDevice, holes: readonly ByteRange[]): BlockDevice {
  const view: BlockDevice & { hostRuns?: (start: number, length: number) => AsyncIterable<HostRun> } = {
    format: "raw",
    size: base.size,
    writable: false,
    async read(buffer, position) {
      await base.read(buffer, position);
      for (const piece of cut(holes, position, position + buffer.length)) if (piece.hole) buffer.fill(0, piece.offset - position, piece.offset - position + piece.length);
    },
    async *extents(start = 0, length = base.size - start) {
      checkRange(base.size, start, length);
      let pending: Extent | undefined;
      for await (const e of base.extents(start, length)) {
        const pieces = e.kind === "data" ? cut(holes, e.offset, e.offset + e.length) : [{ offset: e.offset, length: e.length, hole: false }];
        for (const p of pieces) {
          const kind = p.hole ? "zero" : e.kind;
          if (pending && pending.kind === kind && pending.offset + pending.length === p.offset) pending.length += p.length;
          else {
            if (pending) yield pending;
            pending = { offset: p.offset, length: p.length, kind };
          }
        }
      }
      if (pending) yield pending;
    },
    async write() {
      throw new StorageError("STORAGE_READ_ONLY", "a source disk is only ever read");
    },
    async flush() {},
    async close() {},
  };
  if (isHostMapped(base)) {
    view.hostRuns = async function* (start, length) {
      for await (const run of base.hostRuns(start, length)) {
        for (const p of cut(holes, run.offset, run.offset + run.length)) {
          if (p.hole) yield { kind: "zero", offset: p.offset, length: p.length };
          else if (run.kind === "file") yield { ...run, offset: p.offset, length: p.length, fileOffset: run.fileOffset + (p.offset - run.offset) };
          else yield { ...run, offset: p.offset, length: p.length };
        }
      }
    };
  }
  return view;
}
