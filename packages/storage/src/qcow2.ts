// qcow2 v2/v3: read (L1/L2, zero clusters, compressed zlib/zstd clusters, extended L2 subclusters,
// backing files, external data files) and write (cluster allocation with correct refcounts, so
// `qemu-img check` finds neither errors nor leaks, and metadata written in a crash-safe order).
// The L2 cache, the refcount allocator and write planning live in qcow2-l2-cache.ts,
// qcow2-refcounts.ts and qcow2-write-plan.ts. Reference: qemu's docs/interop/qcow2.txt.
import { checkRange, type BlockDevice, type Extent, type ExtentKind, type FormatDetails, type FormatDriver, type OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { backingRuns, type HostMapped, type HostRun } from "./host-runs.js";
import type { ImageFile } from "./image-file.js";
import { BadCompressedData, decompressCluster } from "./qcow2-compress.js";
import {
  COMPAT_LAZY_REFCOUNTS,
  COMPRESSION_ZSTD,
  diskFormatFromQemuName,
  headerBytesNeeded,
  INCOMPAT_CORRUPT,
  INCOMPAT_DIRTY,
  parseQcow2Header,
  probeQcow2,
  type Qcow2Header,
} from "./qcow2-format.js";
import { L2Cache, type L2Table } from "./qcow2-l2-cache.js";
import { Qcow2Refcounts } from "./qcow2-refcounts.js";
import { hostOffset, readDataEntry, WritePlan, writeCompressedEntry, writeDataEntry } from "./qcow2-write-plan.js";

export const qcow2Driver: FormatDriver = {
  format: "qcow2",
  probe: (head) => probeQcow2(head),
  open: (file, context) => Qcow2Device.open(file, context),
};

const TWO32 = 4294967296;
/** Bytes of L2 tables kept in memory per open image (qemu's default cache covers 32 MiB of L2 too). */
const L2_CACHE_BYTES = 32 * 1024 * 1024;
/** Decompressed clusters kept, so small reads inside one compressed cluster do not decode it again. */
const COMPRESSED_CACHE_ENTRIES = 8;
/** How much dirty metadata a writer keeps before writing it out on its own. */
const MAX_DIRTY_METADATA_BYTES = 64 * 1024 * 1024;

/** What one cluster (or subcluster) of the guest disk is, as the L2 table says. */
const enum Kind {
  Unallocated,
  Zero,
  Data,
  Compressed,
}

/**
 * What #classify finds, as runs of one kind: [kind, guest start, guest end, host] in four parallel
 * arrays, merged while they continue (data only where the host range continues too). One small
 * class for every caller keeps the hot loop monomorphic, so its optimized code lasts.
 */
class ClusterRuns {
  // Typed arrays: offsets are doubles past 2 GiB (and host offsets often are anyway), and a plain
  // array changing its element kind midway throws the optimized loop away.
  kinds = new Uint8Array(16);
  starts = new Float64Array(16);
  ends = new Float64Array(16);
  hosts = new Float64Array(16);
  length = 0;

  add(kind: Kind, start: number, end: number, host: number): void {
    const n = this.length - 1;
    if (n >= 0 && this.kinds[n] === kind && this.ends[n] === start && kind !== Kind.Compressed && (kind !== Kind.Data || this.hosts[n]! + (start - this.starts[n]!) === host)) {
      this.ends[n] = end;
      return;
    }
    if (this.length === this.kinds.length) this.#grow();
    this.kinds[this.length] = kind;
    this.starts[this.length] = start;
    this.ends[this.length] = end;
    this.hosts[this.length] = host;
    this.length++;
  }

  #grow(): void {
    const size = this.kinds.length * 2;
    const kinds = new Uint8Array(size);
    kinds.set(this.kinds);
    this.kinds = kinds;
    for (const key of ["starts", "ends", "hosts"] as const) {
      const grown = new Float64Array(size);
      grown.set(this[key]);
      this[key] = grown;
    }
  }
}

function corrupt(path: string, message: string): StorageError {
  return new StorageError("STORAGE_CORRUPT", `${path}: ${message}; the qcow2 image is damaged (qemu-img check may tell more)`, { path });
}

export class Qcow2Device implements BlockDevice, HostMapped {
  readonly format = "qcow2" as const;
  readonly size: number;
  readonly writable: boolean;
  readonly details: FormatDetails;

  readonly #path: string;
  readonly #file: ImageFile;
  /** Where data clusters live: the image itself, or its external data file. */
  readonly #data: ImageFile;
  /** In an external data file, host offset 0 is a real cluster (marked by the COPIED bit). */
  readonly #zeroHostValid: boolean;
  readonly #h: Qcow2Header;
  readonly #cs: number;
  readonly #cbits: number;
  readonly #coverage: number;
  readonly #l1: Uint8Array;
  readonly #l1view: DataView;
  #fileSize: number;
  readonly #backing: BlockDevice | undefined;
  #closed = false;

  readonly #l2: L2Cache;

  readonly #compressed = new Map<number, Promise<Uint8Array>>();

  // Writer state (writable only).
  #refcounts: Qcow2Refcounts | undefined;
  #l1Dirty = false;
  #autoclearCleared = false;
  #packCluster = -1;
  #packTail = 0;
  #writeChain: Promise<unknown> = Promise.resolve();
  /** Whether metadata writes are ordered by syncs (see #flushMetadata); not for outputs. */
  #ordered = true;
  /** Whether closing the device closes its file (not for outputs, whose owner renames them). */
  #ownsFile = true;
  /** A scratch image: nothing it writes is made durable (no barriers, no sync on flush). */
  #scratch = false;

  private constructor(file: ImageFile, data: ImageFile, header: Qcow2Header, l1: Uint8Array, backing: BlockDevice | undefined, writable: boolean) {
    this.#path = file.path;
    this.#file = file;
    this.#data = data;
    this.#zeroHostValid = data !== file;
    this.#h = header;
    this.#cs = header.clusterSize;
    this.#cbits = header.clusterBits;
    this.#coverage = header.l2Entries * header.clusterSize;
    this.#l1 = l1;
    this.#l1view = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
    this.#fileSize = file.size;
    this.#backing = backing;
    this.size = header.size;
    this.writable = writable;
    this.#l2 = new L2Cache(Math.max(L2_CACHE_BYTES, 4 * header.clusterSize));
    const backingFormat = diskFormatFromQemuName(header.backingFormat);
    this.details = {
      clusterSize: header.clusterSize,
      compat: header.version === 2 ? "0.10" : "1.1",
      ...(header.backingFile !== undefined ? { backingFile: header.backingFile } : {}),
      ...(backingFormat ? { backingFormat } : {}),
      specific: {
        compressionType: header.compressionType === COMPRESSION_ZSTD ? "zstd" : "zlib",
        lazyRefcounts: (header.compatible & COMPAT_LAZY_REFCOUNTS) !== 0,
        refcountBits: 2 ** header.refcountOrder,
        corrupt: (header.incompatible & INCOMPAT_CORRUPT) !== 0,
        extendedL2: header.extendedL2,
        dirty: (header.incompatible & INCOMPAT_DIRTY) !== 0,
        snapshots: header.nbSnapshots,
        ...(header.dataFile !== undefined ? { dataFile: header.dataFile, dataFileRaw: header.dataFileRaw } : {}),
      },
    };
  }

  /** Opens the qcow2 image in `file`, which the device owns from then on (closed on failure too). */
  static async open(file: ImageFile, context: OpenContext): Promise<Qcow2Device> {
    const path = file.path;
    let backing: BlockDevice | undefined;
    let data: ImageFile | undefined;
    try {
      const fileSize = file.size;
      // One read covers the header and its extensions in all but odd images; those read again.
      const probe = await file.readUpTo(Math.min(fileSize, 65536), 0);
      const first = probe.subarray(0, 32);
      const needed = Math.max(first.length, headerBytesNeeded(first, fileSize));
      const headerBytes = needed <= probe.length ? probe.subarray(0, needed) : await file.readUpTo(needed, 0);
      const header = parseQcow2Header(headerBytes, fileSize, path);
      if (context.writable) checkWritable(header, path);
      if (context.writable && !file.writable) throw new StorageError("STORAGE_READ_ONLY", `${path} lies inside a device opened for reading; it cannot be written`, { path });
      const l1 = new Uint8Array(header.l1Size * 8);
      if (l1.length > 0) await file.readExact(l1, header.l1TableOffset, "L1 table");
      if (header.dataFile !== undefined) data = await context.openFile(header.dataFile, "external data file");
      if (header.backingFile !== undefined) {
        let format = undefined;
        if (header.backingFormat !== undefined) {
          format = diskFormatFromQemuName(header.backingFormat);
          if (!format) throw new StorageError("STORAGE_UNSUPPORTED", `${path}: its backing file is in format "${header.backingFormat}", which leapp does not read`, { path });
        }
        backing = await context.openBacking(header.backingFile, format);
      }
      const device = new Qcow2Device(file, data ?? file, header, l1, backing, context.writable);
      device.#scratch = context.scratch === true;
      if (context.writable) device.#refcounts = await Qcow2Refcounts.load(file, device.#h, () => device.#fileSize);
      return device;
    } catch (err) {
      await backing?.close().catch(() => {});
      await data?.close();
      await file.close();
      throw err;
    }
  }

  /**
   * A new, empty image being written as an output: `file` stays open when the device closes (its
   * owner syncs and renames it into place), and metadata goes out without syncs between its
   * phases — the file is not in place before it is complete, so no crash can leave it half-done.
   */
  static async openOutput(file: ImageFile): Promise<Qcow2Device> {
    const none = () => Promise.reject(new StorageError("STORAGE_CORRUPT", `${file.path}: a new image names no other file`, { path: file.path }));
    const device = await Qcow2Device.open(file, { writable: true, openBacking: none, openFile: none });
    device.#ordered = false;
    device.#ownsFile = false;
    return device;
  }

  /** Where the next cluster a writer takes lies: the end of the file (for appending outputs). */
  get appendOffset(): number {
    return this.#refcounts!.fileEnd;
  }

  /**
   * Records clusters someone wrote at the end of the file, one after another from `host` (which
   * was `appendOffset`), for guest clusters `clusters` in order — how a conversion's native copy
   * gives a new image its data: their refcounts, the file's length, then their L2 entries.
   */
  async adoptAppended(host: number, clusters: readonly number[]): Promise<void> {
    this.#checkOpen();
    await this.#serialize(async () => {
      const refcounts = this.#refcounts!;
      if (refcounts.fileEnd !== host) throw new Error(`appended clusters at ${host}, but the file's end is ${refcounts.fileEnd}`);
      if (clusters.length === 0) return;
      await refcounts.allocate(clusters.length);
      // A short last cluster ends the file mid-cluster: the file covers every cluster handed out.
      await this.#file.truncate(Math.max(this.#fileSize, host + clusters.length * this.#cs));
      this.#fileSize = this.#file.size;
      for (const [k, cluster] of clusters.entries()) {
        const table = await this.#l2ForWrite(Math.floor(cluster / this.#h.l2Entries));
        this.#setDataEntry(table, cluster, host + k * this.#cs);
      }
      if (this.#dirtyBytes() > MAX_DIRTY_METADATA_BYTES) await this.#flushMetadata();
    });
  }

  /** The path the image was opened from. */
  get path(): string {
    return this.#path;
  }

  get clusterSize(): number {
    return this.#cs;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StorageError("STORAGE_CLOSED", `${this.#path} is closed`, { path: this.#path });
  }

  // ---------------------------------------------------------------- L1 / L2

  /** The L2 table offset of L1 entry `i` (0: none). */
  #l2Offset(i: number): number {
    const hi = this.#l1view.getUint32(i * 8);
    const lo = this.#l1view.getUint32(i * 8 + 4);
    const offset = hostOffset(hi, lo);
    if (offset !== 0 && (lo & 0x1ff) !== 0) {
      // Bits 1-8 are reserved; qemu refuses an L2 offset with them set as unaligned.
      throw corrupt(this.#path, `L1 entry ${i} has reserved bits set`);
    }
    return offset;
  }

  #l1Copied(i: number): boolean {
    return (this.#l1view.getUint32(i * 8) & 0x80000000) !== 0;
  }

  /** The L2 table for L1 index `i`, or undefined if none is allocated. */
  #l2For(i: number): L2Table | undefined | Promise<L2Table | undefined> {
    const offset = this.#l2Offset(i);
    if (offset === 0) return undefined;
    return this.#l2.get(offset) ?? this.#loadL2(offset, i);
  }

  #loadL2(offset: number, i: number): Promise<L2Table> {
    return this.#l2.load(
      offset,
      async (bytes) => {
        if (offset % this.#cs !== 0) throw corrupt(this.#path, `L2 table ${i} at ${offset} is not cluster-aligned`);
        if (offset + this.#cs > this.#fileSize) throw new StorageError("STORAGE_TRUNCATED", `${this.#path}: L2 table ${i} (at ${offset}) lies past the end of the ${this.#fileSize}-byte file; the image is truncated or corrupt`, { path: this.#path });
        await this.#file.readExact(bytes, offset, `L2 table ${i}`);
      },
      this.#cs,
    );
  }

  /** Compressed descriptor → [host offset of the data, bytes to read]. */
  #compressedLocation(hi: number, lo: number): [number, number] {
    const shift = 62 - (this.#cbits - 8); // 49..61, always > 32
    const hiShift = shift - 32;
    const offset = (hi & ((1 << hiShift) - 1)) * TWO32 + (lo >>> 0);
    const sectors = ((hi >>> hiShift) & ((1 << (this.#cbits - 8)) - 1)) + 1;
    return [offset, sectors * 512 - (offset & 511)];
  }

  /**
   * Classifies `count` units (clusters, or subclusters with extended L2) starting at guest
   * cluster `cluster`, unit `sub`; appends each run to `runs`. Bounded by one
   * L2 table. `host` is the host offset of the first unit for data, the cluster index for compressed.
   */
  #classify(table: L2Table | undefined, guestOffset: number, end: number, runs: ClusterRuns): void {
    if (!table) runs.add(Kind.Unallocated, guestOffset, end, 0);
    else if (this.#h.extendedL2) this.#classifyExtended(table, guestOffset, end, runs);
    else this.#classifyStandard(table, guestOffset, end, runs);
  }

  #classifyStandard(table: L2Table, guestOffset: number, end: number, runs: ClusterRuns): void {
    const cs = this.#cs;
    const view = table.view;
    const entries = this.#h.l2Entries;
    for (let at = guestOffset; at < end; ) {
      const cluster = Math.floor(at / cs);
      const index = (cluster % entries) * 8;
      const clusterStart = cluster * cs;
      const clusterEnd = Math.min(end, clusterStart + cs);
      const hi = view.getUint32(index);
      const lo = view.getUint32(index + 4);
      const host = hostOffset(hi, lo);
      if (hi & 0x40000000) runs.add(Kind.Compressed, at, clusterEnd, cluster);
      else if (lo & 1) runs.add(Kind.Zero, at, clusterEnd, 0);
      else if (host === 0 && !(this.#zeroHostValid && hi & 0x80000000)) runs.add(Kind.Unallocated, at, clusterEnd, 0);
      else if (host % cs !== 0) throw corrupt(this.#path, `cluster ${cluster} points to unaligned offset ${host}`);
      else runs.add(Kind.Data, at, clusterEnd, host + (at - clusterStart));
      at = clusterEnd;
    }
  }

  /** Extended L2: 32 subclusters per cluster, each allocated, zero, or unallocated. */
  #classifyExtended(table: L2Table, guestOffset: number, end: number, runs: ClusterRuns): void {
    const cs = this.#cs;
    const view = table.view;
    const entries = this.#h.l2Entries;
    const sub = cs / 32;
    for (let at = guestOffset; at < end; ) {
      const cluster = Math.floor(at / cs);
      const index = (cluster % entries) * 16;
      const clusterStart = cluster * cs;
      const clusterEnd = Math.min(end, clusterStart + cs);
      const hi = view.getUint32(index);
      const lo = view.getUint32(index + 4);
      if (hi & 0x40000000) {
        runs.add(Kind.Compressed, at, clusterEnd, cluster);
        at = clusterEnd;
        continue;
      }
      const host = hostOffset(hi, lo);
      const zeroBits = view.getUint32(index + 8);
      const allocBits = view.getUint32(index + 12);
      if ((zeroBits & allocBits) !== 0) throw corrupt(this.#path, `cluster ${cluster} has subclusters marked both allocated and zero`);
      if (host === 0 && allocBits !== 0 && !(this.#zeroHostValid && hi & 0x80000000)) throw corrupt(this.#path, `cluster ${cluster} has allocated subclusters but no host cluster`);
      if (host !== 0 && host % cs !== 0) throw corrupt(this.#path, `cluster ${cluster} points to unaligned offset ${host}`);
      while (at < clusterEnd) {
        const s = Math.floor((at - clusterStart) / sub);
        const subEnd = Math.min(clusterEnd, clusterStart + (s + 1) * sub);
        const bit = 1 << s;
        if (allocBits & bit) runs.add(Kind.Data, at, subEnd, host + (at - clusterStart));
        else if (zeroBits & bit) runs.add(Kind.Zero, at, subEnd, 0);
        else runs.add(Kind.Unallocated, at, subEnd, 0);
        at = subEnd;
      }
    }
  }

  // ---------------------------------------------------------------- read

  async read(buffer: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    checkRange(this.size, position, buffer.length);
    await this.#read(buffer, position);
  }

  async #read(buffer: Uint8Array, position: number): Promise<void> {
    const end = position + buffer.length;
    // Plan the pieces first, then run them all concurrently.
    const runs = new ClusterRuns();
    let at = position;
    while (at < end) {
      const i = Math.floor(at / this.#coverage);
      const tableEnd = Math.min(end, (i + 1) * this.#coverage);
      const t = this.#l2For(i);
      const table = t instanceof Promise ? await t : t;
      this.#classify(table, at, tableEnd, runs);
      at = tableEnd;
    }
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < runs.length; i++) {
      const start = runs.starts[i]!;
      const host = runs.hosts[i]!;
      const out = buffer.subarray(start - position, runs.ends[i]! - position);
      switch (runs.kinds[i]) {
        case Kind.Zero:
          out.fill(0);
          break;
        case Kind.Unallocated:
          if (this.#backing) jobs.push(this.#readBacking(out, start));
          else out.fill(0);
          break;
        case Kind.Data:
          jobs.push(this.#readData(out, host));
          break;
        case Kind.Compressed:
          if (this.#data !== this.#file) throw corrupt(this.#path, "a compressed cluster in an image with an external data file");
          jobs.push(this.#readCompressed(out, start, host));
          break;
      }
    }
    if (jobs.length === 1) await jobs[0];
    else if (jobs.length > 1) await settleAll(jobs);
  }

  /** Reads guest data from host clusters; bytes past the end of the file read as zeros, as in qemu. */
  async #readData(out: Uint8Array, host: number): Promise<void> {
    // A cluster whose first write is still landing reads once it has (its table entry already
    // points there, so reading now would see neither the old content nor the new).
    if (this.#filling.size > 0) {
      for (let c = Math.floor(host / this.#cs) * this.#cs; c < host + out.length; c += this.#cs) {
        const filling = this.#filling.get(c);
        if (filling) await filling.catch(() => {});
      }
    }
    const data = this.#data;
    const fileSize = data === this.#file ? this.#fileSize : data.size;
    if (host >= fileSize) {
      // An external data file may be shorter than the clusters it maps (qemu reads zeros there).
      if (data !== this.#file) return void out.fill(0);
      throw corrupt(this.#path, `a data cluster at ${host} lies past the end of the ${fileSize}-byte file`);
    }
    const inFile = Math.min(out.length, fileSize - host);
    let done = 0;
    while (done < inFile) {
      const n = await data.read(out, done, inFile - done, host + done);
      if (n === 0) break;
      done += n;
    }
    if (done < out.length) out.fill(0, done);
  }

  async #readBacking(out: Uint8Array, guest: number): Promise<void> {
    const backing = this.#backing!;
    const inBacking = Math.max(0, Math.min(out.length, backing.size - guest));
    if (inBacking > 0) await backing.read(out.subarray(0, inBacking), guest);
    if (inBacking < out.length) out.fill(0, inBacking);
  }

  async #readCompressed(out: Uint8Array, guest: number, cluster: number): Promise<void> {
    const data = await this.#decompressed(cluster);
    const from = guest - cluster * this.#cs;
    out.set(data.subarray(from, from + out.length));
  }

  /** The decoded content of compressed guest cluster `cluster` (small LRU cache of recent ones). */
  #decompressed(cluster: number): Promise<Uint8Array> {
    const cached = this.#compressed.get(cluster);
    if (cached) {
      this.#compressed.delete(cluster);
      this.#compressed.set(cluster, cached);
      return cached;
    }
    const promise = (async () => {
      const t = this.#l2For(Math.floor(cluster / this.#h.l2Entries));
      const table = t instanceof Promise ? await t : t;
      if (!table) throw new Error("compressed cluster without an L2 table");
      const index = (cluster % this.#h.l2Entries) * this.#h.l2EntryBytes;
      const [offset, length] = this.#compressedLocation(table.view.getUint32(index), table.view.getUint32(index + 4));
      if (offset >= this.#fileSize) throw corrupt(this.#path, `compressed cluster ${cluster} at ${offset} lies past the end of the file`);
      const input = new Uint8Array(Math.min(length, this.#fileSize - offset));
      let done = 0;
      while (done < input.length) {
        const n = await this.#file.read(input, done, input.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      try {
        return await decompressCluster(input.subarray(0, done), this.#cs, this.#h.compressionType);
      } catch (err) {
        if (err instanceof BadCompressedData) throw corrupt(this.#path, `compressed cluster ${cluster} (at ${offset}) cannot be decoded: ${err.message}`);
        throw err;
      }
    })();
    this.#compressed.set(cluster, promise);
    promise.catch(() => this.#compressed.delete(cluster));
    while (this.#compressed.size > COMPRESSED_CACHE_ENTRIES) this.#compressed.delete(this.#compressed.keys().next().value!);
    return promise;
  }

  // ---------------------------------------------------------------- allocation map

  async *extents(start = 0, length = this.size - start): AsyncIterable<Extent> {
    this.#checkOpen();
    checkRange(this.size, start, length);
    const end = start + length;
    let pending: Extent | undefined;
    const done: Extent[] = [];
    const add = (offset: number, len: number, kind: ExtentKind) => {
      if (len <= 0) return;
      if (pending && pending.kind === kind && pending.offset + pending.length === offset) pending.length += len;
      else {
        if (pending) done.push(pending);
        pending = { offset, length: len, kind };
      }
    };
    let at = start;
    while (at < end) {
      const i = Math.floor(at / this.#coverage);
      const tableEnd = Math.min(end, (i + 1) * this.#coverage);
      const t = this.#l2For(i);
      const table = t instanceof Promise ? await t : t;
      if (!this.#backing) {
        const runs = new ClusterRuns();
        this.#classify(table, at, tableEnd, runs);
        for (let r = 0; r < runs.length; r++) {
          const kind = runs.kinds[r];
          add(runs.starts[r]!, runs.ends[r]! - runs.starts[r]!, kind === Kind.Zero ? "zero" : kind === Kind.Unallocated ? "unallocated" : "data");
        }
      } else {
        for await (const e of this.#withBacking(table, at, tableEnd)) add(e.offset, e.length, e.kind);
      }
      for (const e of done) yield e;
      done.length = 0;
      at = tableEnd;
    }
    if (pending) yield pending;
  }

  /**
   * Where [start, start+length) lies: data clusters in the image's (or data file's) host file,
   * unallocated ones in the backing chain, compressed ones and anything past the file's end only
   * through `read()`.
   */
  async *hostRuns(start: number, length: number): AsyncIterable<HostRun> {
    this.#checkOpen();
    checkRange(this.size, start, length);
    const end = start + length;
    const fd = this.#data.fd;
    const dataSize = this.#data === this.#file ? this.#fileSize : this.#data.size;
    for (let at = start; at < end; ) {
      const i = Math.floor(at / this.#coverage);
      const tableEnd = Math.min(end, (i + 1) * this.#coverage);
      const t = this.#l2For(i);
      const runs = new ClusterRuns();
      this.#classify(t instanceof Promise ? await t : t, at, tableEnd, runs);
      for (let r = 0; r < runs.length; r++) {
        const offset = runs.starts[r]!;
        const runLength = runs.ends[r]! - offset;
        const host = runs.hosts[r]!;
        switch (runs.kinds[r]) {
          case Kind.Data:
            if (fd !== undefined && host + runLength <= dataSize) yield { kind: "file", offset, length: runLength, fd, fileOffset: host };
            else yield { kind: "other", offset, length: runLength };
            break;
          case Kind.Unallocated:
            yield* backingRuns(this.#backing, offset, offset + runLength);
            break;
          case Kind.Zero:
            yield { kind: "zero", offset, length: runLength };
            break;
          default:
            yield { kind: "other", offset, length: runLength };
        }
      }
      at = tableEnd;
    }
  }

  /** The map of [start, end) inside one L2 table, with unallocated ranges filled in from the backing file. */
  async *#withBacking(table: L2Table | undefined, start: number, end: number): AsyncIterable<Extent> {
    const classified = new ClusterRuns();
    this.#classify(table, start, end, classified);
    // Unallocated runs are the backing file's to fill; zeros and data stay ours.
    const runs: { kind: ExtentKind | "backing"; start: number; end: number }[] = [];
    for (let r = 0; r < classified.length; r++) {
      const kind = classified.kinds[r];
      const k: ExtentKind | "backing" = kind === Kind.Unallocated ? "backing" : kind === Kind.Zero ? "zero" : "data";
      const last = runs[runs.length - 1];
      if (last && last.kind === k && last.end === classified.starts[r]) last.end = classified.ends[r]!;
      else runs.push({ kind: k, start: classified.starts[r]!, end: classified.ends[r]! });
    }
    const backing = this.#backing!;
    for (const run of runs) {
      if (run.kind !== "backing") {
        yield { offset: run.start, length: run.end - run.start, kind: run.kind };
        continue;
      }
      const inBackingEnd = Math.min(run.end, Math.max(run.start, backing.size));
      if (inBackingEnd > run.start) yield* backing.extents(run.start, inBackingEnd - run.start);
      if (inBackingEnd < run.end) yield { offset: inBackingEnd, length: run.end - inBackingEnd, kind: "unallocated" };
    }
  }

  // ---------------------------------------------------------------- write

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#writeChain.then(task, task);
    this.#writeChain = result.catch(() => {});
    return result;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#checkOpen();
    if (!this.writable) throw new StorageError("STORAGE_READ_ONLY", `${this.#path} was opened read-only; open it with writable: true`, { path: this.#path });
    checkRange(this.size, position, data.length);
    if (data.length === 0) return;
    // Cluster allocation and table updates run one write at a time; the data itself is written
    // after the lock is released, so a copy keeps several writes in flight.
    const { io } = await this.#serialize(() => this.#write(data, position));
    await io;
  }

  /** Updates the tables for a write and starts its data I/O, returned unawaited as `io`. */
  async #write(data: Uint8Array, position: number): Promise<{ io: Promise<void> }> {
    await this.#clearAutoclear();
    const end = position + data.length;
    const plan = new WritePlan();
    // The L2 tables this write changes stay cached until it is done: a concurrent read that loads
    // another table must not evict one (still clean) that this write is about to dirty.
    this.#l2.unpinAll();
    // Most clusters of a long write take the small synchronous path; the rest, one at a time, the
    // general one. (One big async function here cost TurboFan ~80 ms of CPU in every conversion.)
    for (let at = position; at < end; ) {
      at = this.#planCachedClusters(plan, data, position, at, end);
      if (at < end) at = await this.#planCluster(plan, data, position, at, end);
    }
    this.#l2.unpinAll();
    const writes = plan.writes();
    // The clusters are ours from here on, so the file counts as that long before the data lands.
    for (const w of writes) this.#fileSize = Math.max(this.#fileSize, w.host + w.length);
    const start = () => Promise.all(writes.map((w) => this.#file.write(w.parts, w.host)));
    const io = this.#track(plan.waitFor.size > 0 ? Promise.allSettled(plan.waitFor).then(start) : start());
    for (const host of plan.filled) this.#filling.set(host, io);
    const forget = () => {
      for (const host of plan.filled) if (this.#filling.get(host) === io) this.#filling.delete(host);
    };
    io.then(forget, forget);
    if (this.#dirtyBytes() > MAX_DIRTY_METADATA_BYTES) await this.#flushMetadata();
    return { io };
  }

  /**
   * Plans clusters from `at` on while nothing needs I/O: the L2 table and refcount block are
   * cached, and each cluster is written in place or filled whole. Returns where it stopped.
   */
  #planCachedClusters(plan: WritePlan, data: Uint8Array, position: number, at: number, end: number): number {
    const cs = this.#cs;
    const entries = this.#h.l2Entries;
    let tableIndex = -1;
    let table: L2Table | undefined;
    while (at < end) {
      const cluster = Math.floor(at / cs);
      if (Math.floor(cluster / entries) !== tableIndex) {
        tableIndex = Math.floor(cluster / entries);
        const offset = tableIndex < this.#h.l1Size ? this.#l2Offset(tableIndex) : 0;
        table = offset !== 0 && this.#l1Copied(tableIndex) ? this.#l2.peek(offset) : undefined;
        if (!table) return at;
        this.#l2.pin(table);
      }
      const clusterStart = cluster * cs;
      const stop = Math.min(end, clusterStart + cs);
      const entry = this.#dataEntry(table!, cluster);
      if (entry.inPlace) {
        this.#planInPlace(plan, entry.host, data, position, at, stop, clusterStart);
      } else {
        if (entry.compressed || at !== clusterStart || stop !== clusterStart + cs) return at;
        let target = entry.host;
        if (!(entry.host !== 0 && entry.copied)) {
          // A shared cluster's refcount must drop (I/O maybe): the general path does that.
          if (entry.host !== 0) return at;
          const allocated = this.#refcounts!.allocateCached();
          if (allocated === undefined) return at;
          target = allocated;
        }
        this.#setDataEntry(table!, cluster, target);
        plan.filled.push(target);
        plan.queue(target, data, at - position, stop - position);
      }
      at = stop;
    }
    return at;
  }

  /** Plans the one cluster at `at`, whatever it needs: a new L2 table, copy-on-write, refcounts. */
  async #planCluster(plan: WritePlan, data: Uint8Array, position: number, at: number, end: number): Promise<number> {
    const cs = this.#cs;
    const cluster = Math.floor(at / cs);
    const clusterStart = cluster * cs;
    const clusterEnd = clusterStart + cs;
    const stop = Math.min(end, clusterEnd);
    const table = await this.#l2ForWrite(Math.floor(cluster / this.#h.l2Entries));
    this.#l2.pin(table);
    const { hi, lo, host, compressed, copied, inPlace } = this.#dataEntry(table, cluster);
    if (inPlace) {
      this.#planInPlace(plan, host, data, position, at, stop, clusterStart);
      return stop;
    }
    // Allocate a new cluster (or fill a preallocated one); what the write does not cover keeps
    // its current content (backing file, zeros, decompressed data): copy-on-write.
    let content: Uint8Array | undefined;
    if (at !== clusterStart || stop !== clusterEnd) {
      content = new Uint8Array(cs);
      const readEnd = Math.min(clusterEnd, this.size);
      await this.#read(content.subarray(0, readEnd - clusterStart), clusterStart);
      content.set(data.subarray(at - position, stop - position), at - clusterStart);
    }
    let target: number;
    if (!compressed && host !== 0 && copied) target = host; // preallocated zero cluster or partly allocated subclusters
    else {
      target = await this.#refcounts!.allocate(1);
      if (compressed) await this.#releaseCompressed(hi, lo);
      else if (host !== 0) await this.#refcounts!.change(host, -1);
    }
    this.#setDataEntry(table, cluster, target);
    plan.filled.push(target);
    if (content) plan.queue(target, content, 0, cs);
    else plan.queue(target, data, at - position, stop - position);
    return stop;
  }

  /** What the L2 entry of `cluster` says, checked: a lying entry must not send a write outside the file. */
  #dataEntry(table: L2Table, cluster: number): { hi: number; lo: number; host: number; compressed: boolean; copied: boolean; inPlace: boolean } {
    const { hi, lo, host, compressed, copied, fullyAllocated } = readDataEntry(table.view, (cluster % this.#h.l2Entries) * this.#h.l2EntryBytes, this.#h.extendedL2);
    if (!compressed && host !== 0 && (host % this.#cs !== 0 || host + this.#cs > this.#fileSize)) {
      throw corrupt(this.#path, `the L2 entry of guest cluster ${cluster} points to ${host}, outside the file or unaligned`);
    }
    // An allocated cluster only this image uses is written in place.
    return { hi, lo, host, compressed, copied, inPlace: !compressed && host !== 0 && copied && fullyAllocated };
  }

  /** A write into an allocated cluster — after the write that filled it has landed, or that write's whole-cluster copy could cover these bytes with old ones. */
  #planInPlace(plan: WritePlan, host: number, data: Uint8Array, position: number, at: number, stop: number, clusterStart: number): void {
    const filling = this.#filling.get(host);
    if (filling) plan.waitFor.add(filling);
    plan.queue(host + (at - clusterStart), data, at - position, stop - position);
  }

  /** Points guest `cluster` at the (wholly allocated, unshared) host cluster `target`. */
  #setDataEntry(table: L2Table, cluster: number, target: number): void {
    writeDataEntry(table.view, (cluster % this.#h.l2Entries) * this.#h.l2EntryBytes, this.#h.extendedL2, target);
    table.dirty = true;
    this.#compressed.delete(cluster);
  }

  /** Host clusters whose first, whole-cluster write is still in flight, and that write. */
  #filling = new Map<number, Promise<void>>();

  /** Data writes still in flight; flush and close wait for them. */
  #inflight = new Set<Promise<unknown>>();

  #track(io: Promise<unknown>): Promise<void> {
    const done = io.then(() => {});
    this.#inflight.add(done);
    done.then(
      () => this.#inflight.delete(done),
      () => this.#inflight.delete(done),
    );
    return done;
  }

  async #settleInflight(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /**
   * Writes one already-compressed cluster (raw deflate of exactly one cluster, shorter than a
   * cluster) for guest cluster `cluster`, packing compressed data into shared host clusters the
   * way qemu does. Used by `convertDisk --compress`; the cluster should be unallocated.
   */
  async writeCompressedCluster(cluster: number, compressed: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (!this.writable) throw new StorageError("STORAGE_READ_ONLY", `${this.#path} was opened read-only`, { path: this.#path });
    if (this.#h.compressionType !== 0) throw new StorageError("STORAGE_UNSUPPORTED", `${this.#path}: leapp writes zlib-compressed clusters only`, { path: this.#path });
    checkRange(Math.ceil(this.size / this.#cs), cluster, 1);
    if (compressed.length >= this.#cs) throw new RangeError("compressed cluster is not smaller than a cluster");
    await this.#serialize(async () => {
      await this.#clearAutoclear();
      const cs = this.#cs;
      const table = await this.#l2ForWrite(Math.floor(cluster / this.#h.l2Entries));
      // Dirty from now on (it will be changed below), so that no concurrent read evicts it meanwhile.
      table.dirty = true;
      const index = (cluster % this.#h.l2Entries) * this.#h.l2EntryBytes;
      const hi = table.view.getUint32(index);
      const lo = table.view.getUint32(index + 4);
      let offset: number;
      const packEnd = this.#packCluster + cs;
      const refcounts = this.#refcounts!;
      if (this.#packCluster >= 0 && this.#packTail + compressed.length <= packEnd && (await refcounts.refcount(this.#packCluster)) < refcounts.max) {
        offset = this.#packTail;
        await refcounts.change(this.#packCluster, +1);
      } else {
        this.#packCluster = await refcounts.allocate(1);
        offset = this.#packCluster;
      }
      this.#packTail = offset + compressed.length;
      // Release whatever the cluster held before.
      if (hi & 0x40000000) await this.#releaseCompressed(hi, lo);
      else {
        const host = hostOffset(hi, lo);
        if (host !== 0) await refcounts.change(host, -1);
      }
      writeCompressedEntry(table.view, index, this.#h.extendedL2, this.#cbits, offset, compressed.length);
      table.dirty = true;
      this.#compressed.delete(cluster);
      await this.#file.write([compressed], offset);
      this.#fileSize = Math.max(this.#fileSize, offset + compressed.length);
      if (this.#dirtyBytes() > MAX_DIRTY_METADATA_BYTES) await this.#flushMetadata();
    });
  }

  /** Drops the references a compressed cluster holds on its host clusters. */
  async #releaseCompressed(hi: number, lo: number): Promise<void> {
    const [offset, length] = this.#compressedLocation(hi, lo);
    // qemu counts the whole 512-byte sectors the data touches.
    const sectorStart = offset - (offset % 512);
    const first = Math.floor(sectorStart / this.#cs);
    const last = Math.floor((sectorStart + Math.ceil((length + (offset % 512)) / 512) * 512 - 1) / this.#cs);
    for (let c = first; c <= last; c++) await this.#refcounts!.change(c * this.#cs, -1);
  }

  /** The L2 table for L1 index `i`, allocating an empty one if needed; refuses shared tables. */
  async #l2ForWrite(i: number): Promise<L2Table> {
    if (i >= this.#h.l1Size) throw new Error(`L1 index ${i} out of range`);
    const t = this.#l2For(i);
    const existing = t instanceof Promise ? await t : t;
    if (existing) {
      if (!this.#l1Copied(i)) {
        throw new StorageError("STORAGE_UNSUPPORTED", `${this.#path}: L2 table ${i} is shared with a snapshot; leapp does not write to images with internal snapshots`, { path: this.#path });
      }
      return existing;
    }
    const offset = await this.#refcounts!.allocate(1);
    const bytes = new Uint8Array(this.#cs);
    const table: L2Table = { offset, bytes, view: new DataView(bytes.buffer), dirty: true };
    this.#l2.add(table);
    this.#l1view.setUint32(i * 8, 0x80000000 | Math.floor(offset / TWO32));
    this.#l1view.setUint32(i * 8 + 4, offset % TWO32);
    this.#l1Dirty = true;
    return table;
  }

  async #clearAutoclear(): Promise<void> {
    // Autoclear features (e.g. persistent bitmaps) become invalid once someone who does not
    // maintain them writes; clearing the bits is how qcow2 says so.
    if (this.#autoclearCleared || this.#h.version !== 3 || this.#h.autoclear === 0) return;
    this.#autoclearCleared = true;
    this.#h.autoclear = 0;
    await this.#file.write([new Uint8Array(8)], 88);
    await this.#barrier();
  }

  #dirtyBytes(): number {
    return this.#l2.dirtyBytes() + this.#refcounts!.dirtyBytes();
  }

  /**
   * Writes dirty metadata in an order no crash can turn into corruption, each step landing
   * (fdatasync) before the next one starts, as qemu orders its caches:
   *   1. the data of every write, and the refcount blocks counting the clusters it went to;
   *   2. a new refcount table, then the header pointing to it (only when the table moved);
   *   3. the file's new length, the L2 tables, then the L1 table: they point only to counted
   *      clusters whose data has landed.
   * A crash between steps leaks clusters (counted, unused: `qemu-img check -r leaks` reclaims
   * them) but never leaves a table pointing at something unwritten or uncounted. A table is marked
   * clean only once its write has landed. Outputs not yet in place skip the syncs (`#ordered`).
   */
  async #flushMetadata(): Promise<void> {
    if (!this.writable) return;
    const file = this.#file;
    const refcounts = this.#refcounts!;
    await this.#settleInflight();
    const refBlocks = refcounts.dirtyBlocks();
    await settleAll(refBlocks.map((b) => file.write([b.bytes], b.offset)));
    for (const b of refBlocks) b.dirty = false;
    if (refBlocks.length > 0 || refcounts.tableDirty) await this.#barrier();
    if (refcounts.tableDirty) {
      await file.write([refcounts.tableBytes()], this.#h.refcountTableOffset);
      refcounts.tableDirty = false;
      await this.#barrier();
    }
    if (refcounts.headerDirty) {
      const bytes = new Uint8Array(12);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, Math.floor(this.#h.refcountTableOffset / TWO32));
      view.setUint32(4, this.#h.refcountTableOffset % TWO32);
      view.setUint32(8, this.#h.refcountTableClusters);
      await file.write([bytes], 48);
      refcounts.headerDirty = false;
      await this.#barrier();
    }
    // Every cluster handed out lies wholly inside the file before any table points to it.
    if (refcounts.fileEnd > this.#fileSize) {
      await file.truncate(refcounts.fileEnd);
      this.#fileSize = refcounts.fileEnd;
    }
    const tables = this.#l2.dirtyTables();
    await settleAll(tables.map((t) => file.write([t.bytes], t.offset)));
    for (const t of tables) t.dirty = false;
    // A new L2 table is a never-used cluster, which reads as an empty table until its write
    // lands: the L1 entry pointing to it may go out with it.
    if (this.#l1Dirty) {
      await file.write([this.#l1], this.#h.l1TableOffset);
      this.#l1Dirty = false;
    }
    if (tables.length > 0) await this.#barrier();
    // Drop clean tables the cache no longer has room for.
    this.#l2.trim();
  }

  /** Makes what was written so far land before anything written next (a no-op for outputs). */
  async #barrier(): Promise<void> {
    if (this.#ordered && !this.#scratch) await this.#file.datasync();
  }

  async flush(): Promise<void> {
    this.#checkOpen();
    if (!this.writable) return;
    await this.#serialize(async () => {
      await this.#flushMetadata();
      if (!this.#scratch) await this.#file.datasync();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.writable) {
        await this.#serialize(() => this.#flushMetadata());
      }
    } finally {
      this.#closed = true;
      if (this.#ownsFile) await this.#file.close();
      if (this.#data !== this.#file) await this.#data.close();
      await this.#backing?.close();
    }
  }
}

/** Opening for writing refuses what leapp cannot keep consistent. */
function checkWritable(h: Qcow2Header, path: string): void {
  if (h.incompatible & INCOMPAT_CORRUPT) throw new StorageError("STORAGE_UNSUPPORTED", `${path} is marked corrupt; it can only be opened read-only (repair it with qemu-img check -r all)`, { path });
  if (h.incompatible & INCOMPAT_DIRTY) throw new StorageError("STORAGE_UNSUPPORTED", `${path} has the dirty flag set (its refcounts may be stale); repair it with qemu-img check -r all before writing`, { path });
  if (h.dataFile !== undefined) throw new StorageError("STORAGE_UNSUPPORTED", `${path} keeps its data in an external data file; leapp reads such images but does not write them (convert it first)`, { path });
  if (h.nbSnapshots > 0) throw new StorageError("STORAGE_UNSUPPORTED", `${path} has ${h.nbSnapshots} internal snapshots; leapp writes only to images without them`, { path });
}

/** Like Promise.all, but waits for every job before rejecting, so no read lands in a buffer after we return. */
async function settleAll(jobs: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
