// VMware VMDK, read-only. A VMDK is either one sparse file with an embedded descriptor
// (monolithicSparse, streamOptimized) or a text descriptor naming extent files: FLAT (raw data at
// an offset), SPARSE (a sparse extent file) or ZERO (monolithicFlat, twoGbMaxExtentSparse/Flat,
// vmfs). Extent files are opened through the OpenContext, confined like backing files. A delta
// disk names its (vmdk) parent in `parentFileNameHint`; its unallocated grains read from it.
import { checkRange, type BlockDevice, type Extent, type FormatDetails, type FormatDriver, type OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { backingRuns, isHostMapped, type HostMapped, type HostRun } from "./host-runs.js";
import type { ImageFile } from "./image-file.js";
import { corrupt, mappedImage, unsupported } from "./mapped-image.js";
import { looksLikeDescriptor, MAX_DESCRIPTOR_BYTES, parseDescriptor, type VmdkDescriptor } from "./vmdk-descriptor.js";
import { COWD_MAGIC, openSparseExtent, SPARSE_MAGIC } from "./vmdk-sparse.js";

export const vmdkDriver: FormatDriver = {
  format: "vmdk",
  probe(head) {
    if (head.length >= 4) {
      const magic = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
      if (magic === SPARSE_MAGIC || magic === COWD_MAGIC) return true;
    }
    return looksLikeDescriptor(head);
  },
  open: openVmdk,
};

async function openVmdk(file: ImageFile, context: OpenContext): Promise<BlockDevice> {
  try {
    const magic = file.size >= 4 ? (await file.readBytes(0, 4, "VMDK magic")).readUInt32LE(0) : 0;
    if (magic === SPARSE_MAGIC || magic === COWD_MAGIC) return await openMonolithicSparse(file, context);
    return await openDescriptorFile(file, context);
  } catch (error) {
    await file.close();
    throw error;
  }
}

/** A sparse file standing alone: the extent is the file itself; its descriptor may name a parent. */
async function openMonolithicSparse(file: ImageFile, context: OpenContext): Promise<BlockDevice> {
  // The embedded descriptor must be read before a parent can be chosen, so the extent is read
  // once for it and, for a delta disk, opened again over the parent (the first device, holding
  // nothing but caches, is dropped without closing the file).
  const plain = await openSparseExtent(file);
  const parentHint = plain.descriptor === undefined ? undefined : parseDescriptor(plain.descriptor, file.path).parentFileNameHint;
  if (parentHint === undefined) return withDetails(plain.device, { clusterSize: plain.grainBytes });
  // VMware's delta disks always have a vmdk parent, as qemu assumes too: it is never probed.
  const parent = await context.openBacking(parentHint, "vmdk");
  try {
    const { device } = await openSparseExtent(file, { device: parent, offset: 0 });
    return withDetails(device, { clusterSize: plain.grainBytes, backingFile: parentHint, backingFormat: "vmdk" }, parent);
  } catch (error) {
    await parent.close();
    throw error;
  }
}

async function openDescriptorFile(file: ImageFile, context: OpenContext): Promise<BlockDevice> {
  const path = file.path;
  if (file.size > MAX_DESCRIPTOR_BYTES) throw corrupt(path, `neither a sparse VMDK nor a descriptor of at most ${MAX_DESCRIPTOR_BYTES} bytes`);
  const text = (await file.readBytes(0, file.size, "VMDK descriptor")).toString("latin1");
  // Like qemu-img, the space an image takes is that of its descriptor and all its extents.
  let actualSize = await file.allocatedBytes();
  const files = new Set<string>([file.identity ?? path]);
  await file.close();
  if (!looksLikeDescriptor(Buffer.from(text, "latin1"))) throw corrupt(path, "not a VMDK descriptor (no version= line)");
  const descriptor = parseDescriptor(text, path);
  if (descriptor.extents.length === 0) throw corrupt(path, "the VMDK descriptor lists no extents");
  const parent = descriptor.parentFileNameHint === undefined ? undefined : await context.openBacking(descriptor.parentFileNameHint, "vmdk");
  const opened: BlockDevice[] = [];
  try {
    const pieces: Piece[] = [];
    let clusterSize: number | undefined;
    let start = 0;
    for (const extent of descriptor.extents) {
      const length = extent.sectors * 512;
      if (start + length > Number.MAX_SAFE_INTEGER) throw corrupt(path, "the VMDK extents add up to an absurd size");
      const extentFile = await openExtent(path, descriptor, extent, start, parent, context, files);
      if (extentFile) {
        opened.push(extentFile.device);
        actualSize += extentFile.allocated;
        clusterSize ??= extentFile.grainBytes;
      }
      pieces.push({ start, length, device: extentFile?.device });
      start += length;
    }
    const details: FormatDetails = { actualSize };
    if (clusterSize !== undefined) details.clusterSize = clusterSize;
    if (descriptor.parentFileNameHint !== undefined) {
      details.backingFile = descriptor.parentFileNameHint;
      details.backingFormat = "vmdk";
    }
    return withDetails(concatenate(path, pieces), details, parent);
  } catch (error) {
    await Promise.allSettled([...opened.map((d) => d.close()), parent?.close()]);
    throw error;
  }
}

async function openExtent(
  descriptorPath: string,
  descriptor: VmdkDescriptor,
  extent: VmdkDescriptor["extents"][number],
  start: number,
  parent: BlockDevice | undefined,
  context: OpenContext,
  files: Set<string>,
): Promise<{ device: BlockDevice; allocated: number; grainBytes?: number } | undefined> {
  if (extent.type === "ZERO") return undefined;
  if (extent.type !== "FLAT" && extent.type !== "VMFS" && extent.type !== "SPARSE" && extent.type !== "VMFSSPARSE") {
    throw unsupported(descriptorPath, `VMDK ${extent.type} extents (createType ${descriptor.createType ?? "unknown"}) are not supported`);
  }
  const file = await context.openFile(extent.file!, "extent");
  try {
    // Real descriptors name each file once; a lying one repeating a big file could make us
    // hold its tables many times over.
    const identity = file.identity ?? file.path;
    if (files.has(identity)) throw corrupt(descriptorPath, `the VMDK descriptor names the extent file ${extent.file} more than once`);
    files.add(identity);
    const allocated = await file.allocatedBytes();
    if (extent.type === "FLAT" || extent.type === "VMFS") {
      const blockSize = 1024 * 1024;
      const offset = extent.offsetSectors * 512;
      const size = extent.sectors * 512;
      if (offset + size > file.size) {
        throw corrupt(descriptorPath, `the flat extent ${extent.file} needs ${size} bytes from offset ${offset}, past the end of its ${file.size}-byte file`);
      }
      const blocks = Math.ceil(size / blockSize);
      const device = mappedImage({ format: "vmdk", size, blockSize, file, locate: (index) => ({ kind: "data", fileOffset: offset + index * blockSize, count: blocks - index }) });
      return { device, allocated };
    }
    const sparse = await openSparseExtent(file, parent ? { device: parent, offset: start } : undefined);
    return { device: sparse.device, allocated, grainBytes: sparse.grainBytes };
  } catch (error) {
    await file.close();
    throw error;
  }
}

interface Piece {
  start: number;
  length: number;
  /** The extent's device; undefined for a ZERO extent. It may be shorter than the piece. */
  device: BlockDevice | undefined;
}

/** One device made of the extents laid end to end. */
function concatenate(path: string, pieces: Piece[]): BlockDevice {
  const size = pieces.reduce((sum, p) => sum + p.length, 0);
  if (pieces.length === 1 && pieces[0]!.device?.size === size) return pieces[0]!.device;
  let closed = false;
  const overlapping = (from: number, to: number) => pieces.filter((p) => p.start < to && p.start + p.length > from && p.length > 0);
  const device: BlockDevice & HostMapped = {
    format: "vmdk",
    size,
    writable: false,
    async read(buffer, position) {
      if (closed) throw new StorageError("STORAGE_CLOSED", `${path} is closed`, { path });
      checkRange(size, position, buffer.length);
      const end = position + buffer.length;
      await Promise.all(
        overlapping(position, end).map(async (piece) => {
          const from = Math.max(position, piece.start);
          const to = Math.min(end, piece.start + piece.length);
          const target = buffer.subarray(from - position, to - position);
          // What a piece holds beyond its device (a ZERO extent, a short sparse extent) is zeros.
          const inDevice = piece.device ? Math.max(0, Math.min(to, piece.start + piece.device.size) - from) : 0;
          if (inDevice > 0) await piece.device!.read(target.subarray(0, inDevice), from - piece.start);
          target.fill(0, inDevice);
        }),
      );
    },
    async *extents(start = 0, length = size - start) {
      if (closed) throw new StorageError("STORAGE_CLOSED", `${path} is closed`, { path });
      checkRange(size, start, length);
      let current: Extent | undefined;
      const emit = function* (e: Extent): Generator<Extent> {
        if (current && current.kind === e.kind && current.offset + current.length === e.offset) current.length += e.length;
        else {
          if (current) yield current;
          current = { ...e };
        }
      };
      for (const piece of overlapping(start, start + length)) {
        const from = Math.max(start, piece.start);
        const to = Math.min(start + length, piece.start + piece.length);
        const deviceEnd = piece.device ? Math.min(to, piece.start + piece.device.size) : from;
        if (piece.device && deviceEnd > from) {
          for await (const e of piece.device.extents(from - piece.start, deviceEnd - from)) yield* emit({ ...e, offset: e.offset + piece.start });
        }
        if (deviceEnd < to) yield* emit({ offset: Math.max(from, deviceEnd), length: to - Math.max(from, deviceEnd), kind: "zero" });
      }
      if (current) yield current;
    },
    async *hostRuns(start: number, length: number): AsyncIterable<HostRun> {
      if (closed) throw new StorageError("STORAGE_CLOSED", `${path} is closed`, { path });
      checkRange(size, start, length);
      for (const piece of overlapping(start, start + length)) {
        const from = Math.max(start, piece.start);
        const to = Math.min(start + length, piece.start + piece.length);
        // A ZERO extent, or what a piece holds beyond its device, is zeros.
        yield* backingRuns(piece.device, from - piece.start, to - piece.start, 0, piece.start);
      }
    },
    async write() {
      throw new StorageError("STORAGE_READ_ONLY", `${path}: vmdk images are read-only in leapp; convert to qcow2 to write`, { path });
    },
    async flush() {},
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(pieces.map((p) => p.device?.close()));
    },
  };
  return device;
}

/** The device with `details` for diskInfo, closing `parent` too when closed. */
function withDetails(device: BlockDevice, details: FormatDetails, parent?: BlockDevice): BlockDevice {
  return {
    format: device.format,
    size: device.size,
    writable: false,
    details,
    read: (buffer, position) => device.read(buffer, position),
    extents: (start, length) => device.extents(start, length),
    ...(isHostMapped(device) ? { hostRuns: (start: number, length: number) => device.hostRuns(start, length) } : {}),
    write: (data, position) => device.write(data, position),
    flush: () => device.flush(),
    async close() {
      await device.close();
      await parent?.close();
    },
  };
}
