import { open, rm, type FileHandle } from "node:fs/promises";
import type { BlockDevice, Extent } from "./block-device.js";
import { StorageError } from "./errors.js";
import { openDisk } from "./open-disk.js";
import { compressCluster } from "./qcow2-compress.js";
import { createQcow2 } from "./qcow2-create.js";
import { Qcow2Device } from "./qcow2.js";
import { isZero, writeFully } from "./util.js";

export interface ConvertOptions {
  /** Target format (default qcow2). */
  format?: "raw" | "qcow2";
  /** qcow2 only: compress every cluster with zlib, as `qemu-img convert -c`. */
  compress?: boolean;
  /** qcow2 only: cluster size of the new image (default 64 KiB). */
  clusterSize?: number;
  /** Replace an existing target (default: STORAGE_TARGET_EXISTS). */
  overwrite?: boolean;
  /** Called as the copy advances through the virtual disk: bytes done out of the virtual size. */
  onProgress?(done: number, total: number): void;
}

export interface ConvertResult {
  format: "raw" | "qcow2";
  virtualSize: number;
  /** Bytes of non-zero guest data written (everything else was a hole or zeros and cost nothing). */
  dataBytes: number;
}

/** Unit of reading and of zero detection. Large sequential reads, few promises. */
const CHUNK = 4 * 1024 * 1024;
/** Zero runs this long (and aligned) are left as holes in a raw target, as `qemu-img convert -S 4k`. */
const RAW_ZERO_GRANULE = 4096;
/** Chunks in flight at once: reading the next ones while the previous are written. */
const PARALLEL = 4;

/**
 * Converts a disk image of any known format into a new raw or qcow2 image. Only data extents
 * are read (holes and zero clusters are skipped), and all-zero blocks inside them are not
 * written either, so the cost grows with the allocated data, not with the virtual size. The
 * source is opened read-only and never written.
 */
export async function convertDisk(source: string, target: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const format = options.format ?? "qcow2";
  if (options.compress && format !== "qcow2") throw new StorageError("STORAGE_UNSUPPORTED", "only qcow2 targets can be compressed; drop --compress or use -O qcow2");
  const src = await openDisk(source);
  try {
    const total = src.size;
    const progress = options.onProgress ?? (() => {});
    progress(0, total);
    const sink = format === "raw" ? await rawSink(target, total, options.overwrite ?? false) : await qcow2Sink(target, total, options);
    let dataBytes = 0;
    try {
      let reported = 0;
      dataBytes = await copyData(src, sourceRanges(src), sink, (position) => {
        if (position > reported) progress((reported = position), total);
      });
      progress(total, total);
      await sink.finish();
    } catch (err) {
      // A half-written target is worse than none: it would look like a finished conversion.
      await sink.abort().catch(() => {});
      await rm(target, { force: true }).catch(() => {});
      throw err;
    }
    return { format, virtualSize: total, dataBytes };
  } finally {
    await src.close();
  }
}

/**
 * The ranges to copy. A raw file's allocation map costs a full read to find (no SEEK_DATA in
 * Node, see raw.ts), so a raw source is read once as data and its zeros are dropped by the sink;
 * every other format has a map in its metadata and only its data is read.
 */
function sourceRanges(src: BlockDevice): AsyncIterable<Extent> {
  if (src.format !== "raw") return src.extents();
  return (async function* () {
    if (src.size > 0) yield { offset: 0, length: src.size, kind: "data" as const };
  })();
}

interface Sink {
  /** Alignment the sink wants chunks cut at (a qcow2 cluster). */
  readonly granule: number;
  /** Stores one chunk (`granule`-aligned start) of guest data; returns the non-zero bytes written. */
  put(data: Uint8Array, position: number): Promise<number>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

/** The pieces to copy: data extents cut into chunk-sized, granule-aligned reads. */
async function* pieces(ranges: AsyncIterable<Extent>, granule: number, chunk: number, size: number): AsyncGenerator<[number, number]> {
  for await (const extent of ranges) {
    if (extent.kind !== "data") continue;
    const end = extent.offset + extent.length;
    for (let at = Math.floor(extent.offset / granule) * granule; at < end; at += chunk) yield [at, Math.min(chunk, end - at, size - at)];
  }
}

/**
 * Copies every data piece with PARALLEL workers sharing one queue, each with its own buffer
 * reused for the whole copy: the next pieces are read while earlier ones are written.
 */
async function copyData(src: BlockDevice, ranges: AsyncIterable<Extent>, sink: Sink, onDone: (position: number) => void): Promise<number> {
  const chunk = Math.max(sink.granule, Math.floor(CHUNK / sink.granule) * sink.granule);
  const queue = pieces(ranges, sink.granule, chunk, src.size);
  let written = 0;
  let failed = false;
  const worker = async () => {
    const buffer = new Uint8Array(chunk);
    for (;;) {
      const next = await queue.next();
      if (next.done || failed) return;
      const [at, n] = next.value;
      const view = buffer.subarray(0, n);
      await src.read(view, at);
      written += await sink.put(view, at);
      onDone(at + n);
    }
  };
  // One failure stops the others before the sink is closed under them.
  await Promise.all(Array.from({ length: PARALLEL }, () => worker().catch((err: unknown) => ((failed = true), Promise.reject(err)))));
  return written;
}

async function createTarget(path: string, overwrite: boolean): Promise<FileHandle> {
  try {
    return await open(path, overwrite ? "w" : "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new StorageError("STORAGE_TARGET_EXISTS", `${path} already exists; remove it or choose another target`, { path, cause: err });
    }
    throw err;
  }
}

async function rawSink(path: string, size: number, overwrite: boolean): Promise<Sink> {
  const handle = await createTarget(path, overwrite);
  await handle.truncate(size);
  return {
    granule: RAW_ZERO_GRANULE,
    async put(data, position) {
      // Write the non-zero runs only; zero granules stay holes.
      let runStart = -1;
      let written = 0;
      const writes: Promise<void>[] = [];
      const endRun = (end: number) => {
        if (runStart < 0) return;
        written += end - runStart;
        writes.push(writeFully(handle, data.subarray(runStart, end), position + runStart));
        runStart = -1;
      };
      for (let off = 0; off < data.length; off += RAW_ZERO_GRANULE) {
        const granuleEnd = Math.min(data.length, off + RAW_ZERO_GRANULE);
        if (isZero(data.subarray(off, granuleEnd))) endRun(off);
        else if (runStart < 0) runStart = off;
      }
      endRun(data.length);
      await Promise.all(writes);
      return written;
    },
    async finish() {
      // No fsync, as `qemu-img convert` (cache=unsafe): the caller syncs if it needs durability.
      await handle.close();
    },
    async abort() {
      await handle.close();
    },
  };
}

async function qcow2Sink(path: string, size: number, options: ConvertOptions): Promise<Sink> {
  await createQcow2(path, { size, ...(options.clusterSize ? { clusterSize: options.clusterSize } : {}), overwrite: options.overwrite ?? false });
  const device = await openDisk(path, { format: "qcow2", writable: true });
  if (!(device instanceof Qcow2Device)) throw new Error("the qcow2 driver did not open a qcow2 device");
  const cs = device.clusterSize;
  return {
    granule: cs,
    async put(data, position) {
      // Whole clusters of zeros are not allocated at all; the rest is written cluster run by run.
      let runStart = -1;
      let written = 0;
      const flushRun = async (endOff: number) => {
        if (runStart >= 0) {
          await device.write(data.subarray(runStart, endOff), position + runStart);
          written += endOff - runStart;
        }
        runStart = -1;
      };
      for (let off = 0; off < data.length; off += cs) {
        const cluster = data.subarray(off, Math.min(data.length, off + cs));
        if (isZero(cluster)) {
          await flushRun(off);
          continue;
        }
        if (options.compress) {
          const full = cluster.length === cs ? cluster : padTo(cluster, cs);
          const packed = await compressCluster(full);
          // A cluster that does not shrink is stored plainly, as qemu does.
          if (packed.length < cs - 512) {
            await device.writeCompressedCluster((position + off) / cs, packed);
          } else await device.write(cluster, position + off);
          written += cluster.length;
          continue;
        }
        if (runStart < 0) runStart = off;
      }
      await flushRun(data.length);
      return written;
    },
    async finish() {
      await device.close();
    },
    async abort() {
      await device.close();
    },
  };
}

function padTo(data: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(data);
  return out;
}
