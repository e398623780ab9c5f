// Creating empty qcow2 images (plain or as an overlay on a backing file), laid out as qemu-img does:
// header, refcount table, refcount blocks, L1 table — every one of those clusters counted once.
import type { DiskFormat } from "./block-device.js";
import { StorageError } from "./errors.js";
import type { ImageFile } from "./image-file.js";
import { OutputFile, writeError, type OutputOptions } from "./output-file.js";
import {
  COMPRESSION_ZSTD,
  EXT_BACKING_FORMAT,
  INCOMPAT_COMPRESSION,
  INCOMPAT_EXTL2,
  MAX_BACKING_NAME,
  MAX_CLUSTER_BITS,
  MAX_L1_BYTES,
  MIN_CLUSTER_BITS,
  QCOW2_MAGIC,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH,
} from "./qcow2-format.js";

export interface CreateQcow2Options {
  /** Virtual size in bytes; rounded up to a multiple of 512 as qemu-img does. */
  size: number;
  /** Cluster size, a power of two from 512 B to 2 MiB (default 64 KiB). */
  clusterSize?: number;
  /** "1.1" (qcow2 v3, default) or "0.10" (v2, for very old qemu). */
  compat?: "0.10" | "1.1";
  /** Refcount width: 1, 2, 4, 8, 16 (default), 32 or 64 bits. */
  refcountBits?: number;
  /** Extended L2 entries (32 subclusters per cluster); needs compat 1.1 and clusters of at least 16 KiB. */
  extendedL2?: boolean;
  /** Compression type recorded in the header (default zlib); leapp itself writes zlib only. */
  compressionType?: "zlib" | "zstd";
  /** The backing file name to record, exactly as given (relative names resolve against the image's directory). */
  backingFile?: string;
  /** The backing file's format, recorded so readers need not probe it. */
  backingFormat?: DiskFormat;
  /** Replace an existing file, atomically (default: STORAGE_TARGET_EXISTS). */
  overwrite?: boolean;
}

const TWO32 = 4294967296;

function invalid(message: string): StorageError {
  return new StorageError("STORAGE_UNSUPPORTED", message);
}

/**
 * Creates an empty qcow2 image at `path`, written under a temporary name and renamed into place
 * (synced) when complete. Nothing is allocated but its metadata.
 */
export async function createQcow2(path: string, options: CreateQcow2Options): Promise<void> {
  await createQcow2Output(path, options, {});
}

/** `createQcow2` with files it must not replace (an overlay's base chain), abortable until renamed into place. */
export async function createQcow2Output(path: string, options: CreateQcow2Options, output: Pick<OutputOptions, "protect"> & { signal?: AbortSignal | undefined }): Promise<void> {
  const out = await OutputFile.create(path, { overwrite: options.overwrite ?? false, ...(output.protect ? { protect: output.protect } : {}) });
  try {
    await writeEmptyQcow2(out.file, options);
  } catch (err) {
    await out.discard();
    throw writeError(err, out.target);
  }
  await out.commit({ signal: output.signal });
}

/** Lays out an empty qcow2 image in `file` (new and empty, opened for writing). */
export async function writeEmptyQcow2(file: ImageFile, options: CreateQcow2Options): Promise<void> {
  const cs = options.clusterSize ?? 65536;
  const bits = Math.log2(cs);
  if (!Number.isInteger(bits) || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) throw invalid(`cluster size ${cs} must be a power of two from 512 B to 2 MiB`);
  const v3 = (options.compat ?? "1.1") === "1.1";
  const refcountBits = options.refcountBits ?? 16;
  const refcountOrder = Math.log2(refcountBits);
  if (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6) throw invalid(`refcount width ${refcountBits} must be a power of two from 1 to 64`);
  if (!v3 && refcountBits !== 16) throw invalid("compat 0.10 images have 16-bit refcounts only");
  const extendedL2 = options.extendedL2 ?? false;
  if (extendedL2 && !v3) throw invalid("extended L2 entries need compat 1.1");
  if (extendedL2 && cs < 16384) throw invalid("extended L2 entries need clusters of at least 16 KiB");
  const zstd = options.compressionType === "zstd";
  if (zstd && !v3) throw invalid("zstd compression needs compat 1.1");
  if (!Number.isSafeInteger(options.size) || options.size < 0) throw invalid(`virtual size ${options.size} is not a valid size`);
  const size = Math.ceil(options.size / 512) * 512;

  const l2Entries = cs / (extendedL2 ? 16 : 8);
  const l1Size = Math.ceil(size / (l2Entries * cs));
  if (l1Size * 8 > MAX_L1_BYTES) throw invalid(`a ${size}-byte disk needs an L1 table larger than qemu allows with ${cs}-byte clusters; use larger clusters`);
  const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / cs));

  // Header cluster: header, extensions, then the backing file name.
  const header = new Uint8Array(cs);
  const view = new DataView(header.buffer);
  const encoder = new TextEncoder();
  let at = v3 ? V3_HEADER_LENGTH : V2_HEADER_LENGTH;
  const extension = (type: number, data: Uint8Array) => {
    if (at + 8 + Math.ceil(data.length / 8) * 8 + 8 > cs) throw invalid(`the header does not fit in one ${cs}-byte cluster; use larger clusters or a shorter backing file name`);
    view.setUint32(at, type);
    view.setUint32(at + 4, data.length);
    header.set(data, at + 8);
    at += 8 + Math.ceil(data.length / 8) * 8;
  };
  let backingName: Uint8Array | undefined;
  if (options.backingFile !== undefined) {
    backingName = encoder.encode(options.backingFile);
    if (backingName.length === 0 || backingName.length > MAX_BACKING_NAME) throw invalid(`the backing file name must be 1 to ${MAX_BACKING_NAME} bytes long`);
    if (options.backingFormat) {
      extension(EXT_BACKING_FORMAT, encoder.encode(options.backingFormat));
    }
  }
  at += 8; // end-of-extensions marker (type 0, length 0), already zero
  let backingOffset = 0;
  if (backingName) {
    if (at + backingName.length > cs) throw invalid(`the header does not fit in one ${cs}-byte cluster; use larger clusters or a shorter backing file name`);
    backingOffset = at;
    header.set(backingName, at);
  }

  // Metadata clusters: header, refcount table, refcount blocks, L1 — sized to count themselves.
  const refsPerBlock = (cs * 8) / refcountBits;
  let tableClusters = 1;
  let blocks = 1;
  for (;;) {
    const total = 1 + tableClusters + blocks + l1Clusters;
    const needBlocks = Math.ceil(total / refsPerBlock);
    const needTable = Math.max(1, Math.ceil((needBlocks * 8) / cs));
    if (needBlocks === blocks && needTable === tableClusters) break;
    blocks = needBlocks;
    tableClusters = needTable;
  }
  const tableOffset = cs;
  const blocksOffset = tableOffset + tableClusters * cs;
  const l1Offset = blocksOffset + blocks * cs;
  const total = 1 + tableClusters + blocks + l1Clusters;

  view.setUint32(0, QCOW2_MAGIC);
  view.setUint32(4, v3 ? 3 : 2);
  view.setUint32(8, Math.floor(backingOffset / TWO32));
  view.setUint32(12, backingOffset % TWO32);
  view.setUint32(16, backingName?.length ?? 0);
  view.setUint32(20, bits);
  view.setUint32(24, Math.floor(size / TWO32));
  view.setUint32(28, size % TWO32);
  view.setUint32(32, 0); // no encryption
  view.setUint32(36, l1Size);
  view.setUint32(40, Math.floor(l1Offset / TWO32));
  view.setUint32(44, l1Offset % TWO32);
  view.setUint32(48, Math.floor(tableOffset / TWO32));
  view.setUint32(52, tableOffset % TWO32);
  view.setUint32(56, tableClusters);
  view.setUint32(60, 0); // no snapshots
  if (v3) {
    view.setUint32(76, (extendedL2 ? INCOMPAT_EXTL2 : 0) | (zstd ? INCOMPAT_COMPRESSION : 0));
    view.setUint32(96, refcountOrder);
    view.setUint32(100, V3_HEADER_LENGTH);
    view.setUint8(104, zstd ? COMPRESSION_ZSTD : 0);
  }

  const table = new Uint8Array(tableClusters * cs);
  const tableView = new DataView(table.buffer);
  const blockBytes = new Uint8Array(blocks * cs);
  const blockView = new DataView(blockBytes.buffer);
  for (let b = 0; b < blocks; b++) {
    const o = blocksOffset + b * cs;
    tableView.setUint32(b * 8, Math.floor(o / TWO32));
    tableView.setUint32(b * 8 + 4, o % TWO32);
  }
  for (let c = 0; c < total; c++) {
    // Refcount 1 for cluster c, in the packed big-endian layout qemu uses for each width.
    const blockStart = Math.floor(c / refsPerBlock) * cs;
    const i = c % refsPerBlock;
    switch (refcountBits) {
      case 1:
      case 2:
      case 4: {
        const perByte = 8 / refcountBits;
        const byte = blockStart + Math.floor(i / perByte);
        blockBytes[byte] = blockBytes[byte]! | (1 << (refcountBits * (i % perByte)));
        break;
      }
      case 8:
        blockBytes[blockStart + i] = 1;
        break;
      case 16:
        blockView.setUint16(blockStart + i * 2, 1);
        break;
      case 32:
        blockView.setUint32(blockStart + i * 4, 1);
        break;
      default:
        blockView.setUint32(blockStart + i * 8 + 4, 1);
    }
  }

  // Header, refcount table and refcount blocks lie back to back: one vectored write.
  if (tableOffset !== header.length || blocksOffset !== tableOffset + table.length) throw new Error("qcow2 layout: metadata must be contiguous");
  await file.write([header, table, blockBytes], 0);
  // The L1 table is all zeros: extend the file over it without writing.
  await file.truncate(l1Offset + l1Clusters * cs);
}
