import type { BlockDevice, Extent } from "./block-device.js";
import { openDisk, type OpenDiskOptions } from "./open-disk.js";
import type { OperationOptions } from "./progress.js";
import { isZero } from "./util.js";

/** The answer of `compareDisks`, as `qemu-img compare` gives it. */
export interface CompareResult {
  identical: boolean;
  /** The first byte offset where the two disks read differently (absent when identical). */
  firstDifference?: number;
  sizeA: number;
  sizeB: number;
}

/** Window of the allocation maps looked at at once, so memory stays bounded on any disk. */
const WINDOW = 256 * 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

/**
 * Compares what two disks read, like `qemu-img compare`: ranges that read as zero are equal
 * whatever their allocation, and when the sizes differ the larger disk's excess must read as
 * zero. Only data ranges (in either disk) are read, so the cost grows with allocated bytes.
 */
export async function compareDisks(a: string | BlockDevice, b: string | BlockDevice, options: OperationOptions & Pick<OpenDiskOptions, "trustedBackingDirs"> = {}): Promise<CompareResult> {
  options.signal?.throwIfAborted();
  const open = options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {};
  const devA = typeof a === "string" ? await openDisk(a, open) : a;
  let devB: BlockDevice;
  try {
    devB = typeof b === "string" ? await openDisk(b, open) : b;
  } catch (err) {
    if (typeof a === "string") await devA.close();
    throw err;
  }
  try {
    const firstDifference = await findFirstDifference(devA, devB, options);
    const result: CompareResult = { identical: firstDifference === undefined, sizeA: devA.size, sizeB: devB.size };
    if (firstDifference !== undefined) result.firstDifference = firstDifference;
    return result;
  } finally {
    if (typeof a === "string") await devA.close();
    if (typeof b === "string") await devB.close();
  }
}

async function findFirstDifference(a: BlockDevice, b: BlockDevice, options: OperationOptions): Promise<number | undefined> {
  const common = Math.min(a.size, b.size);
  const total = Math.max(a.size, b.size);
  const progress = (done: number) => options.onProgress?.({ phase: "compare", done, total, unit: "bytes" });
  const bufA = new Uint8Array(CHUNK);
  const bufB = new Uint8Array(CHUNK);
  for (let window = 0; window < common; window += WINDOW) {
    const length = Math.min(WINDOW, common - window);
    const ranges = unionOfData(await dataRanges(a, window, length), await dataRanges(b, window, length));
    for (const [start, end] of ranges) {
      for (let at = start; at < end; at += CHUNK) {
        options.signal?.throwIfAborted();
        const n = Math.min(CHUNK, end - at);
        const va = bufA.subarray(0, n);
        const vb = bufB.subarray(0, n);
        await Promise.all([a.read(va, at), b.read(vb, at)]);
        if (Buffer.compare(va, vb) !== 0) {
          let i = 0;
          while (va[i] === vb[i]) i++;
          return at + i;
        }
      }
    }
    progress(window + length);
  }
  // The larger disk's excess must read as zero.
  const larger = a.size > b.size ? a : b;
  for (let window = common; window < larger.size; window += WINDOW) {
    const length = Math.min(WINDOW, larger.size - window);
    for (const [start, end] of await dataRanges(larger, window, length)) {
      for (let at = start; at < end; at += CHUNK) {
        options.signal?.throwIfAborted();
        const n = Math.min(CHUNK, end - at);
        const view = bufA.subarray(0, n);
        await larger.read(view, at);
        if (!isZero(view)) {
          let i = 0;
          while (view[i] === 0) i++;
          return at + i;
        }
      }
    }
    progress(window + length);
  }
  return undefined;
}

/** The data ranges of [start, start+length) as [start, end) pairs. */
async function dataRanges(device: BlockDevice, start: number, length: number): Promise<[number, number][]> {
  const out: [number, number][] = [];
  for await (const e of device.extents(start, length) as AsyncIterable<Extent>) {
    if (e.kind !== "data") continue;
    const last = out[out.length - 1];
    if (last && last[1] === e.offset) last[1] = e.offset + e.length;
    else out.push([e.offset, e.offset + e.length]);
  }
  return out;
}

/** The union of two sorted lists of disjoint ranges. */
export function unionOfData(x: [number, number][], y: [number, number][]): [number, number][] {
  const all = [...x, ...y].sort((p, q) => p[0] - q[0]);
  const out: [number, number][] = [];
  for (const [s, e] of all) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}
