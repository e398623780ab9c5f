// VMware VMDK, read-only. A VMDK is either one sparse file with an embedded descriptor
// (monolithicSparse, streamOptimized) or a text descriptor naming extent files: FLAT (raw data at
// an offset), SPARSE (a sparse extent file) or ZERO (monolithicFlat, twoGbMaxExtentSparse/Flat,
// vmfs). Extent files must lie in the descriptor's directory. A delta disk names its parent in
// `parentFileNameHint`; its unallocated grains read from the parent.
import { realpath, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { checkRange, type BlockDevice, type Extent, type FormatDetails, type FormatDriver, type OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { corrupt, ImageFile, mappedImage, unsupported } from "./mapped-image.js";
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

async function openVmdk(path: string, context: OpenContext): Promise<BlockDevice> {
  const first = await ImageFile.open(path);
  let magic: number;
  try {
    magic = first.size >= 4 ? (await first.readBytes(0, 4, "VMDK magic")).readUInt32LE(0) : 0;
  } finally {
    await first.close();
  }
  if (magic === SPARSE_MAGIC || magic === COWD_MAGIC) return openMonolithicSparse(path, context);
  return openDescriptorFile(path, context);
}

/** A sparse file standing alone: the extent is the file itself; its descriptor may name a parent. */
async function openMonolithicSparse(path: string, context: OpenContext): Promise<BlockDevice> {
  // The embedded descriptor must be read before a parent can be chosen, so the extent is opened
  // once to read it and, for a delta disk, again over the parent.
  const plain = await openSparseExtent(path);
  const parentHint = plain.descriptor === undefined ? undefined : parseDescriptor(plain.descriptor, path).parentFileNameHint;
  if (parentHint === undefined) return withDetails(plain.device, { clusterSize: plain.grainBytes });
  await plain.device.close();
  const parent = await context.openBacking(parentHint, undefined);
  try {
    const { device } = await openSparseExtent(path, { device: parent, offset: 0 });
    return withDetails(device, { clusterSize: plain.grainBytes, backingFile: parentHint }, parent);
  } catch (error) {
    await parent.close();
    throw error;
  }
}

async function openDescriptorFile(path: string, context: OpenContext): Promise<BlockDevice> {
  const file = await ImageFile.open(path);
  let text: string;
  try {
    if (file.size > MAX_DESCRIPTOR_BYTES) throw corrupt(path, `neither a sparse VMDK nor a descriptor of at most ${MAX_DESCRIPTOR_BYTES} bytes`);
    text = (await file.readBytes(0, file.size, "VMDK descriptor")).toString("latin1");
  } finally {
    await file.close();
  }
  if (!looksLikeDescriptor(Buffer.from(text, "latin1"))) throw corrupt(path, "not a VMDK descriptor (no version= line)");
  const descriptor = parseDescriptor(text, path);
  if (descriptor.extents.length === 0) throw corrupt(path, "the VMDK descriptor lists no extents");
  const parent = descriptor.parentFileNameHint === undefined ? undefined : await context.openBacking(descriptor.parentFileNameHint, undefined);
  const opened: BlockDevice[] = [];
  try {
    const pieces: Piece[] = [];
    const files = new Set<string>([resolve(path)]);
    let clusterSize: number | undefined;
    let start = 0;
    for (const extent of descriptor.extents) {
      const length = extent.sectors * 512;
      if (start + length > Number.MAX_SAFE_INTEGER) throw corrupt(path, "the VMDK extents add up to an absurd size");
      const extentFile = await openExtent(path, descriptor, extent, start, parent);
      if (extentFile) {
        opened.push(extentFile.device);
        // Real descriptors name each file once; a lying one repeating a big file could make us
        // hold its tables many times over.
        if (files.has(extentFile.file)) throw corrupt(path, `the VMDK descriptor names the extent file ${extent.file} more than once`);
        files.add(extentFile.file);
        clusterSize ??= extentFile.grainBytes;
      }
      pieces.push({ start, length, device: extentFile?.device });
      start += length;
    }
    // Like qemu-img, the space an image takes is that of its descriptor and all its extents.
    let actualSize = 0;
    for (const file of files) actualSize += (await stat(file)).blocks * 512;
    const details: FormatDetails = { actualSize };
    if (clusterSize !== undefined) details.clusterSize = clusterSize;
    if (descriptor.parentFileNameHint !== undefined) details.backingFile = descriptor.parentFileNameHint;
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
): Promise<{ device: BlockDevice; file: string; grainBytes?: number } | undefined> {
  if (extent.type === "ZERO") return undefined;
  const path = await confinedExtentPath(descriptorPath, extent.file!);
  switch (extent.type) {
    case "FLAT":
    case "VMFS": {
      const file = await ImageFile.open(path);
      const blockSize = 1024 * 1024;
      const offset = extent.offsetSectors * 512;
      const size = extent.sectors * 512;
      if (offset + size > file.size) {
        await file.close();
        throw corrupt(descriptorPath, `the flat extent ${extent.file} needs ${size} bytes from offset ${offset}, past the end of its ${file.size}-byte file`);
      }
      const blocks = Math.ceil(size / blockSize);
      const device = mappedImage({ format: "vmdk", size, blockSize, file, locate: (index) => ({ kind: "data", fileOffset: offset + index * blockSize, count: blocks - index }) });
      return { device, file: path };
    }
    case "SPARSE":
    case "VMFSSPARSE": {
      const sparse = await openSparseExtent(path, parent ? { device: parent, offset: start } : undefined);
      return { device: sparse.device, file: path, grainBytes: sparse.grainBytes };
    }
    default:
      throw unsupported(descriptorPath, `VMDK ${extent.type} extents (createType ${descriptor.createType ?? "unknown"}) are not supported`);
  }
}

/**
 * The path of an extent file, which must stay inside the descriptor's directory: a guest's
 * descriptor naming `../../etc/passwd` or `/dev/sda` must not make us read host files.
 */
export async function confinedExtentPath(descriptorPath: string, name: string): Promise<string> {
  const directory = dirname(resolve(descriptorPath));
  const escape = () =>
    new StorageError(
      "STORAGE_PATH_ESCAPE",
      `${descriptorPath}: the extent "${name}" lies outside the descriptor's directory; leapp only reads extents beside their descriptor (move the files together and fix the descriptor)`,
      { path: descriptorPath },
    );
  if (name === "" || name.includes("\0")) throw escape();
  const candidate = isAbsolute(name) ? resolve(name) : resolve(directory, name);
  const inside = (root: string, target: string) => {
    const rel = relative(root, target);
    return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
  };
  if (!inside(directory, candidate)) throw escape();
  // Symbolic links must not lead out either.
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new StorageError("STORAGE_BACKING_MISSING", `${descriptorPath}: the extent file ${basename(candidate)} does not exist; copy it beside the descriptor`, { path: candidate });
  }
  if (!inside(await realpath(directory), real)) throw escape();
  return real;
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
  return {
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
    write: (data, position) => device.write(data, position),
    flush: () => device.flush(),
    async close() {
      await device.close();
      await parent?.close();
    },
  };
}
