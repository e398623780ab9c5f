import type { BlockDevice } from "@leapp/storage";

/**
 * A write-back buffer over a writable device for filesystem writers: writes land in memory as
 * whole blocks (reads see them at once) and go to the device in sorted runs of adjacent blocks —
 * thousands of small files become a few large sequential writes. At most `limit` bytes wait;
 * `writeOut` sends everything, `flush` also makes it durable.
 */
export class WriteBackDevice implements BlockDevice {
  readonly format: BlockDevice["format"];
  readonly size: number;
  readonly writable = true;
  /** Device block → slot in `slab`. One preallocated slab: no allocation per block written. */
  private readonly pending = new Map<number, number>();
  private readonly slab: Uint8Array;
  private readonly slots: number;
  private run: Uint8Array | undefined;

  constructor(
    private readonly base: BlockDevice,
    private readonly blockSize: number,
    limit = 16 * 1024 * 1024,
  ) {
    this.format = base.format;
    this.size = base.size;
    this.slots = Math.max(16, Math.floor(limit / blockSize));
    this.slab = new Uint8Array(this.slots * blockSize);
  }

  private slot(index: number): Uint8Array {
    const at = this.pending.get(index)!;
    return this.slab.subarray(at * this.blockSize, (at + 1) * this.blockSize);
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    await this.base.read(buffer, position);
    if (this.pending.size === 0 || buffer.length === 0) return;
    const first = Math.floor(position / this.blockSize);
    const last = Math.floor((position + buffer.length - 1) / this.blockSize);
    if (last - first + 1 > this.pending.size) {
      for (const index of this.pending.keys()) if (index >= first && index <= last) this.overlay(buffer, position, index, this.slot(index));
    } else {
      for (let index = first; index <= last; index++) if (this.pending.has(index)) this.overlay(buffer, position, index, this.slot(index));
    }
  }

  private overlay(buffer: Uint8Array, position: number, index: number, block: Uint8Array): void {
    const from = Math.max(position, index * this.blockSize);
    const to = Math.min(position + buffer.length, (index + 1) * this.blockSize);
    buffer.set(block.subarray(from - index * this.blockSize, to - index * this.blockSize), from - position);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    if (data.length === 0) return;
    const first = Math.floor(position / this.blockSize);
    const last = Math.floor((position + data.length - 1) / this.blockSize);
    for (let index = first; index <= last; index++) {
      const from = Math.max(position, index * this.blockSize);
      const to = Math.min(position + data.length, (index + 1) * this.blockSize);
      if (!this.pending.has(index)) {
        if (this.pending.size >= this.slots) await this.writeOut();
        this.pending.set(index, this.pending.size);
        // A block written in part keeps the rest of what the device holds.
        if (to - from < this.blockSize) await this.base.read(this.slot(index), index * this.blockSize);
      }
      this.slot(index).set(data.subarray(from - position, to - position), from - index * this.blockSize);
    }
  }

  /** Sends every waiting block to the device, adjacent ones in one write (up to 1 MiB). */
  async writeOut(): Promise<void> {
    if (this.pending.size === 0) return;
    const order = [...this.pending.keys()].sort((a, b) => a - b);
    const maxRun = Math.max(1, Math.floor((1 << 20) / this.blockSize));
    this.run ??= new Uint8Array(maxRun * this.blockSize);
    for (let i = 0; i < order.length; ) {
      let j = i + 1;
      while (j < order.length && order[j] === order[j - 1]! + 1 && j - i < maxRun) j++;
      for (let k = i; k < j; k++) this.run.set(this.slot(order[k]!), (k - i) * this.blockSize);
      await this.base.write(this.run.subarray(0, (j - i) * this.blockSize), order[i]! * this.blockSize);
      i = j;
    }
    this.pending.clear();
  }

  async flush(): Promise<void> {
    await this.writeOut();
    await this.base.flush();
  }

  extents(start?: number, length?: number) {
    return this.base.extents(start, length);
  }

  /** Writes out what waits; the base device stays open (its owner closes it). */
  async close(): Promise<void> {
    await this.writeOut();
  }
}
