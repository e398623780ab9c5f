import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from "node:fs";
import { stat } from "node:fs/promises";
import type { ProgressListener } from "@leapp/storage";
import { InspectError } from "../errors.js";
import type { FileType, GuestStat, NodeAttributes } from "../fs/filesystem.js";
import type { WritableGuest } from "../guestfs/writable-guest.js";

/** Files up to this size are read whole; larger ones stream in pieces of this size. */
const PIECE = 1024 * 1024;

export interface CopyOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Told about what tar would skip (sockets). */
  warn?: (message: string) => void;
}

/** A guest path joined with a name. */
export const guestJoin = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir.replace(/\/+$/, "")}/${name}`);

/** A guest path's directory and last component (as written; `..` is the caller's to refuse). */
export function guestSplit(path: string): { dir: string; base: string } {
  const trimmed = path.replace(/\/+$/, "") || "/";
  const i = trimmed.lastIndexOf("/");
  return { dir: i <= 0 ? "/" : trimmed.slice(0, i), base: trimmed.slice(i + 1) };
}

function hostType(st: BigIntStats): FileType {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "chardev";
  if (st.isBlockDevice()) return "blockdev";
  if (st.isFIFO()) return "fifo";
  return st.isSocket() ? "socket" : "unknown";
}

/** Linux's dev_t split into major and minor. */
function deviceNumbers(rdev: bigint): { rdevMajor: number; rdevMinor: number } {
  return {
    rdevMajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    rdevMinor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

const hostAttributes = (st: BigIntStats): NodeAttributes => ({
  mode: Number(st.mode & 0o7777n),
  uid: Number(st.uid),
  gid: Number(st.gid),
  atimeNs: st.atimeNs,
  mtimeNs: st.mtimeNs,
});

/**
 * A host file's content: whole when small, else in pieces (memory stays flat whatever its size).
 * Small files are read synchronously: for trees of many small files, a round trip to the thread
 * pool per open, stat, read and close costs more than the reads themselves.
 */
function hostContent(path: string, size: number): Uint8Array | AsyncIterable<Uint8Array> {
  if (size <= PIECE) return readFileSync(path);
  return createReadStream(path, { highWaterMark: PIECE }) as AsyncIterable<Uint8Array>;
}

/** Bytes and files below a host path, counted before a copy so progress has a total. */
export function measureHostTree(path: string): { files: number; bytes: number } {
  const total = { files: 0, bytes: 0 };
  const walk = (p: string) => {
    const st = lstatSync(p);
    total.files++;
    if (st.isFile()) total.bytes += st.size;
    else if (st.isDirectory()) for (const name of readdirSync(p)) walk(`${p}/${name}`);
  };
  walk(path);
  return total;
}

/** Removes whatever non-directory sits at `path`, so a copy can take its place (as tar does). */
async function clear(guest: WritableGuest, path: string, incoming: FileType): Promise<GuestStat | undefined> {
  let st: GuestStat;
  try {
    st = await guest.lstat(path);
  } catch (err) {
    if (err instanceof InspectError && err.code === "INSPECT_NOT_FOUND") return undefined;
    throw err;
  }
  if (st.type === "directory") {
    if (incoming === "directory") return st;
    throw new InspectError("INSPECT_IS_A_DIRECTORY", `cannot put a ${incoming} at ${path}: a directory is there`, { path });
  }
  await guest.unlink(path);
  return undefined;
}

/**
 * Copies a host file or tree to the guest path `target` as `tar -x` run as root would: modes,
 * numeric owners, times, symlinks verbatim, hard links kept, device nodes and FIFOs made; an
 * existing directory is merged (its attributes updated), an existing file replaced.
 */
export async function copyHostTree(guest: WritableGuest, source: string, target: string, options: CopyOptions = {}): Promise<void> {
  // Counted first only for progress (one more lstat per entry).
  const total = options.onProgress ? measureHostTree(source) : { files: 0, bytes: 0 };
  const progress = { files: 0, bytes: 0 };
  const linked = new Map<string, string>();
  const report = (detail: string) => options.onProgress?.({ phase: "copy-in", done: progress.bytes, total: total.bytes, unit: "bytes", detail });

  /** `inFreshDirectory`: the guest directory was made by this copy, so nothing in it needs clearing. */
  const copy = async (host: string, guestPath: string, inFreshDirectory: boolean): Promise<void> => {
    options.signal?.throwIfAborted();
    const st = lstatSync(host, { bigint: true });
    const type = hostType(st);
    const attributes = hostAttributes(st);
    const making = async () => (inFreshDirectory ? undefined : clear(guest, guestPath, type));
    if (type !== "directory" && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = linked.get(key);
      if (first !== undefined) {
        await making();
        await guest.link(first, guestPath);
        return;
      }
      linked.set(key, guestPath);
    }
    switch (type) {
      case "directory": {
        const existing = await making();
        if (existing) {
          await guest.chmod(guestPath, attributes.mode!);
          await guest.chown(guestPath, attributes.uid!, attributes.gid!);
        } else await guest.mkdir(guestPath, attributes);
        for (const name of readdirSync(host)) await copy(`${host}/${name}`, guestJoin(guestPath, name), existing === undefined);
        // After its entries: creating them changed the directory's times.
        await guest.utimes(guestPath, attributes.atimeNs!, attributes.mtimeNs!);
        break;
      }
      case "file":
        await making();
        await guest.writeFile(guestPath, hostContent(host, Number(st.size)), attributes, { ...(options.signal ? { signal: options.signal } : {}) });
        progress.bytes += Number(st.size);
        break;
      case "symlink":
        await making();
        await guest.symlink(readlinkSync(host), guestPath, attributes);
        break;
      case "chardev":
      case "blockdev":
      case "fifo":
        await making();
        await guest.mknod(guestPath, type, { ...attributes, ...deviceNumbers(st.rdev) });
        break;
      default:
        options.warn?.(`${host} is a ${type}; skipped, as tar skips it`);
        return;
    }
    progress.files++;
    report(guestPath);
  };
  report(target);
  await copy(source, target, false);
}

/** Copies a host file's content, mode and owner to the guest file `target` (virt-customize's --upload). */
export async function uploadHostFile(guest: WritableGuest, source: string, target: string, options: CopyOptions = {}): Promise<void> {
  const st = await stat(source, { bigint: true });
  if (st.isDirectory()) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${source} is a directory on this host; --upload copies one file (use --copy-in for trees)`, { path: source });
  const real = await guest.realpath(target);
  const size = st.isFile() ? Number(st.size) : Number.MAX_SAFE_INTEGER;
  await guest.writeFile(real, hostContent(source, size), {}, { ...(options.signal ? { signal: options.signal } : {}) });
  await guest.chmod(real, Number(st.mode & 0o7777n));
  await guest.chown(real, Number(st.uid), Number(st.gid));
}

/** Copies a guest tree to another place in the guest (another filesystem), keeping everything `cp -a` keeps. */
export async function copyGuestTree(guest: WritableGuest, source: string, target: string, options: CopyOptions = {}): Promise<void> {
  const linked = new Map<string, string>();
  const copy = async (from: string, to: string): Promise<void> => {
    options.signal?.throwIfAborted();
    const st = await guest.lstat(from);
    const attributes: NodeAttributes = { mode: st.mode, uid: st.uid, gid: st.gid, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
    if (st.type !== "directory" && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = linked.get(key);
      if (first !== undefined) return guest.link(first, to);
      linked.set(key, to);
    }
    switch (st.type) {
      case "directory":
        await guest.mkdir(to, attributes);
        for (const name of await guest.readdir(from)) await copy(guestJoin(from, name), guestJoin(to, name));
        break;
      case "file":
        await guest.writeFile(to, guestContent(guest, from), attributes, { ...(options.signal ? { signal: options.signal } : {}) });
        break;
      case "symlink":
        await guest.symlink(await guest.readlink(from), to, attributes);
        break;
      case "chardev":
      case "blockdev":
      case "fifo":
      case "socket":
        await guest.mknod(to, st.type, { ...attributes, rdevMajor: st.rdevMajor, rdevMinor: st.rdevMinor });
        break;
      default:
        throw new InspectError("INSPECT_UNSUPPORTED", `${from} is of a type leapp cannot copy`, { path: from });
    }
    for (const [name, value] of await guest.xattrs(from)) await guest.setxattr(to, name, value);
    if (st.type !== "symlink") await guest.utimes(to, st.atimeNs, st.mtimeNs);
  };
  await copy(source, target);
}

/** A guest file's content in pieces. */
async function* guestContent(guest: WritableGuest, path: string): AsyncIterable<Uint8Array> {
  const file = await guest.openFile(path);
  try {
    for (let at = 0; at < file.size; ) {
      const piece = new Uint8Array(Math.min(PIECE, file.size - at));
      const n = await file.read(piece, at);
      if (n === 0) break;
      yield piece.subarray(0, n);
      at += n;
    }
  } finally {
    await file.close();
  }
}

/** rm -rf of one guest path (never following a symlink at it); a missing path is no error. */
export async function removeTree(guest: WritableGuest, path: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  let st: GuestStat;
  try {
    st = await guest.lstat(path);
  } catch (err) {
    if (err instanceof InspectError && err.code === "INSPECT_NOT_FOUND") return;
    throw err;
  }
  if (st.type !== "directory") return guest.unlink(path);
  for (const name of await guest.readdir(path)) await removeTree(guest, guestJoin(path, name), signal);
  await guest.rmdir(path);
}

/**
 * Refuses to remove or move `path` when a filesystem is mounted at or below it: the guest would
 * lose its mountpoint (and we would be emptying another filesystem).
 */
export async function checkNoMountBelow(guest: WritableGuest, path: string, what: string): Promise<void> {
  const { dir, base } = guestSplit(path);
  if (base === "." || base === "..") throw new InspectError("INSPECT_INVALID_NAME", `refusing to ${what} ${path}: name the directory itself, not "${base}"`, { path });
  const physical = base === "" ? "/" : guestJoin(await guest.realpath(dir), base);
  const held = guest.mounts.find((m) => physical === "/" || m.mountpoint === physical || m.mountpoint.startsWith(`${physical}/`));
  if (held) throw new InspectError("INSPECT_INVALID", `cannot ${what} ${path}: the guest mounts ${held.device} at ${held.mountpoint}`, { path });
}
