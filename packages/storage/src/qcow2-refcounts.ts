// The refcount allocator of a writable qcow2 image: the refcount table and blocks (every width
// from 1 to 64 bits), clusters handed out at the end of the file each counted once, and the table
// grown (moved to the end of the file) when the file outgrows it. It only changes memory; the
// device writes what is dirty, in its crash-safe order.
import { StorageError } from "./errors.js";
import type { ImageFile } from "./image-file.js";
import { MAX_REFTABLE_BYTES, type Qcow2Header } from "./qcow2-format.js";
import { isZeroRange } from "./util.js";

const TWO32 = 4294967296;

export interface RefBlock {
  offset: number;
  bytes: Uint8Array;
  view: DataView;
  dirty: boolean;
}

function corrupt(path: string, message: string): StorageError {
  return new StorageError("STORAGE_CORRUPT", `${path}: ${message}; the qcow2 image is damaged (qemu-img check may tell more)`, { path });
}

export class Qcow2Refcounts {
  /** Host offset of each refcount block (0: none yet). */
  #table: number[] = [];
  readonly #blocks = new Map<number, RefBlock>();
  /** The table's content changed (a new block); it must be written. */
  tableDirty = false;
  /** The table moved (header fields refcountTableOffset/Clusters changed); the header must be written. */
  headerDirty = false;
  /** The first cluster no one has: new clusters come from here. */
  #fileEnd = 0;
  readonly #path: string;
  readonly #cs: number;
  readonly bits: number;
  readonly max: number;
  readonly #perBlock: number;

  private constructor(
    private readonly file: ImageFile,
    /** The header, whose refcount table fields this allocator keeps up to date. */
    private readonly header: Qcow2Header,
    /** The file's length as the device counts it (clusters handed out lie inside it once flushed). */
    private readonly fileSize: () => number,
  ) {
    this.#path = file.path;
    this.#cs = header.clusterSize;
    this.bits = 2 ** header.refcountOrder;
    this.max = this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.#perBlock = (header.clusterSize * 8) / this.bits;
  }

  /** Reads and checks the refcount table of an image opened for writing. */
  static async load(file: ImageFile, header: Qcow2Header, fileSize: () => number): Promise<Qcow2Refcounts> {
    const refcounts = new Qcow2Refcounts(file, header, fileSize);
    await refcounts.#loadTable();
    return refcounts;
  }

  get fileEnd(): number {
    return this.#fileEnd;
  }

  async #loadTable(): Promise<void> {
    const h = this.header;
    const cs = this.#cs;
    const size = this.fileSize();
    const bytes = new Uint8Array(h.refcountTableClusters * cs);
    if (h.refcountTableOffset + bytes.length > size) throw new StorageError("STORAGE_TRUNCATED", `${this.#path}: the refcount table lies past the end of the file`, { path: this.#path });
    await this.file.readExact(bytes, h.refcountTableOffset, "refcount table");
    const view = new DataView(bytes.buffer);
    this.#table = new Array<number>(bytes.length / 8).fill(0);
    for (let i = 0; i < bytes.length / 8; i++) {
      // Most of a table is unused: skip zero stretches with a memcmp, not entry by entry.
      if (i % 64 === 0 && isZeroRange(bytes, i * 8, Math.min(bytes.length, (i + 64) * 8))) {
        i += 63;
        continue;
      }
      const offset = view.getUint32(i * 8) * TWO32 + view.getUint32(i * 8 + 4);
      if (!Number.isSafeInteger(offset) || offset % cs !== 0) throw corrupt(this.#path, `refcount table entry ${i} (${offset}) is invalid`);
      if (offset !== 0 && offset + cs > size) throw corrupt(this.#path, `refcount block ${i} (at ${offset}) lies past the end of the file`);
      this.#table[i] = offset;
    }
    this.#fileEnd = Math.ceil(size / cs) * cs;
    // Never hand out a cluster some metadata already claims but the file does not yet hold.
    for (const o of this.#table) if (o > 0) this.#fileEnd = Math.max(this.#fileEnd, o + cs);
  }

  async #block(index: number, create: boolean): Promise<RefBlock | undefined> {
    const cached = this.#blocks.get(index);
    if (cached) return cached;
    const cs = this.#cs;
    if (index >= this.#table.length || this.#table[index] === 0) {
      if (!create) return undefined;
      // A new refcount block, placed at the end; it may have to count itself.
      if (index >= this.#table.length) {
        await this.#growTable(index + 1);
        // Counting the new table's own clusters may have created this very block already.
        const made = this.#blocks.get(index);
        if (made) return made;
      }
      const offset = this.#fileEnd;
      this.#fileEnd += cs;
      const bytes = new Uint8Array(cs);
      const block: RefBlock = { offset, bytes, view: new DataView(bytes.buffer), dirty: true };
      this.#blocks.set(index, block);
      this.#table[index] = offset;
      this.tableDirty = true;
      await this.change(offset, +1);
      return block;
    }
    const offset = this.#table[index]!;
    if (offset + cs > this.fileSize()) throw new StorageError("STORAGE_TRUNCATED", `${this.#path}: refcount block ${index} lies past the end of the file`, { path: this.#path });
    const bytes = new Uint8Array(cs);
    await this.file.readExact(bytes, offset, `refcount block ${index}`);
    const block: RefBlock = { offset, bytes, view: new DataView(bytes.buffer), dirty: false };
    this.#blocks.set(index, block);
    return block;
  }

  /** Makes the table hold at least `entries` entries: a new, larger table at the end of the file. */
  async #growTable(entries: number): Promise<void> {
    const h = this.header;
    const cs = this.#cs;
    const oldOffset = h.refcountTableOffset;
    const oldClusters = h.refcountTableClusters;
    const clusters = Math.max(Math.ceil((entries * 8) / cs), oldClusters * 2, 1);
    if (clusters * cs > MAX_REFTABLE_BYTES) throw new StorageError("STORAGE_UNSUPPORTED", `${this.#path}: the refcount table would outgrow qemu's limit`, { path: this.#path });
    const offset = this.#fileEnd;
    this.#fileEnd += clusters * cs;
    while (this.#table.length < (clusters * cs) / 8) this.#table.push(0);
    h.refcountTableOffset = offset;
    h.refcountTableClusters = clusters;
    this.tableDirty = true;
    this.headerDirty = true;
    for (let c = 0; c < clusters; c++) await this.change(offset + c * cs, +1);
    for (let c = 0; c < oldClusters; c++) await this.change(oldOffset + c * cs, -1);
  }

  #get(block: RefBlock, i: number): number {
    const v = block.view;
    switch (this.bits) {
      case 1:
        return (block.bytes[i >> 3]! >> (i & 7)) & 1;
      case 2:
        return (block.bytes[i >> 2]! >> (2 * (i & 3))) & 3;
      case 4:
        return (block.bytes[i >> 1]! >> (4 * (i & 1))) & 15;
      case 8:
        return block.bytes[i]!;
      case 16:
        return v.getUint16(i * 2);
      case 32:
        return v.getUint32(i * 4);
      default: {
        const hi = v.getUint32(i * 8);
        const lo = v.getUint32(i * 8 + 4);
        return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * TWO32 + lo;
      }
    }
  }

  #set(block: RefBlock, i: number, value: number): void {
    const b = block.bytes;
    switch (this.bits) {
      case 1:
        b[i >> 3] = (b[i >> 3]! & ~(1 << (i & 7))) | (value << (i & 7));
        break;
      case 2:
        b[i >> 2] = (b[i >> 2]! & ~(3 << (2 * (i & 3)))) | (value << (2 * (i & 3)));
        break;
      case 4:
        b[i >> 1] = (b[i >> 1]! & ~(15 << (4 * (i & 1)))) | (value << (4 * (i & 1)));
        break;
      case 8:
        b[i] = value;
        break;
      case 16:
        block.view.setUint16(i * 2, value);
        break;
      case 32:
        block.view.setUint32(i * 4, value);
        break;
      default:
        block.view.setUint32(i * 8, Math.floor(value / TWO32));
        block.view.setUint32(i * 8 + 4, value % TWO32);
    }
    block.dirty = true;
  }

  /** The refcount of the cluster at `host`. */
  async refcount(host: number): Promise<number> {
    const cluster = Math.floor(host / this.#cs);
    const block = await this.#block(Math.floor(cluster / this.#perBlock), false);
    return block ? this.#get(block, cluster % this.#perBlock) : 0;
  }

  /** Adds `delta` to the refcount of the cluster at `host`, within 0 and the width's maximum. */
  async change(host: number, delta: number): Promise<void> {
    const cluster = Math.floor(host / this.#cs);
    const block = await this.#block(Math.floor(cluster / this.#perBlock), delta > 0);
    if (!block) throw corrupt(this.#path, `cluster at ${host} has no refcount block`);
    const i = cluster % this.#perBlock;
    const value = this.#get(block, i) + delta;
    if (value < 0) throw corrupt(this.#path, `refcount of the cluster at ${host} would drop below zero`);
    if (value > this.max) throw new StorageError("STORAGE_UNSUPPORTED", `${this.#path}: refcount of the cluster at ${host} would exceed the ${this.bits}-bit maximum`, { path: this.#path });
    this.#set(block, i, value);
  }

  /**
   * One new cluster at the end of the file when its refcount block is already in memory (no I/O,
   * no promise: the hot path of a long write), or undefined to take `allocate`.
   */
  allocateCached(): number | undefined {
    const offset = this.#fileEnd;
    const cluster = offset / this.#cs;
    const block = this.#blocks.get(Math.floor(cluster / this.#perBlock));
    if (!block) return undefined;
    const i = cluster % this.#perBlock;
    if (this.#get(block, i) !== 0) return undefined; // a damaged block claims it already: the general path decides
    this.#set(block, i, 1);
    this.#fileEnd += this.#cs;
    return offset;
  }

  /** `n` contiguous new clusters at the end of the file, each with refcount 1. */
  async allocate(n: number): Promise<number> {
    const offset = this.#fileEnd;
    this.#fileEnd += n * this.#cs;
    for (let c = 0; c < n; c++) await this.change(offset + c * this.#cs, +1);
    return offset;
  }

  /** The blocks changed since they were last written. */
  dirtyBlocks(): RefBlock[] {
    return [...this.#blocks.values()].filter((b) => b.dirty);
  }

  /** Bytes of changed blocks held in memory. */
  dirtyBytes(): number {
    let n = 0;
    for (const b of this.#blocks.values()) if (b.dirty) n += b.bytes.length;
    return n;
  }

  /** The table as it lies on disk. */
  tableBytes(): Uint8Array {
    const bytes = new Uint8Array(this.header.refcountTableClusters * this.#cs);
    const view = new DataView(bytes.buffer);
    this.#table.forEach((o, i) => {
      if (i * 8 < bytes.length) {
        view.setUint32(i * 8, Math.floor(o / TWO32));
        view.setUint32(i * 8 + 4, o % TWO32);
      }
    });
    return bytes;
  }
}
