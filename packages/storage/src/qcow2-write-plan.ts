// Write planning for qcow2: what an L2 entry says about a cluster a write goes to, how entries
// are rewritten, and the plan of host writes one guest write becomes.

const TWO32 = 4294967296;

/** Host offset of a standard (non-compressed) L2 descriptor. */
export function hostOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * TWO32 + ((lo & 0xfffffe00) >>> 0);
}

/** What the L2 entry at byte `index` of a table says, as a writer needs it. */
export interface DataEntry {
  hi: number;
  lo: number;
  /** Host offset of a standard cluster (0: none, or compressed). */
  host: number;
  compressed: boolean;
  /** The COPIED flag: only this image uses the cluster. */
  copied: boolean;
  /** Every byte is allocated data (no zero flag, all subclusters allocated). */
  fullyAllocated: boolean;
}

export function readDataEntry(view: DataView, index: number, extendedL2: boolean): DataEntry {
  const hi = view.getUint32(index);
  const lo = view.getUint32(index + 4);
  const compressed = (hi & 0x40000000) !== 0;
  return {
    hi,
    lo,
    host: compressed ? 0 : hostOffset(hi, lo),
    compressed,
    copied: (hi & 0x80000000) !== 0,
    fullyAllocated: extendedL2 ? view.getUint32(index + 12) === 0xffffffff : (lo & 1) === 0,
  };
}

/** Points the entry at the (wholly allocated, unshared) host cluster `target`. */
export function writeDataEntry(view: DataView, index: number, extendedL2: boolean, target: number): void {
  view.setUint32(index, 0x80000000 | Math.floor(target / TWO32));
  view.setUint32(index + 4, target % TWO32);
  if (extendedL2) {
    view.setUint32(index + 8, 0);
    view.setUint32(index + 12, 0xffffffff);
  }
}

/** Points the entry at `length` bytes of compressed data at host `offset` (clusters of 2^`clusterBits`). */
export function writeCompressedEntry(view: DataView, index: number, extendedL2: boolean, clusterBits: number, offset: number, length: number): void {
  const sectors = Math.floor((offset + length - 1) / 512) - Math.floor(offset / 512);
  const hiShift = 62 - (clusterBits - 8) - 32;
  view.setUint32(index, 0x40000000 | (sectors << hiShift) | Math.floor(offset / TWO32));
  view.setUint32(index + 4, offset % TWO32);
  if (extendedL2) {
    view.setUint32(index + 8, 0);
    view.setUint32(index + 12, 0);
  }
}

/**
 * The host writes one guest write turns into: [host offset, bytes start..end of a buffer], merged
 * while both the host range and the buffer range continue, so that a long copy becomes one pwrite
 * per call with no view allocated per cluster.
 */
export class WritePlan {
  readonly runs: { host: number; buffer: Uint8Array; start: number; end: number }[] = [];
  /** Host clusters this write fills whole. */
  readonly filled: number[] = [];
  /** Earlier writes still filling clusters this one writes into. */
  readonly waitFor = new Set<Promise<void>>();

  queue(host: number, buffer: Uint8Array, start: number, end: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last && last.buffer === buffer && last.end === start && last.host + (last.end - last.start) === host) last.end = end;
    else this.runs.push({ host, buffer, start, end });
  }

  /** Host-contiguous runs from different buffers (copy-on-write clusters) go out as one writev. */
  writes(): { host: number; parts: Uint8Array[]; length: number }[] {
    const writes: { host: number; parts: Uint8Array[]; length: number }[] = [];
    for (const run of this.runs) {
      const bytes = run.buffer.subarray(run.start, run.end);
      const last = writes[writes.length - 1];
      if (last && last.host + last.length === run.host) {
        last.parts.push(bytes);
        last.length += bytes.length;
      } else writes.push({ host: run.host, parts: [bytes], length: bytes.length });
    }
    return writes;
  }
}
