// The "newc" cpio format (070701, and 070702 with checksums) that the kernel unpacks into its
// initial root: reading archives that dracut, initramfs-tools or mkinitrd made, writing the one
// leapp appends. Every header field is bounded by what remains of the buffer.
import type { FileType } from "@leapp/inspect";
import { GuestOSError } from "../errors.js";

const HEADER = 110;
const TRAILER = "TRAILER!!!";
/** Longest name the kernel accepts (PATH_MAX). */
const MAX_NAME = 4096;

export interface CpioEntry {
  /** Path inside the archive, without a leading "/" or "./" ("usr/lib/modules/…"). */
  name: string;
  type: FileType;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  ino: number;
  nlink: number;
  rdevMajor: number;
  rdevMinor: number;
  /** File content or symlink target (a view into the archive). */
  data: Uint8Array;
}

const typeBits: [number, FileType][] = [
  [0o100000, "file"],
  [0o040000, "directory"],
  [0o120000, "symlink"],
  [0o020000, "chardev"],
  [0o060000, "blockdev"],
  [0o010000, "fifo"],
  [0o140000, "socket"],
];

function typeOf(mode: number): FileType {
  const bits = mode & 0o170000;
  return typeBits.find(([b]) => b === bits)?.[1] ?? "unknown";
}

function bitsOf(type: FileType): number {
  const hit = typeBits.find(([, t]) => t === type);
  if (!hit) throw new GuestOSError("GUESTOS_BAD_INPUT", `cannot archive a file of type ${type}`);
  return hit[0];
}

const align4 = (n: number) => (n + 3) & ~3;

/** Whether `buf` holds a newc header at `offset`. */
export function isCpioAt(buf: Uint8Array, offset: number): boolean {
  if (offset + 6 > buf.length) return false;
  return buf[offset] === 0x30 && buf[offset + 1] === 0x37 && buf[offset + 2] === 0x30 && buf[offset + 3] === 0x37 && buf[offset + 4] === 0x30 && (buf[offset + 5] === 0x31 || buf[offset + 5] === 0x32);
}

function hexField(buf: Uint8Array, at: number, what: string): number {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    const c = buf[at + i] as number;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) throw new GuestOSError("GUESTOS_CORRUPT", `cpio header has a bad ${what} field at byte ${at}`);
    v = v * 16 + d;
  }
  return v;
}

/**
 * Reads one archive (up to and including its trailer) starting at `offset`, where `base` is the
 * offset of `buf` within the whole file (newc pads to 4 bytes from the start of the archive's
 * stream). Returns the entries and the offset just past the trailer's padding.
 */
export function readCpio(buf: Uint8Array, offset = 0, maxEntries = 1_000_000): { entries: CpioEntry[]; end: number } {
  const entries: CpioEntry[] = [];
  let at = offset;
  for (;;) {
    if (!isCpioAt(buf, at)) throw new GuestOSError("GUESTOS_CORRUPT", `no cpio header at byte ${at} (the archive is cut short or not newc)`);
    if (at + HEADER > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", `cpio header at byte ${at} is cut short`);
    const f = (i: number, what: string) => hexField(buf, at + 6 + i * 8, what);
    const ino = f(0, "ino");
    const mode = f(1, "mode");
    const uid = f(2, "uid");
    const gid = f(3, "gid");
    const nlink = f(4, "nlink");
    const mtime = f(5, "mtime");
    const size = f(6, "filesize");
    const rdevMajor = f(9, "rdevmajor");
    const rdevMinor = f(10, "rdevminor");
    const nameSize = f(11, "namesize");
    if (nameSize < 1 || nameSize > MAX_NAME) throw new GuestOSError("GUESTOS_CORRUPT", `cpio entry at byte ${at} has a name of ${nameSize} bytes`);
    const nameEnd = at + HEADER + nameSize;
    const dataStart = offset + align4(nameEnd - offset);
    if (nameEnd > buf.length || dataStart + size > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", `cpio entry at byte ${at} runs past the end of the archive (${size} bytes of data)`);
    const rawName = Buffer.from(buf.subarray(at + HEADER, nameEnd - 1)).toString("utf8");
    at = offset + align4(dataStart + size - offset);
    if (rawName === TRAILER) return { entries, end: Math.min(at, buf.length) };
    if (entries.length >= maxEntries) throw new GuestOSError("GUESTOS_CORRUPT", `cpio archive has more than ${maxEntries} entries`);
    const name = rawName.replace(/^(\.\/|\/)+/, "");
    if (name === "" || name === ".") continue;
    entries.push({ name, type: typeOf(mode), mode: mode & 0o7777, uid, gid, mtime, ino, nlink, rdevMajor, rdevMinor, data: buf.subarray(dataStart, dataStart + size) });
  }
}

/** What `writeCpio` archives: a path, a type and its content (file bytes or link target). */
export interface CpioInput {
  name: string;
  type: "file" | "directory" | "symlink";
  mode?: number;
  data?: Uint8Array | string;
}

/**
 * A complete newc archive of `inputs` with its trailer: owner root, one link each, the given
 * mtime (seconds), inode numbers counted from 1 — so the same inputs give the same bytes.
 */
export function writeCpio(inputs: readonly CpioInput[], mtime = 0): Uint8Array {
  const parts: Buffer[] = [];
  let length = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    length += b.length;
  };
  const entry = (name: string, mode: number, data: Uint8Array, ino: number, nlink: number) => {
    const nameBytes = Buffer.from(`${name}\0`, "utf8");
    if (nameBytes.length > MAX_NAME) throw new GuestOSError("GUESTOS_BAD_INPUT", `cpio name too long: ${name.slice(0, 80)}…`);
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    const fields = [ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    push(Buffer.from(`070701${fields.map(hex).join("")}`, "latin1"));
    push(nameBytes);
    push(Buffer.alloc(align4(length) - length));
    push(Buffer.from(data.buffer, data.byteOffset, data.length));
    push(Buffer.alloc(align4(length) - length));
  };
  inputs.forEach((input, i) => {
    const data = typeof input.data === "string" ? Buffer.from(input.data, "utf8") : input.data ?? new Uint8Array(0);
    const perm = input.mode ?? (input.type === "directory" ? 0o755 : input.type === "symlink" ? 0o777 : 0o644);
    entry(input.name.replace(/^\/+/, ""), bitsOf(input.type) | (perm & 0o7777), input.type === "directory" ? new Uint8Array(0) : data, i + 1, input.type === "directory" ? 2 : 1);
  });
  entry(TRAILER, 0, new Uint8Array(0), 0, 1);
  return Buffer.concat(parts, length);
}
