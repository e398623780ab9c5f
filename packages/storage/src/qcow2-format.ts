// qcow2 on-disk layout shared by the reader, the writer and `createQcow2`. All fields are big-endian.
// Reference: qemu's docs/interop/qcow2.txt. Every value read from a file is checked before use.
import type { DiskFormat } from "./block-device.js";
import { StorageError } from "./errors.js";

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/** Smallest and largest cluster_bits qemu accepts (512 B … 2 MiB). */
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
/** qemu's QCOW_MAX_L1_SIZE: the active L1 table is at most 32 MiB. */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
/** qemu's QCOW_MAX_REFTABLE_SIZE: the refcount table is at most 8 MiB. */
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
/** qemu refuses backing file names longer than this. */
export const MAX_BACKING_NAME = 1023;
/** The header of a v2 image, and the smallest header_length a v3 image may have. */
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;
/** What qemu writes for v3: the 104 bytes plus the compression type byte, padded to 8. */
export const V3_HEADER_LENGTH = 112;

export const INCOMPAT_DIRTY = 1 << 0;
export const INCOMPAT_CORRUPT = 1 << 1;
export const INCOMPAT_DATA_FILE = 1 << 2;
export const INCOMPAT_COMPRESSION = 1 << 3;
export const INCOMPAT_EXTL2 = 1 << 4;
const KNOWN_INCOMPAT = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
export const COMPAT_LAZY_REFCOUNTS = 1 << 0;
export const AUTOCLEAR_DATA_FILE_RAW = 1 << 1;

export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;

/** The qcow2 header, checked for consistency with itself and with the file's size. */
export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  clusterSize: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: number;
  compatible: number;
  autoclear: number;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  extendedL2: boolean;
  /** Bytes per L2 entry: 8, or 16 with extended L2. */
  l2EntryBytes: number;
  /** Entries per L2 table (one cluster). */
  l2Entries: number;
  backingFile: string | undefined;
  /** The backing format as the image records it (qemu's name). */
  backingFormat: string | undefined;
  /** The external data file's name, when the image keeps its data clusters in one. */
  dataFile: string | undefined;
  /** The data file is a raw image of the guest disk (host offset = guest offset). */
  dataFileRaw: boolean;
}

function corrupt(path: string, message: string): StorageError {
  return new StorageError("STORAGE_CORRUPT", `${path}: ${message}; the qcow2 image is damaged (qemu-img check may tell more)`, { path });
}
function unsupported(path: string, message: string): StorageError {
  return new StorageError("STORAGE_UNSUPPORTED", `${path}: ${message}`, { path });
}

/** A u64 that must be a safe integer (offsets and sizes); anything larger is corruption. */
function u64(view: DataView, at: number, path: string, what: string): number {
  const v = view.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(path, `${what} (${v}) is out of range`);
  return Number(v);
}

/** Whether a file starts with the qcow magic (any version: the driver refuses v1 clearly, so it is never taken for raw). */
export function probeQcow2(head: Uint8Array): boolean {
  if (head.length < 8) return false;
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0) === QCOW2_MAGIC;
}

/** How many bytes of the file to read to parse the header and its extensions, given its first 32 bytes. */
export function headerBytesNeeded(first: Uint8Array, fileSize: number): number {
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  const bits = first.length >= 24 ? view.getUint32(20) : MIN_CLUSTER_BITS;
  const clusterSize = bits >= MIN_CLUSTER_BITS && bits <= MAX_CLUSTER_BITS ? 2 ** bits : 512;
  return Math.min(fileSize, clusterSize);
}

/**
 * Parses and checks a qcow2 header from the image's first cluster (or the whole file if it is
 * shorter). Rejects what qemu rejects; unsupported features are STORAGE_UNSUPPORTED with a reason.
 */
export function parseQcow2Header(buf: Uint8Array, fileSize: number, path: string): Qcow2Header {
  if (buf.length < V2_HEADER_LENGTH) {
    throw new StorageError("STORAGE_TRUNCATED", `${path}: the file is ${fileSize} bytes, too short for a qcow2 header`, { path });
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0) !== QCOW2_MAGIC) throw corrupt(path, "no qcow2 magic");
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) throw unsupported(path, `qcow version ${version} is not supported (only qcow2 v2 and v3 are)`);
  const clusterBits = view.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw corrupt(path, `cluster_bits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  const clusterSize = 2 ** clusterBits;
  const size = u64(view, 24, path, "the virtual size");
  const cryptMethod = view.getUint32(32);
  const l1Size = view.getUint32(36);
  const l1TableOffset = u64(view, 40, path, "the L1 table offset");
  const refcountTableOffset = u64(view, 48, path, "the refcount table offset");
  const refcountTableClusters = view.getUint32(56);
  const nbSnapshots = view.getUint32(60);
  const snapshotsOffset = u64(view, 64, path, "the snapshot table offset");
  let incompatible = 0;
  let compatible = 0;
  let autoclear = 0;
  let refcountOrder = 4;
  let headerLength = V2_HEADER_LENGTH;
  let compressionType = COMPRESSION_ZLIB;
  if (version === 3) {
    if (buf.length < V3_MIN_HEADER_LENGTH) throw new StorageError("STORAGE_TRUNCATED", `${path}: the file is too short for a qcow2 v3 header`, { path });
    const incompatHi = view.getUint32(72);
    incompatible = view.getUint32(76);
    if (incompatHi !== 0 || (incompatible & ~KNOWN_INCOMPAT) !== 0) {
      throw unsupported(path, `the image uses incompatible features leapp does not know (bits 0x${incompatHi.toString(16)}${(incompatible >>> 0).toString(16).padStart(8, "0")})`);
    }
    compatible = view.getUint32(84);
    autoclear = view.getUint32(92);
    refcountOrder = view.getUint32(96);
    headerLength = view.getUint32(100);
    if (headerLength < V3_MIN_HEADER_LENGTH) throw corrupt(path, `header_length ${headerLength} is shorter than 104`);
    if (headerLength > clusterSize || headerLength > buf.length) throw corrupt(path, `header_length ${headerLength} is larger than the first cluster`);
    if (headerLength > V3_MIN_HEADER_LENGTH) compressionType = view.getUint8(104);
  }
  if (refcountOrder > 6) throw corrupt(path, `refcount_order ${refcountOrder} is larger than 6 (64-bit refcounts)`);
  if (cryptMethod !== 0) {
    throw unsupported(path, `the image is encrypted (${cryptMethod === 1 ? "AES" : cryptMethod === 2 ? "LUKS" : `method ${cryptMethod}`}); leapp does not read encrypted qcow2 — decrypt it first with qemu-img convert`);
  }
  const hasCompressionBit = (incompatible & INCOMPAT_COMPRESSION) !== 0;
  if (hasCompressionBit && compressionType === COMPRESSION_ZLIB) throw corrupt(path, "the compression type bit is set but the type is zlib");
  if (!hasCompressionBit && compressionType !== COMPRESSION_ZLIB) throw corrupt(path, `compression type ${compressionType} without the compression type bit`);
  if (compressionType !== COMPRESSION_ZLIB && compressionType !== COMPRESSION_ZSTD) throw unsupported(path, `compression type ${compressionType} is unknown`);
  const extendedL2 = (incompatible & INCOMPAT_EXTL2) !== 0;
  if (extendedL2 && clusterBits < 14) throw corrupt(path, "extended L2 entries with clusters smaller than 16 KiB");
  const l2EntryBytes = extendedL2 ? 16 : 8;
  const l2Entries = clusterSize / l2EntryBytes;

  // The tables must fit the limits qemu sets, be aligned, and lie inside the file.
  if (l1Size * 8 > MAX_L1_BYTES) throw corrupt(path, `the L1 table has ${l1Size} entries, more than qemu's limit of ${MAX_L1_BYTES / 8}`);
  const coverage = l2Entries * clusterSize;
  if (size > l1Size * coverage) throw corrupt(path, `the L1 table (${l1Size} entries) is too small for a ${size}-byte disk`);
  if (l1Size > 0) {
    if (l1TableOffset % clusterSize !== 0) throw corrupt(path, `the L1 table offset ${l1TableOffset} is not cluster-aligned`);
    if (l1TableOffset + l1Size * 8 > fileSize) {
      throw new StorageError("STORAGE_TRUNCATED", `${path}: the L1 table (${l1Size * 8} bytes at ${l1TableOffset}) lies past the end of the ${fileSize}-byte file; the image is truncated or its header is corrupt`, { path });
    }
  }
  if (refcountTableOffset % clusterSize !== 0) throw corrupt(path, `the refcount table offset ${refcountTableOffset} is not cluster-aligned`);
  if (refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES) throw corrupt(path, `the refcount table (${refcountTableClusters} clusters) is larger than qemu's limit`);
  if (nbSnapshots > 65536) throw corrupt(path, `${nbSnapshots} snapshots is more than qemu allows`);

  // Header extensions: from the end of the header to the backing file name (or the cluster's end).
  let backingFormat: string | undefined;
  let dataFileName: string | undefined;
  const backingFileOffset = u64(view, 8, path, "the backing file name offset");
  const backingFileSize = view.getUint32(16);
  const extEnd = Math.min(buf.length, backingFileOffset > 0 ? backingFileOffset : clusterSize);
  let at = headerLength;
  while (at + 8 <= extEnd) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === EXT_END) break;
    const dataStart = at + 8;
    if (dataStart + length > extEnd) throw corrupt(path, `header extension 0x${type.toString(16)} runs past the header area`);
    if (type === EXT_BACKING_FORMAT) backingFormat = decodeName(buf.subarray(dataStart, dataStart + length));
    else if (type === EXT_CRYPTO) throw unsupported(path, "the image is encrypted; leapp does not read encrypted qcow2 — decrypt it first");
    else if (type === EXT_DATA_FILE) dataFileName = decodeName(buf.subarray(dataStart, dataStart + length));
    at = dataStart + Math.ceil(length / 8) * 8;
  }

  let backingFile: string | undefined;
  if (backingFileOffset > 0) {
    if (backingFileSize > MAX_BACKING_NAME) throw corrupt(path, `the backing file name is ${backingFileSize} bytes long (qemu allows ${MAX_BACKING_NAME})`);
    if (backingFileOffset > clusterSize || backingFileOffset + backingFileSize > Math.max(clusterSize, buf.length)) {
      throw corrupt(path, `the backing file name (at ${backingFileOffset}) lies outside the first cluster`);
    }
    if (backingFileOffset + backingFileSize > buf.length) {
      throw new StorageError("STORAGE_TRUNCATED", `${path}: the backing file name lies past the end of the file`, { path });
    }
    if (backingFileSize > 0) backingFile = decodeName(buf.subarray(backingFileOffset, backingFileOffset + backingFileSize));
  }

  // The name counts only with the incompatible bit; the bit without a name needs a file we cannot guess.
  const hasDataFile = (incompatible & INCOMPAT_DATA_FILE) !== 0;
  if (hasDataFile && !dataFileName) throw unsupported(path, "the image keeps its data in an external data file but does not name it");

  return {
    version,
    backingFileOffset,
    backingFileSize,
    clusterBits,
    clusterSize,
    size,
    cryptMethod,
    l1Size,
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    nbSnapshots,
    snapshotsOffset,
    incompatible,
    compatible,
    autoclear,
    refcountOrder,
    headerLength,
    compressionType,
    extendedL2,
    l2EntryBytes,
    l2Entries,
    backingFile,
    backingFormat,
    dataFile: hasDataFile ? dataFileName : undefined,
    dataFileRaw: hasDataFile && (autoclear & AUTOCLEAR_DATA_FILE_RAW) !== 0,
  };
}

function decodeName(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder("utf-8", { fatal: false }).decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
}

/** qemu's format names for the formats leapp has drivers for; undefined for any other. */
export function diskFormatFromQemuName(name: string | undefined): DiskFormat | undefined {
  switch (name) {
    case "raw":
    case "qcow2":
    case "vmdk":
    case "vdi":
    case "vhdx":
    case "vpc":
      return name;
    case "file":
      return "raw";
    default:
      return undefined;
  }
}
