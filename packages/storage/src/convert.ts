import type { BlockDevice, DiskFormat, Extent } from "./block-device.js";
import { StorageError } from "./errors.js";
import type { ImageFile } from "./image-file.js";
import { layerOf, openDisk, type OpenDiskOptions } from "./open-disk.js";
import { OutputFile, writeError } from "./output-file.js";
import type { OperationOptions, ProgressEvent } from "./progress.js";
import { isHostMapped, type HostMapped } from "./host-runs.js";
import { sparseAddon } from "./native.js";
import { compressCluster } from "./qcow2-compress.js";
import { writeEmptyQcow2 } from "./qcow2-create.js";
import { Qcow2Device } from "./qcow2.js";
import { RawDevice } from "./raw.js";
import { isZeroRange } from "./util.js";

export interface ConvertOptions extends OperationOptions, Pick<OpenDiskOptions, "trustedBackingDirs"> {
  /** Target format (default raw, as `qemu-img convert`). */
  format?: "raw" | "qcow2";
  /** The source's format: skips probing; a source whose content says otherwise is STORAGE_FORMAT_MISMATCH. */
  sourceFormat?: DiskFormat;
  /** qcow2 only: compress every cluster with zlib, as `qemu-img convert -c`. */
  compress?: boolean;
  /** qcow2 only: cluster size of the new image (default 64 KiB). */
  clusterSize?: number;
  /** Replace an existing target, atomically (default: STORAGE_TARGET_EXISTS). Never the source. */
  overwrite?: boolean;
  /**
   * Make the target durable (fdatasync) before renaming it into place (default true). Without,
   * a power loss soon after may leave a target with missing data, as after `qemu-img convert`.
   */
  sync?: boolean;
}

export interface ConvertResult {
  format: "raw" | "qcow2";
  virtualSize: number;
  /** Bytes of guest data the target stores (everything else was a hole or zeros and cost nothing). */
  dataBytes: number;
}

/**
 * Unit of reading and of zero detection. Measured on bench/storage: 2 MiB pieces beat 4 MiB (the
 * buffers in flight stay in the CPU cache between the read and the write) and 1 MiB (fewer calls).
 */
const CHUNK = 2 * 1024 * 1024;
/** Zero runs this long (and aligned) are left as holes in a raw target, as `qemu-img convert -S 4k`. */
const RAW_ZERO_GRANULE = 4096;
/** Chunks in flight at once: reading the next ones while the previous are written. */
const PARALLEL = 4;

/**
 * Converts a disk image of any known format (a path, or an opened device the caller keeps) into a
 * new raw or qcow2 image. Only data extents are read (holes and zero clusters are skipped), and
 * all-zero blocks inside them are not written either, so the cost grows with the allocated data,
 * not with the virtual size. The source is opened read-only and never written.
 *
 * The target is written under a temporary name beside it (`.NAME.leapp-tmp-XXXXXX`) and renamed
 * into place once complete; on an error or an abort (`signal`) the temporary file is removed and
 * nothing is left behind. A target that is the source itself (or any file the source reads) is
 * STORAGE_SAME_FILE, whatever `overwrite` says.
 */
export async function convertDisk(source: string | BlockDevice, target: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const format = options.format ?? "raw";
  if (options.compress && format !== "qcow2") throw new StorageError("STORAGE_UNSUPPORTED", "only qcow2 targets can be compressed; drop --compress or use -O qcow2");
  const { signal } = options;
  signal?.throwIfAborted();
  const src = await openDisk(source, { ...(options.sourceFormat ? { format: options.sourceFormat } : {}), ...(options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {}) });
  try {
    const output = await OutputFile.create(target, { overwrite: options.overwrite ?? false, protect: layerOf(src)?.files ?? new Set() });
    const total = src.size;
    const progress = progressReporter(options, total, output.target);
    let dataBytes: number;
    try {
      signal?.throwIfAborted();
      progress(0);
      const sink = format === "raw" ? await rawSink(output.file, total) : await qcow2Sink(output.file, total, options);
      try {
        const covered = { end: 0 };
        dataBytes =
          sink.native && isHostMapped(src)
            ? await copyAroundRead(src, sink, sink.native, covered, progress, signal)
            : await copyData(src, pieces(sourceRanges(src), sink.granule, src.size, covered), sink, progress, signal);
        await sink.finish();
      } catch (err) {
        await sink.abort();
        throw err;
      }
      signal?.throwIfAborted();
    } catch (err) {
      // A half-written target is worse than none: it would look like a finished conversion.
      await output.discard();
      throw writeError(err, output.target);
    }
    await output.commit({ sync: options.sync ?? true, signal });
    progress(total);
    return { format, virtualSize: total, dataBytes };
  } finally {
    await src.close();
  }
}

/** Progress as the copy advances through the virtual disk, never going back. */
function progressReporter(options: OperationOptions, total: number, detail: string): (position: number) => void {
  const listener = options.onProgress;
  if (!listener) return () => {};
  let reported = -1;
  return (position) => {
    if (position <= reported) return;
    reported = position;
    const event: ProgressEvent = { phase: "convert", done: position, total, unit: "bytes", detail };
    listener(event);
  };
}

/**
 * The ranges to copy. Image formats keep a map in their metadata, and a raw file has the file
 * system's (SEEK_DATA, see raw.ts): only data is read. Without that addon a raw file's map costs
 * a full read to find, so it is read once as data and its zeros are dropped by the sink.
 */
function sourceRanges(src: BlockDevice): AsyncIterable<Extent> {
  if (!(src instanceof RawDevice) || src.mapsHoles) return src.extents();
  return (async function* () {
    if (src.size > 0) yield { offset: 0, length: src.size, kind: "data" as const };
  })();
}

interface Sink {
  /** Alignment the sink wants chunks cut at (a qcow2 cluster). */
  readonly granule: number;
  /** Stores one chunk (`granule`-aligned start) of guest data; returns the bytes it stored as data. */
  put(data: Uint8Array, position: number): Promise<number>;
  /**
   * Stores granule-aligned runs of host files ([srcFd, srcOffset, guestOffset, length] each) with
   * the native copy, as `put` would; absent without the addon. `control` as for NativeCopy.
   */
  native?: (ranges: Float64Array, control: BigInt64Array) => Promise<number>;
  /** Whether what is stored must come in the order it is given (a qcow2 target allocates as it goes). */
  readonly ordered: boolean;
  /** Writes what the sink still holds (metadata); the file stays open for its owner. */
  finish(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * The pieces to copy: data extents widened to whole granules (what lies around them in a granule
 * is read too: zeros, or data of a neighbour), cut into chunk-sized reads. `covered` is where the
 * copy has got to: a granule is copied once, so the data figure counts it once.
 */
async function* pieces(ranges: AsyncIterable<Extent>, granule: number, size: number, covered: { end: number }): AsyncGenerator<[number, number]> {
  const chunk = Math.max(granule, Math.floor(CHUNK / granule) * granule);
  for await (const extent of ranges) {
    if (extent.kind !== "data") continue;
    const start = Math.max(covered.end, Math.floor(extent.offset / granule) * granule);
    const end = Math.min(size, Math.ceil((extent.offset + extent.length) / granule) * granule);
    if (end <= start) continue;
    covered.end = end;
    for (let at = start; at < end; at += chunk) yield [at, Math.min(chunk, end - at)];
  }
}

/** Runs handed to one native copy at most (32 bytes each): memory stays bounded on any map. */
const NATIVE_RUNS = 1 << 20;
/** How often the progress of a native copy is looked at. */
const NATIVE_PROGRESS_MS = 100;

/**
 * Copies with the sink's native copy (native/sparse.c): runs of the source that are plain bytes
 * of a host file go from file to file with no JavaScript between the read and the write, zero
 * granules left out as `put` leaves them — in as few calls as can be, so the read-ahead never
 * drains. What only `read()` can produce (compressed clusters, runs not aligned to granules) goes
 * through `copyData`.
 */
async function copyAroundRead(
  src: BlockDevice & HostMapped,
  sink: Sink,
  native: NonNullable<Sink["native"]>,
  covered: { end: number },
  onDone: (position: number) => void,
  signal: AbortSignal | undefined,
): Promise<number> {
  const g = sink.granule;
  // What is left for read() here is mostly decompression on this thread: two workers keep it busy.
  const buffers = workerBuffers(g, 2);
  let stored = 0;
  // Native runs cover whole granules, so no granule a read()-run is widened to is one of theirs:
  // the two kinds can go in either order. Into a raw target the native batch keeps growing
  // across read() phases; a qcow2 target takes its clusters in order of allocation, so there the
  // kinds take turns.
  const inTurn = sink.ordered;
  let batch: number[] = [];
  let reads: { offset: number; length: number }[] = [];
  let readBytes = 0;
  let reach = 0;
  const flushNative = async () => {
    if (batch.length === 0) return;
    const ranges = Float64Array.from(batch);
    batch = [];
    stored += await nativeCopy(native, ranges, src, onDone, signal);
    onDone(reach);
  };
  const flushReads = async () => {
    if (reads.length === 0) return;
    const list = reads;
    reads = [];
    readBytes = 0;
    stored += await copyData(src, pieces(listed(list), g, src.size, covered), sink, onDone, signal, buffers);
  };
  let windowEnd = 0;
  for await (const extent of sourceRanges(src)) {
    if (extent.kind !== "data") continue;
    // Whole granules: what lies around the data in them (zeros, as a raw file's holes read) goes too.
    const start = Math.max(windowEnd, Math.floor(extent.offset / g) * g);
    const end = Math.min(src.size, Math.ceil((extent.offset + extent.length) / g) * g);
    if (end <= start) continue;
    windowEnd = end;
    for await (const run of src.hostRuns(start, end - start)) {
      if (run.kind === "zero") continue;
      const runEnd = run.offset + run.length;
      reach = Math.max(reach, runEnd);
      if (run.kind === "file" && run.offset % g === 0 && (runEnd % g === 0 || runEnd === src.size)) {
        if (inTurn) await flushReads();
        // Runs that continue each other in one file go as one.
        const n = batch.length;
        if (n > 0 && batch[n - 4] === run.fd && batch[n - 2]! + batch[n - 1]! === run.offset && batch[n - 3]! + batch[n - 1]! === run.fileOffset) batch[n - 1]! += run.length;
        else batch.push(run.fd, run.fileOffset, run.offset, run.length);
        if (batch.length >= 4 * NATIVE_RUNS) await flushNative();
      } else {
        if (inTurn) await flushNative();
        const last = reads[reads.length - 1];
        if (last && last.offset + last.length === run.offset) last.length += run.length;
        else reads.push({ offset: run.offset, length: run.length });
        readBytes += run.length;
        if (readBytes >= READ_PHASE_BYTES || reads.length >= NATIVE_RUNS) await flushReads();
      }
    }
  }
  await flushReads();
  await flushNative();
  return stored;
}

/** Bytes of runs that need read() gathered before they are copied, in one pipeline. */
const READ_PHASE_BYTES = 256 * 1024 * 1024;

async function* listed(list: readonly { offset: number; length: number }[]): AsyncIterable<Extent> {
  for (const { offset, length } of list) yield { offset, length, kind: "data" };
}

/** The buffers of copyData's workers (one each), made once per conversion. */
function workerBuffers(granule: number, workers = PARALLEL): Uint8Array[] {
  const chunk = Math.max(granule, Math.floor(CHUNK / granule) * granule);
  return Array.from({ length: workers }, () => new Uint8Array(chunk));
}

/** One native copy, its progress looked at every NATIVE_PROGRESS_MS and stopped by `signal`. */
async function nativeCopy(native: NonNullable<Sink["native"]>, ranges: Float64Array, src: BlockDevice, onDone: (position: number) => void, signal: AbortSignal | undefined): Promise<number> {
  signal?.throwIfAborted();
  const control = new BigInt64Array(2); // [stop, end of the last piece written]
  const stop = () => Atomics.store(control, 0, 1n);
  signal?.addEventListener("abort", stop);
  const timer = setInterval(() => onDone(Number(Atomics.load(control, 1))), NATIVE_PROGRESS_MS);
  try {
    return await native(ranges, control);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ECANCELED" && signal?.aborted) throw signal.reason;
    if (code === "ENODATA") throw new StorageError("STORAGE_TRUNCATED", `${layerOf(src)?.path ?? "the source"} ended while it was being copied; was it changed meanwhile?`, { cause: err });
    throw err;
  } finally {
    clearInterval(timer);
    signal?.removeEventListener("abort", stop);
  }
}


/**
 * Copies every data piece with PARALLEL workers sharing one queue, each with its own buffer
 * reused for the whole copy: the next pieces are read while earlier ones are written. Returns the
 * bytes the sink stored as data.
 */
async function copyData(
  src: BlockDevice,
  queue: AsyncGenerator<[number, number]>,
  sink: Sink,
  onDone: (position: number) => void,
  signal: AbortSignal | undefined,
  buffers = workerBuffers(sink.granule),
): Promise<number> {
  let stored = 0;
  let failed = false;
  const worker = async (buffer: Uint8Array) => {
    for (;;) {
      signal?.throwIfAborted();
      const next = await queue.next();
      if (next.done || failed) return;
      const [at, n] = next.value;
      const view = buffer.subarray(0, n);
      await src.read(view, at);
      // Added after the await: `stored += await …` would add to the value read before it.
      const put = await sink.put(view, at);
      stored += put;
      onDone(at + n);
    }
  };
  // One failure stops the others before the sink is closed under them.
  const results = await Promise.allSettled(buffers.map((buffer) => worker(buffer).catch((err: unknown) => ((failed = true), Promise.reject(err)))));
  for (const r of results) if (r.status === "rejected") throw r.reason;
  return stored;
}

async function rawSink(file: ImageFile, size: number): Promise<Sink> {
  await file.truncate(size);
  const copy = sparseAddon()?.copy;
  const fd = file.fd;
  return {
    granule: RAW_ZERO_GRANULE,
    ordered: false,
    ...(copy && fd !== undefined ? { native: (ranges: Float64Array, control: BigInt64Array) => copy(ranges, fd, RAW_ZERO_GRANULE, CHUNK, control) } : {}),
    async put(data, position) {
      // Write the non-zero runs only; zero granules stay holes.
      const runs = dataRuns(data, RAW_ZERO_GRANULE);
      const writes: Promise<void>[] = [];
      for (let i = 0; i < runs.length; i += 2) writes.push(file.write([data.subarray(runs[i]!, runs[i + 1]!)], position + runs[i]!));
      await Promise.all(writes);
      return runsLength(runs);
    },
    async finish() {},
    async abort() {},
  };
}

async function qcow2Sink(file: ImageFile, size: number, options: ConvertOptions): Promise<Sink> {
  await writeEmptyQcow2(file, { size, ...(options.clusterSize ? { clusterSize: options.clusterSize } : {}) });
  const device = await Qcow2Device.openOutput(file);
  const cs = device.clusterSize;
  const copy = sparseAddon()?.copy;
  const fd = file.fd;
  // Appended in guest order at the end of the file, then recorded in the tables.
  const native = async (ranges: Float64Array, control: BigInt64Array) => {
    let granules = 0;
    for (let i = 3; i < ranges.length; i += 4) granules += Math.ceil(ranges[i]! / cs);
    const written = new Uint8Array(granules);
    const host = device.appendOffset;
    const stored = await copy!(ranges, fd!, cs, Math.max(CHUNK, cs), control, host, written);
    const clusters: number[] = [];
    for (let i = 0, k = 0; i < ranges.length; i += 4) {
      const first = ranges[i + 2]! / cs;
      for (let j = 0; j < Math.ceil(ranges[i + 3]! / cs); j++, k++) if (written[k]) clusters.push(first + j);
    }
    await device.adoptAppended(host, clusters);
    return stored;
  };
  return {
    granule: cs,
    ordered: true,
    ...(copy && fd !== undefined && !options.compress ? { native } : {}),
    async put(data, position) {
      // Whole clusters of zeros are not allocated at all; the rest is written run by run.
      const runs = dataRuns(data, cs);
      if (options.compress) return putCompressed(device, data, position, runs);
      for (let i = 0; i < runs.length; i += 2) await device.write(data.subarray(runs[i]!, runs[i + 1]!), position + runs[i]!);
      return runsLength(runs);
    },
    async finish() {
      await device.close();
    },
    async abort() {
      await device.close().catch(() => {});
    },
  };
}

/**
 * The runs of `data` that are not all zeros, `granule` by `granule`, as flat [start, end, start,
 * end, …] offsets. Small and synchronous on purpose: it runs for every piece a conversion copies,
 * and a compact function costs the JIT little.
 */
function dataRuns(data: Uint8Array, granule: number): number[] {
  const runs: number[] = [];
  let runStart = -1;
  for (let off = 0; off < data.length; off += granule) {
    if (isZeroRange(data, off, Math.min(data.length, off + granule))) {
      if (runStart >= 0) runs.push(runStart, off);
      runStart = -1;
    } else if (runStart < 0) runStart = off;
  }
  if (runStart >= 0) runs.push(runStart, data.length);
  return runs;
}

function runsLength(runs: number[]): number {
  let n = 0;
  for (let i = 0; i < runs.length; i += 2) n += runs[i + 1]! - runs[i]!;
  return n;
}

/** `convert -c`: each non-zero cluster compressed, or stored plainly when it does not shrink, as qemu does. */
async function putCompressed(device: Qcow2Device, data: Uint8Array, position: number, runs: number[]): Promise<number> {
  const cs = device.clusterSize;
  for (let i = 0; i < runs.length; i += 2) {
    for (let off = runs[i]!; off < runs[i + 1]!; off += cs) {
      const cluster = data.subarray(off, Math.min(runs[i + 1]!, off + cs));
      const packed = await compressCluster(cluster.length === cs ? cluster : padTo(cluster, cs));
      if (packed.length < cs - 512) await device.writeCompressedCluster((position + off) / cs, packed);
      else await device.write(cluster, position + off);
    }
  }
  return runsLength(runs);
}

function padTo(data: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(data);
  return out;
}
