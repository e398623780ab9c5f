// Compressed qcow2 clusters: raw deflate (window 4 KiB, as qemu writes it) or a zstd frame.
// Decompression is bounded: the output is exactly one cluster, never more.
import type * as Zlib from "node:zlib";
import { COMPRESSION_ZSTD } from "./qcow2-format.js";
import type * as Fzstd from "fzstd";

/** node:zlib, loaded on the first compressed cluster: most conversions never meet one. */
export function zlib(): typeof Zlib {
  return process.getBuiltinModule("node:zlib");
}

/** Why a compressed cluster could not be decoded; the caller turns it into STORAGE_CORRUPT. */
export class BadCompressedData extends Error {}

const ZLIB_WINDOW_BITS = 12;

function inflateCluster(input: Uint8Array, clusterSize: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zlib().inflateRaw(
      input,
      // Z_SYNC_FLUSH: a stream that stops without its end marker still yields what it has (qemu
      // accepts a full cluster of output whatever follows); maxOutputLength bounds a "bomb".
      { windowBits: ZLIB_WINDOW_BITS, finishFlush: zlib().constants.Z_SYNC_FLUSH, maxOutputLength: clusterSize },
      (err, out) => {
        if (err) reject(new BadCompressedData(`zlib: ${err.message}`));
        else if (out.length !== clusterSize) reject(new BadCompressedData(`zlib data decodes to ${out.length} bytes, not one ${clusterSize}-byte cluster`));
        else resolve(out);
      },
    );
  });
}

/**
 * The length of the zstd frame at the start of `data` (header, blocks, checksum), so that the
 * sector padding after it — often the start of the next compressed cluster — is not decoded.
 */
export function zstdFrameLength(data: Uint8Array): number {
  if (data.length < 6) throw new BadCompressedData("zstd data too short");
  const magic = data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24);
  if (magic >>> 0 !== 0xfd2fb528) throw new BadCompressedData("no zstd frame magic");
  const fhd = data[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictIdFlag = fhd & 3;
  if (fhd & 0x08) throw new BadCompressedData("zstd frame header has its reserved bit set");
  let at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]! + [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  for (;;) {
    if (at + 3 > data.length) throw new BadCompressedData("zstd frame truncated");
    const header = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new BadCompressedData("zstd block of reserved type");
    at += 3 + (type === 1 ? 1 : size);
    if (at > data.length) throw new BadCompressedData("zstd frame truncated");
    if (last) break;
  }
  if (checksum) at += 4;
  if (at > data.length) throw new BadCompressedData("zstd frame truncated");
  return at;
}

/** fzstd, loaded on the first zstd cluster: most images never have one, and it costs start-up time. */
let zstd: Promise<typeof Fzstd> | undefined;

async function unzstdCluster(input: Uint8Array, clusterSize: number): Promise<Uint8Array> {
  const { decompress } = await (zstd ??= import("fzstd"));
  const out = new Uint8Array(clusterSize);
  let result: Uint8Array;
  try {
    result = decompress(input.subarray(0, zstdFrameLength(input)), out);
  } catch (err) {
    if (err instanceof BadCompressedData) throw err;
    throw new BadCompressedData(`zstd: ${(err as Error).message}`);
  }
  if (result.length !== clusterSize) throw new BadCompressedData(`zstd data decodes to ${result.length} bytes, not one ${clusterSize}-byte cluster`);
  return result;
}

/** Decodes one compressed cluster; exactly `clusterSize` bytes or a BadCompressedData error. */
export async function decompressCluster(input: Uint8Array, clusterSize: number, compressionType: number): Promise<Uint8Array> {
  if (compressionType === COMPRESSION_ZSTD) return unzstdCluster(input, clusterSize);
  return inflateCluster(input, clusterSize);
}

/** Raw deflate of one cluster the way qemu does it (window 4 KiB, memLevel 9, default level). */
export function compressCluster(input: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zlib().deflateRaw(input, { windowBits: ZLIB_WINDOW_BITS, memLevel: 9, level: zlib().constants.Z_DEFAULT_COMPRESSION }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}
