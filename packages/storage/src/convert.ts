import { open, type FileHandle } from "node:fs/promises";
import type { BlockDevice } from "./block-device.js";
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
  /** Bytes of guest data copied (everything else was a hole or zeros and cost nothing). */
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
      for await (const extent of src.extents()) {
        if (extent.kind === "data") {
          dataBytes += extent.length;
          await copyRange(src, sink, extent.offset, extent.length, (done) => progress(done, total));
        }
        progress(extent.offset + extent.length, total);
      }
      await sink.finish();
    } catch (err) {
      await sink.abort();
      throw err;
    }
    return { format, virtualSize: total, dataBytes };
  } finally {
    await src.close();
  }
}

interface Sink {
  /** Alignment the sink wants chunks cut at (a qcow2 cluster). */
  readonly granule: number;
  /** Stores one chunk (`granule`-aligned start) of guest data. */
  put(data: Uint8Array, position: number): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

async function copyRange(src: BlockDevice, sink: Sink, start: number, length: number, onDone: (position: number) => void): Promise<void> {
  const end = start + length;
  // Chunks are aligned to the sink's granule so a cluster is never split between two puts.
  const chunk = Math.max(sink.granule, Math.floor(CHUNK / sink.granule) * sink.granule);
  const alignedStart = Math.floor(start / sink.granule) * sink.granule;
  let next = alignedStart;
  const buffers = Array.from({ length: PARALLEL }, () => new Uint8Array(chunk));
  const worker = async (buffer: Uint8Array) => {
    while (next < end) {
      const at = next;
      const n = Math.min(chunk, end - at, src.size - at);
      next = at + chunk;
      const view = buffer.subarray(0, n);
      await src.read(view, at);
      await sink.put(view, at);
      onDone(at + n);
    }
  };
  await Promise.all(buffers.map(worker));
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
      const writes: Promise<void>[] = [];
      for (let off = 0; off <= data.length; off += RAW_ZERO_GRANULE) {
        const granule = off < data.length ? data.subarray(off, Math.min(data.length, off + RAW_ZERO_GRANULE)) : undefined;
        const zero = granule === undefined || isZero(granule);
        if (!zero && runStart < 0) runStart = off;
        if (zero && runStart >= 0) {
          writes.push(writeFully(handle, data.subarray(runStart, Math.min(off, data.length)), position + runStart));
          runStart = -1;
        }
      }
      await Promise.all(writes);
    },
    async finish() {
      await handle.datasync();
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
      const flushRun = async (endOff: number) => {
        if (runStart >= 0) await device.write(data.subarray(runStart, endOff), position + runStart);
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
            continue;
          }
          await device.write(cluster, position + off);
          continue;
        }
        if (runStart < 0) runStart = off;
      }
      await flushRun(data.length);
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
