// A hosted sparse VMDK extent ("KDMV"): a header, a grain directory (GD) of grain-table (GT)
// offsets, grain tables of grain offsets, and grains — plain, or deflate-compressed behind a
// marker (streamOptimized). streamOptimized files written as a stream put the GD at the end and
// a copy of the header in a footer; the header then says GD_AT_END.
import type { BlockDevice } from "./block-device.js";
import type { ImageFile } from "./image-file.js";
import { corrupt, isPowerOfTwoIn, mappedImage, safeU64, unsupported, type BlockLocation } from "./mapped-image.js";
import { MAX_DESCRIPTOR_BYTES } from "./vmdk-descriptor.js";
import { zlib } from "./qcow2-compress.js";

export const SPARSE_MAGIC = 0x564d444b; // "KDMV" little-endian
export const COWD_MAGIC = 0x44574f43; // "COWD": the old VMware 3 / ESX sparse format
const GD_AT_END = 0xffffffffffffffffn;
const FLAG_ZERO_GRAIN_GTE = 1 << 2;
const FLAG_MARKERS = 1 << 17;
const COMPRESSION_DEFLATE = 1;
const GTE_ZEROED = 1;
const MARKER_FOOTER = 3;
/** qemu refuses grain tables of more than 512 entries, and so does leapp. */
const MAX_GTES_PER_GT = 512;
/** Grains up to 16 MiB (VMware uses 64 KiB). */
const MAX_GRAIN_BYTES = 16 * 1024 * 1024;
/** Grain tables kept in memory per extent (each 2 KiB with 512 entries). */
const MAX_CACHED_TABLES = 8192;
/** Decompressed grains kept for small reads that land in the same grain. */
const MAX_CACHED_GRAINS = 32;
/** Compressed grains close to each other are fetched in one read of up to this many bytes. */
const MAX_WINDOW = 16 * 1024 * 1024;

export interface SparseHeader {
  version: number;
  flags: number;
  capacitySectors: number;
  grainSectors: number;
  descriptorOffset: number;
  descriptorSectors: number;
  gtesPerGt: number;
  gdOffset: bigint;
  compressed: boolean;
}

function parseHeader(header: Buffer, path: string): SparseHeader {
  const magic = header.readUInt32LE(0);
  if (magic === COWD_MAGIC) throw unsupported(path, "VMware 3 / ESX (COWD) sparse extents are not supported; convert the disk with vmware-vdiskmanager or qemu-img first");
  if (magic !== SPARSE_MAGIC) throw corrupt(path, "no sparse VMDK header (\"KDMV\")");
  return {
    version: header.readUInt32LE(4),
    flags: header.readUInt32LE(8),
    capacitySectors: safeU64(header.readBigUInt64LE(12), "capacity", path),
    grainSectors: safeU64(header.readBigUInt64LE(20), "grain size", path),
    descriptorOffset: safeU64(header.readBigUInt64LE(28), "descriptor offset", path),
    descriptorSectors: safeU64(header.readBigUInt64LE(36), "descriptor size", path),
    gtesPerGt: header.readUInt32LE(44),
    gdOffset: header.readBigUInt64LE(56),
    compressed: header.readUInt16LE(77) === COMPRESSION_DEFLATE,
  };
}

export interface SparseExtent {
  device: BlockDevice;
  /** The grain size in bytes. */
  grainBytes: number;
  /** The embedded descriptor's text, if the extent has one (monolithicSparse, streamOptimized). */
  descriptor: string | undefined;
}

/**
 * Opens the sparse extent in `file`. Unallocated grains read from `backing` (at `offset` plus the
 * position in this extent) when given, else as zeros. The device owns the file once opened; on
 * failure the caller still does.
 */
export async function openSparseExtent(file: ImageFile, backing?: { device: BlockDevice; offset: number }): Promise<SparseExtent> {
  const { path } = file;
  let header = parseHeader(await file.readBytes(0, 512, "VMDK header"), path);
  if (header.version < 1 || header.version > 3) throw unsupported(path, `sparse VMDK version ${header.version} is not supported (only 1 to 3)`);
  if (header.gdOffset === GD_AT_END) {
    // Written as a stream: the real header is the footer's, 1024 bytes before the end
    // (after a footer marker, before the end-of-stream marker).
    const tail = await file.readBytes(file.size - 1536, 1536, "VMDK footer");
    if (tail.readUInt32LE(12) !== MARKER_FOOTER) throw corrupt(path, "the header says the grain directory is at the end, but there is no footer marker");
    header = parseHeader(tail.subarray(512, 1024), path);
    if (header.gdOffset === GD_AT_END) throw corrupt(path, "the VMDK footer does not locate the grain directory");
  }
  const { capacitySectors, grainSectors, gtesPerGt } = header;
  const grainBytes = grainSectors * 512;
  if (!isPowerOfTwoIn(grainBytes, 512, MAX_GRAIN_BYTES)) throw corrupt(path, `VMDK grain size ${grainSectors} sectors is not a power of two up to ${MAX_GRAIN_BYTES / 512}`);
  if (gtesPerGt < 1 || gtesPerGt > MAX_GTES_PER_GT) throw corrupt(path, `VMDK grain tables of ${gtesPerGt} entries are not supported (1 to ${MAX_GTES_PER_GT})`);
  if (capacitySectors > Number.MAX_SAFE_INTEGER / 512) throw corrupt(path, `VMDK capacity ${capacitySectors} sectors is absurd`);
  const size = capacitySectors * 512;
  const gtCoverage = gtesPerGt * grainBytes;
  const gdEntries = Math.ceil(size / gtCoverage);
  const gdOffset = safeU64(header.gdOffset, "grain directory offset", path) * 512;
  // The directory must lie inside the file, which bounds its size by the file's.
  const directory = await file.readBytes(gdOffset, gdEntries * 4, "VMDK grain directory");

  let descriptor: string | undefined;
  if (header.descriptorOffset > 0 && header.descriptorSectors > 0) {
    const length = Math.min(header.descriptorSectors * 512, MAX_DESCRIPTOR_BYTES);
    descriptor = (await file.readBytes(header.descriptorOffset * 512, length, "embedded VMDK descriptor")).toString("latin1");
  }

  const zeroGrains = (header.flags & FLAG_ZERO_GRAIN_GTE) !== 0;
  const compressed = header.compressed;
  const markers = (header.flags & FLAG_MARKERS) !== 0;
  const tables = new Map<number, Promise<Uint32Array>>();
  const loadTable = (index: number): Promise<Uint32Array> => {
    let table = tables.get(index);
    if (!table) {
      if (tables.size >= MAX_CACHED_TABLES) tables.clear();
      const sector = directory.readUInt32LE(index * 4);
      table = file.readBytes(sector * 512, gtesPerGt * 4, "VMDK grain table").then((bytes) => {
        const entries = new Uint32Array(gtesPerGt);
        for (let i = 0; i < gtesPerGt; i++) entries[i] = bytes.readUInt32LE(i * 4);
        return entries;
      });
      tables.set(index, table);
      // A failed load is not cached, so the error is reported again rather than remembered.
      table.catch(() => tables.delete(index));
    }
    return table;
  };

  const isZeroed = (entry: number) => entry === GTE_ZEROED && zeroGrains;
  const locate = (grain: number): BlockLocation | Promise<BlockLocation> => {
    const gdIndex = Math.floor(grain / gtesPerGt);
    const first = grain - gdIndex * gtesPerGt;
    // A missing grain table leaves all its grains unallocated.
    if (directory.readUInt32LE(gdIndex * 4) === 0) return { kind: "unallocated", count: gtesPerGt - first };
    return loadTable(gdIndex).then((table): BlockLocation => {
      const entry = table[first]!;
      if (entry === 0 || isZeroed(entry)) {
        // Runs of holes are reported at once, so walking a big sparse table stays cheap.
        let last = first + 1;
        while (last < gtesPerGt && table[last] === entry) last++;
        return { kind: entry === 0 ? "unallocated" : "zero", count: last - first };
      }
      const fileOffset = entry * 512;
      if (fileOffset >= file.size) throw corrupt(path, `VMDK grain ${grain} points to offset ${fileOffset}, past the end of the ${file.size}-byte file`);
      return compressed ? { kind: "compressed", fileOffset } : { kind: "data", fileOffset };
    });
  };

  const grainCache = new Map<number, Uint8Array>();
  const maxCompressed = grainBytes + Math.ceil(grainBytes / 64) + 1024; // deflate's worst case, with room
  // One output chunk as big as a grain (and a little more) makes zlib return the grain in one
  // buffer instead of concatenating 16 KiB pieces.
  const inflateOptions = { maxOutputLength: grainBytes + 1024, chunkSize: grainBytes + 1024 };
  const inflateGrain = (data: Uint8Array, fileOffset: number, target: Uint8Array, keep: boolean): void => {
    let plain: Buffer;
    try {
      plain = zlib().inflateSync(data, inflateOptions);
    } catch (cause) {
      throw corrupt(path, `the compressed VMDK grain at offset ${fileOffset} does not inflate (${(cause as Error).message})`);
    }
    if (plain.length > grainBytes) throw corrupt(path, `the compressed VMDK grain at offset ${fileOffset} inflates to more than a grain`);
    target.set(plain);
    target.fill(0, plain.length);
    if (!keep) return;
    if (grainCache.size >= MAX_CACHED_GRAINS) grainCache.delete(grainCache.keys().next().value!);
    grainCache.set(fileOffset, target);
  };

  // Grains are fetched window by window: one large read covers many neighbouring grains, so a
  // sequential copy of a streamOptimized disk reads its file sequentially in big pieces. Window
  // buffers are kept for the next reads (a copy would otherwise leave one per piece for the
  // garbage collector to find); they are never pooled Buffers, which share memory with others.
  const spareWindows: Buffer[] = [];
  const takeWindow = (length: number): Buffer => {
    const spare = spareWindows.pop();
    return spare && spare.length >= length ? spare : Buffer.allocUnsafeSlow(Math.max(length, spare?.length ?? 0));
  };
  const markerBytes = markers ? 12 : 0;
  const readCompressed = async (blocks: { fileOffset: number; target: Uint8Array; partial: boolean }[]): Promise<void> => {
    const pending = blocks.filter(({ fileOffset, target }) => {
      const cached = grainCache.get(fileOffset);
      if (cached) target.set(cached);
      return !cached;
    });
    pending.sort((a, b) => a.fileOffset - b.fileOffset);
    let i = 0;
    while (i < pending.length) {
      const start = pending[i]!.fileOffset;
      let j = i + 1;
      while (j < pending.length && pending[j]!.fileOffset + maxCompressed + markerBytes - start <= MAX_WINDOW && pending[j]!.fileOffset - pending[j - 1]!.fileOffset <= maxCompressed + markerBytes + 512) j++;
      const end = Math.min(file.size, pending[j - 1]!.fileOffset + markerBytes + maxCompressed);
      const whole = takeWindow(end - start);
      try {
        const window = whole.subarray(0, end - start);
        await file.readData(window, start);
        for (let k = i; k < j; k++) inflateFromWindow(window, start, end, pending[k]!);
      } finally {
        if (spareWindows.length < 4) spareWindows.push(whole);
      }
      i = j;
    }
  };
  const inflateFromWindow = (window: Buffer, start: number, end: number, grain: { fileOffset: number; target: Uint8Array; partial: boolean }): void => {
    const { fileOffset, target, partial } = grain;
    const at = fileOffset - start;
    let length = end - fileOffset - markerBytes;
    if (markers) {
      length = window.readUInt32LE(at + 8);
      if (length > maxCompressed) throw corrupt(path, `the compressed VMDK grain at offset ${fileOffset} claims ${length} bytes`);
      if (at + markerBytes + length > window.length) throw corrupt(path, `the compressed VMDK grain at offset ${fileOffset} runs past the end of the file`);
    }
    // Only grains read in part are kept: a partial read is often followed by its neighbour.
    inflateGrain(window.subarray(at + markerBytes, at + markerBytes + length), fileOffset, target, partial);
  };

  const device = mappedImage({
    format: "vmdk",
    size,
    blockSize: grainBytes,
    file,
    locate,
    ...(compressed ? { readCompressed } : {}),
    ...(backing ? { backing } : {}),
  });
  return { device, descriptor, grainBytes };
}
