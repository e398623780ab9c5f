import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../errors.js";

/** Reads `length` bytes at `offset`, refusing ranges a lying header points outside the device. */
export async function readBytes(device: BlockDevice, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > device.size) {
    throw corrupt(`${what}: ${length} bytes at offset ${offset} lie outside the ${device.size}-byte device`);
  }
  const buffer = new Uint8Array(length);
  if (length > 0) await device.read(buffer, offset);
  return buffer;
}

/** An INSPECT_CORRUPT error with the advice every damaged structure shares. */
export function corrupt(detail: string, cause?: unknown): InspectError {
  return new InspectError("INSPECT_CORRUPT", `${detail}; the disk image is damaged or not what it claims (check it with fsck/pvck, or inspect another copy)`, cause === undefined ? {} : { cause });
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A little-endian 64-bit field as a number, refusing values past 2^53. */
export function u64le(dv: DataView, offset: number, what: string): number {
  const value = dv.getUint32(offset, true) + dv.getUint32(offset + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) throw corrupt(`${what} is ${value}, beyond any real disk`);
  return value;
}

export function u64be(dv: DataView, offset: number, what: string): number {
  const value = dv.getUint32(offset, false) * 2 ** 32 + dv.getUint32(offset + 4, false);
  if (!Number.isSafeInteger(value)) throw corrupt(`${what} is ${value}, beyond any real disk`);
  return value;
}

/** A NUL-padded string field, decoded as UTF-8; undefined when empty. */
export function cString(bytes: Uint8Array, offset: number, length: number): string | undefined {
  let end = offset;
  while (end < offset + length && bytes[end] !== 0) end++;
  const text = new TextDecoder().decode(bytes.subarray(offset, end));
  return text === "" ? undefined : text;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A big-endian 16-byte UUID (ext, XFS, swap) as blkid prints it: 8-4-4-4-12, lower case. */
export function uuidString(bytes: Uint8Array): string | undefined {
  if (bytes.every((b) => b === 0)) return undefined;
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A GPT GUID (first three fields little-endian) as blkid prints it. */
export function guidString(bytes: Uint8Array): string {
  const swapped = Uint8Array.from([bytes[3]!, bytes[2]!, bytes[1]!, bytes[0]!, bytes[5]!, bytes[4]!, bytes[7]!, bytes[6]!, ...bytes.subarray(8, 16)]);
  const h = hex(swapped);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function makeTable(polynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}
const crc32Table = makeTable(0xedb88320);
const crc32cTable = makeTable(0x82f63b78);

/** The raw reflected CRC-32 register update, without the usual pre/post inversion. */
export function crc32Raw(crc: number, bytes: Uint8Array, table = crc32Table): number {
  let c = crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** CRC-32 (zlib, GPT). */
export function crc32(bytes: Uint8Array): number {
  return (crc32Raw(0xffffffff, bytes) ^ 0xffffffff) >>> 0;
}

/** CRC-32C (Castagnoli; XFS v5 and ext4 metadata_csum). */
export function crc32c(bytes: Uint8Array): number {
  return (crc32Raw(0xffffffff, bytes, crc32cTable) ^ 0xffffffff) >>> 0;
}
