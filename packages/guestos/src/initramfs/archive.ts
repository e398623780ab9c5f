// An initramfs file as the kernel reads it: a sequence of cpio archives, each stored plain or
// compressed, with NUL padding between them. This reads every segment it can decompress (gzip
// with zlib, zstd with fzstd, xz with xz-decompress) and lists the merged tree the kernel would
// unpack — an lsinitrd that needs no tools.
import { inflateRaw } from "node:zlib";
import { decompress as zstdDecompress } from "fzstd";
import type { XzReadableStream as XzStream } from "xz-decompress";
import type { FileType } from "@leapp/inspect";
import { GuestOSError } from "../errors.js";
import { isCpioAt, readCpio, type CpioEntry } from "./cpio.js";

/** Largest unpacked size we accept for one segment: a lying header must not exhaust memory. */
export const MAX_UNPACKED = 1024 * 1024 * 1024;

export type Compression = "none" | "gzip" | "zstd" | "xz" | "bzip2" | "lzma" | "lz4" | "lzo";

export interface Segment {
  /** Byte offset of the segment in the file, and its length (padding excluded). */
  offset: number;
  length: number;
  compression: Compression;
  /** The archive's entries, when the segment could be read (undefined: compressed with a method we cannot unpack). */
  entries: CpioEntry[] | undefined;
}

export interface Initramfs {
  size: number;
  segments: Segment[];
  /** The tree the kernel unpacks: later entries replace earlier ones, by path. */
  tree: Map<string, CpioEntry>;
  /** Every segment could be read: `tree` is complete. */
  complete: boolean;
}

const magics: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["lzo", [0x89, 0x4c, 0x5a, 0x4f]],
  ["lzma", [0x5d, 0x00, 0x00]],
];

function compressionAt(buf: Uint8Array, at: number): Compression | undefined {
  return magics.find(([, m]) => m.every((b, i) => buf[at + i] === b))?.[0];
}

/** Largest output chunk of an inflate; more output comes in more chunks, joined by a copy. */
const MAX_INFLATE_CHUNK = 64 * 1024 * 1024;

/**
 * gzip: header fields, a raw deflate stream (zlib says how much it used), an 8-byte trailer.
 * zlib inflates on libuv's pool, so the main thread goes on meanwhile (tens of MiB: ~50 ms).
 */
async function gunzip(buf: Uint8Array, at: number): Promise<{ data: Uint8Array; end: number }> {
  const flags = buf[at + 3] as number;
  let p = at + 10;
  const need = (n: number) => {
    if (p + n > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "gzip header runs past the end of the initramfs");
  };
  if (flags & 0x04) {
    need(2);
    p += 2 + ((buf[p] as number) | ((buf[p + 1] as number) << 8));
  }
  for (const bit of [0x08, 0x10]) {
    if (!(flags & bit)) continue;
    while (p < buf.length && buf[p] !== 0) p++;
    p++;
  }
  if (flags & 0x02) p += 2;
  need(0);
  // Output that fits one chunk is handed over as it is, not copied: initramfs contents deflate
  // 2.5-4x, so a chunk of 4x the compressed bytes (bounded, never from a header) holds it all.
  const chunkSize = Math.min(MAX_INFLATE_CHUNK, Math.max(1024 * 1024, 4 * (buf.length - p)));
  try {
    const r = await new Promise<{ buffer: Buffer; engine: { bytesWritten: number } }>((resolve, reject) =>
      inflateRaw(buf.subarray(p), { info: true, chunkSize, maxOutputLength: MAX_UNPACKED }, (err, out) => (err ? reject(err) : resolve(out as unknown as { buffer: Buffer; engine: { bytesWritten: number } }))),
    );
    return { data: r.buffer, end: p + r.engine.bytesWritten + 8 };
  } catch (err) {
    throw new GuestOSError("GUESTOS_CORRUPT", `the gzip segment at byte ${at} does not decompress (${(err as Error).message})`, { cause: err });
  }
}

/** The end of the zstd frames starting at `at`, walked block by block without decompressing. */
function zstdFramesEnd(buf: Uint8Array, at: number): { end: number; contentSize: number | undefined } {
  let p = at;
  let total: number | undefined = 0;
  const u32 = (o: number) => ((buf[o] as number) | ((buf[o + 1] as number) << 8) | ((buf[o + 2] as number) << 16)) + (buf[o + 3] as number) * 0x1000000;
  while (p + 4 <= buf.length && u32(p) === 0xfd2fb528) {
    const fhd = buf[p + 4] as number;
    const single = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const dictSize = [0, 1, 2, 4][fhd & 3] as number;
    const fcsSize = [single, 2, 4, 8][fcsFlag] as number;
    let q = p + 5 + (single ? 0 : 1) + dictSize;
    if (fcsSize === 0) total = undefined;
    else if (total !== undefined) {
      let fcs = 0;
      for (let i = fcsSize - 1; i >= 0; i--) fcs = fcs * 256 + (buf[q + i] as number);
      if (fcsSize === 2) fcs += 256;
      total += fcs;
    }
    q += fcsSize;
    for (;;) {
      if (q + 3 > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "zstd frame runs past the end of the initramfs");
      const h = (buf[q] as number) | ((buf[q + 1] as number) << 8) | ((buf[q + 2] as number) << 16);
      const last = h & 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw new GuestOSError("GUESTOS_CORRUPT", `zstd block at byte ${q} has the reserved type`);
      q += 3 + (type === 1 ? 1 : size);
      if (last) break;
    }
    if ((fhd >> 2) & 1) q += 4;
    if (q > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "zstd frame runs past the end of the initramfs");
    p = q;
  }
  return { end: p, contentSize: total };
}

/**
 * Where the xz stream starting at `at` ends. An xz stream cannot be walked forward without
 * decoding, but its end can be checked: a footer ("YZ") whose backward size points at an index
 * whose block sizes add up to exactly the bytes between header and index. The first later plain
 * cpio archive (one appended by leapp or a tool) after such an end closes the stream; without
 * one, it runs to the end of the file.
 */
function xzEnd(buf: Uint8Array, at: number): number {
  for (let q = (at + 32 + 3) & ~3; q + 6 <= buf.length; q += 4) {
    if (!isCpioAt(buf, q)) continue;
    let e = q;
    while (e > at && buf[e - 1] === 0) e--;
    if (isXzStreamEnd(buf, at, e)) return e;
  }
  return buf.length;
}

/** Whether `[at, end)` is exactly one xz stream, by its footer and index. */
function isXzStreamEnd(buf: Uint8Array, at: number, end: number): boolean {
  if (end - at < 32 || (end - at) % 4 !== 0 || buf[end - 2] !== 0x59 || buf[end - 1] !== 0x5a) return false;
  // Footer: CRC32, backward size, stream flags (equal to the header's), "YZ".
  if (buf[end - 4] !== buf[at + 6] || buf[end - 3] !== buf[at + 7]) return false;
  const backward = ((buf[end - 8] as number) | ((buf[end - 7] as number) << 8) | ((buf[end - 6] as number) << 16)) + (buf[end - 5] as number) * 0x1000000;
  const indexSize = (backward + 1) * 4;
  let p = end - 12 - indexSize;
  if (p < at + 12 || buf[p] !== 0) return false;
  p++;
  const varint = (): number => {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const b = buf[p++] as number;
      v += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) return v;
    }
    return Number.NaN;
  };
  const records = varint();
  if (!Number.isFinite(records) || records > indexSize) return false;
  let blocks = 0;
  for (let i = 0; i < records; i++) {
    const unpadded = varint();
    varint();
    if (!Number.isFinite(unpadded)) return false;
    blocks += (unpadded + 3) & ~3;
  }
  return at + 12 + blocks + indexSize + 12 === end;
}

async function unxz(data: Uint8Array): Promise<Uint8Array> {
  // A CommonJS package: its named export is on the namespace under bundlers, on `default` under Node.
  const mod = (await import("xz-decompress")) as unknown as { XzReadableStream?: typeof XzStream; default?: { XzReadableStream: typeof XzStream } };
  const XzReadableStream = (mod.XzReadableStream ?? mod.default?.XzReadableStream) as typeof XzStream;
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });
  const reader = new XzReadableStream(input).getReader();
  const parts: Uint8Array[] = [];
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > MAX_UNPACKED) {
        await reader.cancel();
        throw new GuestOSError("GUESTOS_CORRUPT", `an xz segment unpacks to more than ${MAX_UNPACKED} bytes`);
      }
      parts.push(value);
    }
  } catch (err) {
    if (err instanceof GuestOSError) throw err;
    throw new GuestOSError("GUESTOS_CORRUPT", `the xz segment does not decompress (${(err as Error)?.message ?? err})`, { cause: err });
  }
  return Buffer.concat(parts, length);
}

/** Every cpio archive in an unpacked stream (the kernel reads on after each trailer). */
function archivesIn(data: Uint8Array): CpioEntry[] {
  const entries: CpioEntry[] = [];
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) {
      at++;
      continue;
    }
    const r = readCpio(data, at);
    entries.push(...r.entries);
    at = r.end;
  }
  return entries;
}

/** Reads an initramfs image: its segments, and the tree they unpack to. */
export async function readInitramfs(buf: Uint8Array): Promise<Initramfs> {
  const segments: Segment[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf[at] === 0) {
      at++;
      continue;
    }
    if (isCpioAt(buf, at)) {
      if (at & 3) throw new GuestOSError("GUESTOS_CORRUPT", `a cpio archive starts at byte ${at}, not on a 4-byte boundary: the kernel would refuse it`);
      const r = readCpio(buf, at);
      segments.push({ offset: at, length: r.end - at, compression: "none", entries: r.entries });
      at = r.end;
      continue;
    }
    const compression = compressionAt(buf, at);
    if (compression === "gzip") {
      const r = await gunzip(buf, at);
      segments.push({ offset: at, length: r.end - at, compression, entries: archivesIn(r.data) });
      at = r.end;
    } else if (compression === "zstd") {
      const { end, contentSize } = zstdFramesEnd(buf, at);
      if (contentSize !== undefined && contentSize > MAX_UNPACKED) throw new GuestOSError("GUESTOS_CORRUPT", `a zstd segment claims ${contentSize} bytes unpacked, more than ${MAX_UNPACKED}`);
      let data: Uint8Array;
      try {
        data = zstdDecompress(buf.subarray(at, end));
      } catch (err) {
        throw new GuestOSError("GUESTOS_CORRUPT", `the zstd segment at byte ${at} does not decompress (${(err as Error).message})`, { cause: err });
      }
      segments.push({ offset: at, length: end - at, compression, entries: archivesIn(data) });
      at = end;
    } else if (compression === "xz") {
      const end = xzEnd(buf, at);
      segments.push({ offset: at, length: end - at, compression, entries: archivesIn(await unxz(buf.subarray(at, end))) });
      at = end;
    } else if (compression !== undefined) {
      // The kernel can unpack these; we cannot list them. They run to the end of the file.
      segments.push({ offset: at, length: buf.length - at, compression, entries: undefined });
      at = buf.length;
    } else {
      throw new GuestOSError("GUESTOS_CORRUPT", `byte ${at} of the initramfs starts neither a cpio archive nor a compressed one`);
    }
  }
  if (segments.length === 0) throw new GuestOSError("GUESTOS_CORRUPT", "the initramfs is empty");
  const tree = new Map<string, CpioEntry>();
  for (const s of segments) for (const e of s.entries ?? []) tree.set(e.name, e);
  return { size: buf.length, segments, tree, complete: segments.every((s) => s.entries !== undefined) };
}

/** One line per path, as `lsinitrd`/`lsinitramfs` list an image: type, mode, size, path, link. */
export function listInitramfs(image: Initramfs): { path: string; type: FileType; mode: number; size: number; target?: string }[] {
  return [...image.tree.values()]
    .map((e) => {
      const line: { path: string; type: FileType; mode: number; size: number; target?: string } = { path: e.name, type: e.type, mode: e.mode, size: e.type === "file" ? e.data.length : 0 };
      if (e.type === "symlink") line.target = Buffer.from(e.data).toString("utf8");
      return line;
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The archive path `path` names once symlinks inside the archive are followed (for directories
 * on the way: `lib/modules` in an image whose `lib` links to `usr/lib`).
 */
export function resolveInArchive(tree: Map<string, CpioEntry>, path: string, followLast = false): string {
  let pending = path.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift() as string;
    if (c === "..") {
      done.pop();
      continue;
    }
    const here = [...done, c].join("/");
    const e = tree.get(here);
    if (e?.type === "symlink" && (pending.length > 0 || followLast)) {
      if (++hops > 40) throw new GuestOSError("GUESTOS_CORRUPT", `symlink loop in the initramfs at ${here}`);
      const target = Buffer.from(e.data).toString("utf8");
      if (target.startsWith("/")) done.length = 0;
      pending = [...target.split("/").filter((x) => x !== "" && x !== "."), ...pending];
      continue;
    }
    done.push(c);
  }
  return done.join("/");
}
