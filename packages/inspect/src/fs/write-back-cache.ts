import type { BlockDevice } from "@leapp/storage";
import { corrupt, readBytes } from "../block/volumes-io.js";

/**
 * The metadata blocks of a filesystem driver, read once and kept in a bounded LRU, and — for a
 * writable filesystem — changed in memory and written back later. A changed ("dirty") block stays
 * in memory until `writeBack`, so every read through the cache sees it at once; its `seal`
 * (checksums over the final bytes) runs just before it goes out, however often it changed.
 *
 * Blocks are shared Uint8Arrays: a caller that changes one calls `dirty` with it. File data never
 * goes through here; a block freed by the filesystem must be `forget`-ten, so a stale copy can
 * never be written over data that later reuses it.
 */
export class WriteBackCache {
  private readonly clean = new Map<number, Uint8Array>();
  private readonly dirtyBlocks = new Map<number, { bytes: Uint8Array; seal: ((bytes: Uint8Array) => void) | undefined }>();
  private readonly reading = new Map<number, Promise<Uint8Array>>();

  constructor(
    readonly device: BlockDevice,
    readonly blockSize: number,
    /** Clean blocks kept; dirty ones are kept whatever this says, until written back. */
    private readonly capacity: number,
    private readonly what: string,
    /** Evict clean blocks on every read (readers), or only when `trim` is called (writers). */
    private readonly autoTrim = true,
  ) {}

  /** The dirty bytes waiting for `writeBack`. */
  get dirtyBytes(): number {
    return this.dirtyBlocks.size * this.blockSize;
  }

  block(index: number): Promise<Uint8Array> {
    const dirty = this.dirtyBlocks.get(index);
    if (dirty) return Promise.resolve(dirty.bytes);
    const hit = this.clean.get(index);
    if (hit) {
      this.clean.delete(index);
      this.clean.set(index, hit);
      return Promise.resolve(hit);
    }
    let pending = this.reading.get(index);
    if (!pending) {
      pending = readBytes(this.device, index * this.blockSize, this.blockSize, `${this.what} ${index}`).then((bytes) => {
        this.reading.delete(index);
        // A block made fresh or dirtied while the read was under way wins over what the device held.
        const now = this.dirtyBlocks.get(index)?.bytes ?? this.clean.get(index);
        if (now) return now;
        this.remember(index, bytes);
        return bytes;
      });
      pending.catch(() => this.reading.delete(index));
      this.reading.set(index, pending);
    }
    return pending;
  }

  /**
   * `count` consecutive blocks, reading the missing stretches with one device read each (a
   * directory or bitmap run read at once instead of block by block).
   */
  async blocks(first: number, count: number): Promise<Uint8Array[]> {
    const out = new Array<Uint8Array>(count);
    const cached = (index: number) => this.dirtyBlocks.get(index)?.bytes ?? this.clean.get(index);
    for (let i = 0; i < count; ) {
      const hit = cached(first + i);
      if (hit || this.reading.has(first + i)) {
        out[i] = hit ?? (await this.block(first + i));
        i++;
        continue;
      }
      let end = i + 1;
      while (end < count && !cached(first + end) && !this.reading.has(first + end)) end++;
      const bytes = await readBytes(this.device, (first + i) * this.blockSize, (end - i) * this.blockSize, `${this.what} ${first + i}`);
      for (let k = i; k < end; k++) {
        // Another read may have brought the block in meanwhile; the cached copy wins.
        const now = cached(first + k);
        if (now) out[k] = now;
        else {
          // A copy, so evicting one block frees its memory instead of pinning the whole read.
          const own = bytes.slice((k - i) * this.blockSize, (k - i + 1) * this.blockSize);
          this.remember(first + k, own);
          out[k] = own;
        }
      }
      i = end;
    }
    return out;
  }

  /** `length` bytes at a byte offset: a view into one cached block, or a copy across several. */
  async bytes(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.device.size) {
      throw corrupt(`${this.what}: ${length} bytes at offset ${offset} lie outside the ${this.device.size}-byte device`);
    }
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    if (first === last) {
      const b = await this.block(first);
      const start = offset - first * this.blockSize;
      return b.subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const b = await this.block(i);
      const blockStart = i * this.blockSize;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + this.blockSize);
      out.set(b.subarray(from - blockStart, to - blockStart), from - offset);
    }
    return out;
  }

  /** Marks `bytes` (block `index`, changed by the caller) to be written back; `seal` replaces an earlier one. */
  dirty(index: number, bytes: Uint8Array, seal?: (bytes: Uint8Array) => void): void {
    if (bytes.length !== this.blockSize) throw new Error(`${this.what} ${index}: a dirty block must be one whole block`);
    this.clean.delete(index);
    const had = this.dirtyBlocks.get(index);
    this.dirtyBlocks.set(index, { bytes, seal: seal ?? had?.seal });
  }

  /** A zero-filled block that replaces whatever the device holds at `index` (a new allocation), dirty. */
  fresh(index: number, seal?: (bytes: Uint8Array) => void): Uint8Array {
    const bytes = new Uint8Array(this.blockSize);
    this.reading.delete(index);
    this.clean.delete(index);
    this.dirtyBlocks.set(index, { bytes, seal });
    return bytes;
  }

  /** Drops a block the filesystem freed, written back or not. */
  forget(index: number): void {
    this.clean.delete(index);
    this.dirtyBlocks.delete(index);
  }

  /** Whether `index` is in memory with changes not yet written. */
  isDirty(index: number): boolean {
    return this.dirtyBlocks.has(index);
  }

  /** Evicts the least recently used clean blocks down to the capacity. */
  trim(): void {
    while (this.clean.size > this.capacity) {
      const oldest = this.clean.keys().next().value;
      if (oldest === undefined) break;
      this.clean.delete(oldest);
    }
  }

  /** Seals and writes every dirty block, in block order, adjacent ones in one write; they stay cached, clean. */
  async writeBack(): Promise<void> {
    const indexes = [...this.dirtyBlocks.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      const entry = this.dirtyBlocks.get(index)!;
      entry.seal?.(entry.bytes);
    }
    const maxRun = Math.max(1, Math.floor((1 << 20) / this.blockSize));
    for (let i = 0; i < indexes.length; ) {
      let j = i + 1;
      while (j < indexes.length && indexes[j] === indexes[j - 1]! + 1 && j - i < maxRun) j++;
      const first = indexes[i]!;
      if (j - i === 1) {
        await this.device.write(this.dirtyBlocks.get(first)!.bytes, first * this.blockSize);
      } else {
        const run = new Uint8Array((j - i) * this.blockSize);
        for (let k = i; k < j; k++) run.set(this.dirtyBlocks.get(indexes[k]!)!.bytes, (k - i) * this.blockSize);
        await this.device.write(run, first * this.blockSize);
      }
      i = j;
    }
    for (const index of indexes) {
      const entry = this.dirtyBlocks.get(index)!;
      this.dirtyBlocks.delete(index);
      this.clean.set(index, entry.bytes);
    }
    this.trim();
  }

  private remember(index: number, bytes: Uint8Array): void {
    this.clean.set(index, bytes);
    if (this.autoTrim) this.trim();
  }

  /** Forgets every clean block (after the device changed underneath). */
  clear(): void {
    this.clean.clear();
  }
}
