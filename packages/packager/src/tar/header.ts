import { PackagerError } from "../errors.js";

/** What a tar entry is. Sockets have no tar form: archivers skip them, and so do we. */
export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "chardev" | "blockdev" | "fifo";

/** A run of a regular file's content that holds data; the gaps between runs are holes (zeros). */
export interface DataRange {
  offset: number;
  length: number;
}

/** One archive member, as the POSIX pax format (ustar + extended headers) records it. */
export interface TarEntry {
  /** Relative path inside the archive, `/`-separated, without `./`, a leading `/` or a trailing `/`. */
  path: string;
  type: TarEntryType;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch (negative before 1970). */
  mtimeNs: bigint;
  /** Regular files: the content's length in bytes. */
  size?: number;
  /**
   * Regular files with holes: the ranges that hold data, in order and within `size`. The entry is
   * then written sparse (GNU sparse format 1.0, which GNU tar, bsdtar and Go's archive/tar read).
   */
  dataRanges?: readonly DataRange[];
  /** Symlinks: the target; hard links: the archive path of the member they link to. */
  linkTarget?: string;
  rdevMajor?: number;
  rdevMinor?: number;
  /** Extended attributes (`security.capability`, `security.selinux`, `user.*`…), name → value. */
  xattrs?: ReadonlyMap<string, Uint8Array>;
}

export const BLOCK = 512;
/** Longest path or link target we write; Linux's PATH_MAX is 4096 bytes, a guest may not exceed it. */
export const MAX_PATH_BYTES = 4096;
/** Linux's XATTR_SIZE_MAX: no single attribute value is longer. */
export const MAX_XATTR_VALUE = 64 * 1024;
/** Bound on one entry's extended header: names, xattrs, the sparse map. */
const MAX_PAX_BYTES = 8 * 1024 * 1024;
/** Most data ranges one sparse file may have before it is written dense instead. */
export const MAX_SPARSE_RANGES = 100_000;

const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;
const MAX_OCTAL_12_N = BigInt(MAX_OCTAL_12);
const NS_PER_S = 1_000_000_000n;
const USTAR_MAGIC = new Uint8Array([0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30]); // "ustar\0" "00"
const encoder = new TextEncoder();
const NO_BYTES = new Uint8Array(0);

function bad(message: string, path?: string): PackagerError {
  return new PackagerError("PACKAGER_BAD_INPUT", message, path === undefined ? {} : { path });
}

/** Rounds up to whole 512-byte blocks. */
export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function isUint(n: unknown, max: number): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max;
}

/** A leading or trailing `/`, an empty component, or a `.`/`..` component. */
const unnormalized = /^\/|\/$|\/\/|(^|\/)\.\.?(\/|$)/;

/** Checks what an entry claims before any byte of it is written: a bad entry is a typed error, never a broken archive. */
export function validateEntry(entry: TarEntry): void {
  const { path } = entry;
  if (typeof path !== "string" || path === "" || path.includes("\0")) throw bad(`tar member path ${JSON.stringify(path)} is empty or contains NUL`);
  if (unnormalized.test(path)) {
    throw bad(`tar member path ${JSON.stringify(path)} must be relative and normalized (no empty, '.' or '..' component)`, path);
  }
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw bad(`tar member path is longer than ${MAX_PATH_BYTES} bytes`, path.slice(0, 80));
  if (!isUint(entry.mode, 0o7777)) throw bad(`${path}: mode ${entry.mode} is not a permission mask (0..0o7777)`, path);
  if (!isUint(entry.uid, 0xffffffff) || !isUint(entry.gid, 0xffffffff)) throw bad(`${path}: uid/gid ${entry.uid}/${entry.gid} out of range`, path);
  if (typeof entry.mtimeNs !== "bigint") throw bad(`${path}: mtimeNs must be a bigint`, path);
  if (entry.type === "file") {
    if (!isUint(entry.size, Number.MAX_SAFE_INTEGER)) throw bad(`${path}: size ${entry.size} is not a byte count`, path);
    if (entry.dataRanges) validateRanges(entry.dataRanges, entry.size, path);
  } else if (entry.size !== undefined && entry.size !== 0) throw bad(`${path}: only regular files have content`, path);
  if (entry.type === "symlink" || entry.type === "hardlink") {
    const t = entry.linkTarget;
    if (typeof t !== "string" || t === "" || t.includes("\0") || Buffer.byteLength(t) > MAX_PATH_BYTES) throw bad(`${path}: link target is empty, longer than ${MAX_PATH_BYTES} bytes or contains NUL`, path);
  }
  if (entry.type === "chardev" || entry.type === "blockdev") {
    if (!isUint(entry.rdevMajor ?? 0, 0xfff) || !isUint(entry.rdevMinor ?? 0, 0xfffff)) throw bad(`${path}: device numbers ${entry.rdevMajor}:${entry.rdevMinor} out of range`, path);
  }
  if (entry.xattrs) {
    if (entry.xattrs.size > 1024) throw bad(`${path}: more than 1024 extended attributes`, path);
    for (const [name, value] of entry.xattrs) {
      if (name === "" || name.includes("\0") || name.includes("=") || Buffer.byteLength(name) > 255) throw bad(`${path}: extended attribute name ${JSON.stringify(name)} is not valid`, path);
      if (!(value instanceof Uint8Array) || value.length > MAX_XATTR_VALUE) throw bad(`${path}: extended attribute ${name} is larger than ${MAX_XATTR_VALUE} bytes`, path);
    }
  }
}

function validateRanges(ranges: readonly DataRange[], size: number, path: string): void {
  if (ranges.length > MAX_SPARSE_RANGES) throw bad(`${path}: more than ${MAX_SPARSE_RANGES} data ranges`, path);
  let end = 0;
  for (const r of ranges) {
    if (!isUint(r.offset, size) || !isUint(r.length, size) || r.offset < end || r.offset + r.length > size) {
      throw bad(`${path}: data range ${r.offset}+${r.length} is out of order or outside the file's ${size} bytes`, path);
    }
    end = r.offset + r.length;
  }
}

/** Whether the entry is written in the sparse format: it has data ranges that leave holes. */
export function isSparse(entry: TarEntry): boolean {
  if (entry.type !== "file" || !entry.dataRanges) return false;
  let data = 0;
  for (const r of entry.dataRanges) data += r.length;
  return data < (entry.size ?? 0);
}

/** Bytes of content that follow an entry's header blocks (before padding). */
export function contentLength(entry: TarEntry): number {
  if (entry.type !== "file") return 0;
  if (!isSparse(entry)) return entry.size ?? 0;
  let data = 0;
  for (const r of entry.dataRanges!) data += r.length;
  return data;
}

/** `1700000000.5` for PAX time records: exact decimal seconds, sign outside. */
function paxTime(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const whole = abs / NS_PER_S;
  const frac = abs - whole * NS_PER_S;
  const fracText = frac === 0n ? "" : "." + frac.toString().padStart(9, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fracText}`;
}

/** A PAX record whose value is text (times, sizes, ids, names): built as one string, encoded once. */
function paxTextRecord(key: string, value: string): Uint8Array {
  const rest = Buffer.byteLength(key) + Buffer.byteLength(value) + 3; // " ", "=", "\n"
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  return Buffer.from(`${len} ${key}=${value}\n`);
}

/** One PAX record, `LEN key=value\n`, where LEN counts the whole record including its own digits. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const keyBytes = encoder.encode(` ${key}=`);
  const rest = keyBytes.length + value.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  const out = new Uint8Array(len);
  const lenBytes = encoder.encode(String(len));
  out.set(lenBytes, 0);
  out.set(keyBytes, lenBytes.length);
  out.set(value, lenBytes.length + keyBytes.length);
  out[len - 1] = 0x0a;
  return out;
}

/** Writes a string field (cut to its width); the sum of the bytes written, for the checksum. */
function writeString(block: Uint8Array, offset: number, width: number, bytes: Uint8Array): number {
  const n = Math.min(bytes.length, width);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += block[offset + i] = bytes[i]!;
  return sum;
}

/**
 * Zero-padded octal digits and a NUL (a value too large keeps its low digits: callers clamp).
 * Every header writes nine of these, so: integer shifts once the value fits 31 bits, one fill for
 * the leading zeros. The sum of the bytes written, for the checksum.
 */
function writeOctal(block: Uint8Array, offset: number, width: number, value: number): number {
  let v = value;
  let sum = 0;
  let i = offset + width - 2;
  for (; i >= offset && v > 0x7fffffff; i--) {
    const digit = v % 8;
    sum += block[i] = 0x30 + digit;
    v = (v - digit) / 8;
  }
  for (; i >= offset && v > 0; i--) {
    sum += block[i] = 0x30 + (v & 7);
    v >>>= 3;
  }
  if (i >= offset) {
    block.fill(0x30, offset, i + 1);
    sum += 0x30 * (i + 1 - offset);
  }
  block[offset + width - 1] = 0;
  return sum;
}

const typeflags: Record<TarEntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  chardev: 0x33,
  blockdev: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

interface UstarFields {
  name: Uint8Array;
  prefix: Uint8Array;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: Uint8Array;
  devMajor: number;
  devMinor: number;
}

/** "ustar\0" "00" and the checksum field taken as eight spaces: bytes every header sums the same. */
const FIXED_SUM = USTAR_MAGIC.reduce((n, b) => n + b, 0) + 8 * 0x20;

/**
 * A ustar header block written at `at` of `out`, which is zeros there. The checksum is summed
 * field by field as they are written, not over the whole block afterwards.
 */
function writeUstar(out: Uint8Array, at: number, f: UstarFields): void {
  let sum = FIXED_SUM + f.typeflag;
  sum += writeString(out, at, 100, f.name);
  sum += writeOctal(out, at + 100, 8, f.mode);
  sum += writeOctal(out, at + 108, 8, f.uid);
  sum += writeOctal(out, at + 116, 8, f.gid);
  sum += writeOctal(out, at + 124, 12, f.size);
  sum += writeOctal(out, at + 136, 12, f.mtime);
  out[at + 156] = f.typeflag;
  sum += writeString(out, at + 157, 100, f.linkname);
  out.set(USTAR_MAGIC, at + 257);
  sum += writeOctal(out, at + 329, 8, f.devMajor);
  sum += writeOctal(out, at + 337, 8, f.devMinor);
  sum += writeString(out, at + 345, 155, f.prefix);
  writeOctal(out, at + 148, 7, sum);
  out[at + 155] = 0x20;
}

function ustarBlock(f: UstarFields): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeUstar(block, 0, f);
  return block;
}

/** Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a `/`, if it can be. */
function splitUstarName(bytes: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  if (bytes.length <= 100) return { prefix: NO_BYTES, name: bytes };
  for (let i = Math.min(bytes.length - 1, 155); i > 0; i--) {
    if (bytes[i] !== 0x2f) continue;
    if (bytes.length - i - 1 > 100) return undefined;
    if (bytes.length - i - 1 === 0) continue;
    return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
  }
  return undefined;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/** The sparse map of GNU sparse format 1.0: decimal lines, padded to whole blocks, before the data. */
function sparseMap(entry: TarEntry): Uint8Array {
  const ranges = [...entry.dataRanges!];
  const size = entry.size ?? 0;
  const last = ranges[ranges.length - 1];
  // A file that ends in a hole gets a closing empty range at its end, as GNU tar writes it.
  if (!last || last.offset + last.length < size) ranges.push({ offset: size, length: 0 });
  const text = [String(ranges.length), ...ranges.flatMap((r) => [String(r.offset), String(r.length)])].join("\n") + "\n";
  const bytes = encoder.encode(text);
  const out = new Uint8Array(padded(bytes.length));
  out.set(bytes);
  return out;
}

/**
 * Everything an entry writes before its content: a PAX extended header when ustar cannot hold the
 * entry (long or non-ASCII names, big numbers, sub-second times, xattrs, sparse maps), the ustar
 * header, and for sparse files the sparse map. The content (`contentLength` bytes) and padding to
 * 512 bytes follow.
 */
export function encodeEntryHeader(entry: TarEntry): Uint8Array {
  validateEntry(entry);
  const records: Uint8Array[] = [];
  const sparse = isSparse(entry);
  const fullPath = entry.type === "directory" ? entry.path + "/" : entry.path;
  const pathBytes: Uint8Array = Buffer.from(fullPath);

  let nameBytes = pathBytes;
  if (sparse) {
    // The ustar name of a sparse member is a stand-in; readers take the real one from GNU.sparse.name.
    const slash = entry.path.lastIndexOf("/");
    nameBytes = encoder.encode(`${slash < 0 ? "" : entry.path.slice(0, slash + 1)}GNUSparseFile.0/${entry.path.slice(slash + 1)}`);
    records.push(paxTextRecord("GNU.sparse.major", "1"), paxTextRecord("GNU.sparse.minor", "0"));
    records.push(paxRecord("GNU.sparse.name", pathBytes), paxTextRecord("GNU.sparse.realsize", String(entry.size)));
  }
  let split = isAscii(nameBytes) ? splitUstarName(nameBytes) : undefined;
  if (!split) {
    if (!sparse) records.push(paxRecord("path", pathBytes));
    split = { prefix: NO_BYTES, name: nameBytes.subarray(0, 99) };
  }

  let linkname = NO_BYTES;
  if (entry.type === "symlink" || entry.type === "hardlink") {
    linkname = encoder.encode(entry.linkTarget!);
    if (linkname.length > 100 || !isAscii(linkname)) {
      records.push(paxRecord("linkpath", linkname));
      linkname = linkname.subarray(0, 99);
    }
  }

  const map = sparse ? sparseMap(entry) : undefined;
  const size = map ? map.length + contentLength(entry) : contentLength(entry);
  if (size > MAX_OCTAL_12) records.push(paxTextRecord("size", String(size)));
  if (entry.uid > MAX_OCTAL_8) records.push(paxTextRecord("uid", String(entry.uid)));
  if (entry.gid > MAX_OCTAL_8) records.push(paxTextRecord("gid", String(entry.gid)));
  const seconds = entry.mtimeNs / NS_PER_S;
  if (entry.mtimeNs < 0n || seconds > MAX_OCTAL_12_N || entry.mtimeNs !== seconds * NS_PER_S) {
    records.push(paxTextRecord("mtime", paxTime(entry.mtimeNs)));
  }
  if (entry.xattrs) {
    for (const [name, value] of [...entry.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) records.push(paxRecord(`SCHILY.xattr.${name}`, value));
  }

  const mtime = entry.mtimeNs < 0n ? 0 : Number(seconds > MAX_OCTAL_12_N ? MAX_OCTAL_12_N : seconds);
  const ustar: UstarFields = {
    name: split.name,
    prefix: split.prefix,
    typeflag: typeflags[entry.type],
    mode: entry.mode,
    uid: Math.min(entry.uid, MAX_OCTAL_8),
    gid: Math.min(entry.gid, MAX_OCTAL_8),
    size: Math.min(size, MAX_OCTAL_12),
    mtime,
    linkname,
    devMajor: entry.rdevMajor ?? 0,
    devMinor: entry.rdevMinor ?? 0,
  };

  const paxLength = records.reduce((n, r) => n + r.length, 0);
  if (paxLength > MAX_PAX_BYTES) throw bad(`${entry.path}: its extended header would be ${paxLength} bytes; too many or too large attributes`, entry.path);
  const total = (paxLength > 0 ? BLOCK + padded(paxLength) : 0) + BLOCK + (map?.length ?? 0);
  const out = new Uint8Array(total);
  let at = 0;
  if (paxLength > 0) {
    const base = entry.path.slice(entry.path.lastIndexOf("/") + 1);
    const paxName = encoder.encode(`PaxHeaders/${base}`).subarray(0, 99);
    writeUstar(out, 0, { name: paxName, prefix: NO_BYTES, typeflag: 0x78, mode: 0o644, uid: 0, gid: 0, size: paxLength, mtime, linkname: NO_BYTES, devMajor: 0, devMinor: 0 });
    at = BLOCK;
    for (const r of records) {
      out.set(r, at);
      at += r.length;
    }
    at = BLOCK + padded(paxLength);
  }
  writeUstar(out, at, ustar);
  at += BLOCK;
  if (map) out.set(map, at);
  return out;
}

/** The whole size an entry takes in the archive: headers, content and padding. */
export function entrySize(entry: TarEntry, header: Uint8Array = encodeEntryHeader(entry)): number {
  return header.length + padded(contentLength(entry));
}

/**
 * A plain ustar header (no extended header) of an archive member whose name is short and ASCII:
 * the members of image archives. Its size is known only after its content is written, so it is
 * always one block, with a size beyond 8 GiB in the base-256 form GNU tar, bsdtar and Go read.
 */
export function simpleHeader(name: string, type: "file" | "directory", size: number, mtimeSeconds: number): Uint8Array {
  const nameBytes = encoder.encode(type === "directory" ? name + "/" : name);
  if (nameBytes.length > 100 || !isAscii(nameBytes)) throw bad(`archive member name ${name} must be ASCII and at most 100 bytes`);
  if (!isUint(size, Number.MAX_SAFE_INTEGER)) throw bad(`archive member ${name}: size ${size} is not a byte count`);
  const block = ustarBlock({ name: nameBytes, prefix: NO_BYTES, typeflag: typeflags[type], mode: type === "directory" ? 0o755 : 0o644, uid: 0, gid: 0, size: Math.min(size, MAX_OCTAL_12), mtime: mtimeSeconds, linkname: NO_BYTES, devMajor: 0, devMinor: 0 });
  if (size > MAX_OCTAL_12) {
    // Base-256: the first byte's high bit set, the value big-endian in the rest of the field.
    block.fill(0, 124, 136);
    block[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      block[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += block[i]!;
    writeOctal(block, 148, 7, sum);
    block[155] = 0x20;
  }
  return block;
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);
