import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, readlinkSync, realpathSync, type BigIntStats } from "node:fs";
import { InspectError } from "../errors.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";
import { typeOfMode } from "../fs/inode-filesystem.js";
import type { FileType, GuestFile, GuestStat, ListedEntry } from "./guestfs.js";
import type { InspectableGuest } from "./guest-source.js";
import { isFatal } from "./guest-reader.js";
import { MAX_PATH_LENGTH, splitGuestPath } from "./guest-path.js";
import type { GuestFS } from "./guestfs.js";
import { hostAddon, type HostAddon } from "./host-addon.js";
import { hostErrorToInspect } from "./host-errors.js";
import type { DirectoryTree, Lookup } from "./physical-tree.js";
import { resolvingTreeFS } from "./resolving-guestfs.js";

// Metadata calls are synchronous: each is a few microseconds on a local tree, where a trip through
// libuv's thread pool costs ten times that, and a walk makes dozens per entry. File data is read
// asynchronously.
const openFd = (path: string, flags: number) => openSync(path, flags);
const closeFd = (fd: number) => {
  try {
    closeSync(fd);
  } catch {
    // closing is best effort: the descriptor is gone either way
  }
};
const fstatBig = (fd: number) => fstatSync(fd, { bigint: true });
const lstatBig = (path: string) => lstatSync(path, { bigint: true });

/** open(2)'s O_PATH (Linux; the same value on every architecture Node runs on): a handle that reads nothing. */
const O_PATH = 0o10000000;
/** How often a lookup is retried when the entry changes kind between two calls (a live tree). */
const RACE_RETRIES = 8;

/**
 * A guest whose root tree is a directory on this host (a chroot, an unpacked image, a running
 * container's root). No path is ever handed to the host whole: the kernel resolves it inside the
 * tree (openat2 with RESOLVE_IN_ROOT, through the hostfs addon: absolute links and `..` stay in
 * the tree, atomically) or, where that is missing, we resolve it one component at a time on open
 * directory descriptors, never following a name (`O_PATH|O_NOFOLLOW` through
 * `/proc/self/fd/N/name`) and reading a link's target to resolve it in the guest. Files are opened
 * by reopening the descriptor that was resolved. A directory swapped for a link to the host's
 * files between two calls is seen as the link it now is: no guest path reaches a host file.
 */
export async function openDirectoryGuest(dir: string): Promise<InspectableGuest> {
  if (process.platform !== "linux") throw new InspectError("INSPECT_UNSUPPORTED", "root trees are read through Linux's /proc/self/fd; inspect them on Linux");
  let root: string;
  let rootFd: number;
  try {
    root = realpathSync(dir);
    rootFd = openFd(root, O_PATH | constants.O_DIRECTORY);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOTDIR") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${dir} is not a directory; give the root directory of a guest tree`, { path: dir, cause: err });
    throw hostErrorToInspect(err, dir);
  }
  const { addon } = hostAddon();
  const guest = addon && resolvesInRoot(addon, rootFd) ? kernelResolvedGuest(addon, rootFd) : resolvingTreeFS(descriptorTree(rootFd, root));
  return Object.assign(guest, { context: { kind: "directory" as const, location: [root] } });
}

/** Whether this kernel has openat2 (Linux 5.6 and later). */
function resolvesInRoot(addon: HostAddon, rootFd: number): boolean {
  try {
    closeFd(addon.openInRoot(rootFd, ".", true));
    return true;
  } catch {
    return false;
  }
}

/** The directory source where the kernel resolves each guest path inside the tree, in one call. */
function kernelResolvedGuest(addon: HostAddon, rootFd: number): GuestFS {
  let open = true;
  const check = () => {
    if (!open) throw new InspectError("INSPECT_CLOSED", "the guest was closed; open it again to read from it");
  };
  /**
   * A guest path as the kernel takes it: RESOLVE_IN_ROOT reads a leading `/` as the tree's root
   * and stops `..` there, so a path needs no splitting — only the checks splitGuestPath makes.
   */
  const inTree = (path: string): string => {
    if (path.length > MAX_PATH_LENGTH || path.includes("\0")) splitGuestPath(path); // throws the typed error
    if (path.length > MAX_PATH_LENGTH / 3 && Buffer.byteLength(path) > MAX_PATH_LENGTH) throw new InspectError("INSPECT_NOT_FOUND", `guest path is longer than ${MAX_PATH_LENGTH} bytes`, { path: path.slice(0, 80) + "…" });
    // A trailing `/` or `/.` would make the kernel follow a last component that is a link.
    if (path === "" || path.endsWith("/") || path.endsWith("/.")) return splitGuestPath(path).join("/") || ".";
    return path;
  };
  const resolveError = (err: unknown, path: string): unknown => {
    if ((err as { code?: string }).code === "ELOOP") return new InspectError("INSPECT_SYMLINK_LOOP", `too many symbolic links while resolving ${path} (a link loop in the guest?)`, { path, cause: err });
    return hostErrorToInspect(err, path);
  };
  /** An O_PATH descriptor of `path`; the caller closes it. */
  const resolve = (path: string, follow: boolean): number => {
    check();
    const where = inTree(path);
    try {
      return addon.openInRoot(rootFd, where, follow);
    } catch (err) {
      throw resolveError(err, path);
    }
  };
  /** Runs `f` on the descriptor of `path`, then closes it; host errors become InspectErrors. */
  const withFd = async <T>(path: string, follow: boolean, f: (fd: number) => T | Promise<T>): Promise<T> => {
    const fd = resolve(path, follow);
    try {
      return await f(fd);
    } catch (err) {
      throw hostErrorToInspect(err, path);
    } finally {
      closeFd(fd);
    }
  };
  /** `path` opened as a regular file in one addon call (resolved in the tree, reopened by its descriptor). */
  const openRegular = (path: string, follow = true): { fd: number; size: number } => {
    check();
    const where = inTree(path);
    let found: [number, number, string];
    try {
      found = addon.openRegular(rootFd, where, follow);
    } catch (err) {
      throw resolveError(err, path);
    }
    const [fd, size, type] = found;
    if (type === "d") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory in the guest, not a file`, { path });
    if (fd < 0) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file in the guest`, { path });
    return { fd, size };
  };
  const guest: GuestFS = {
    stat: (path) => withFd(path, true, (fd) => toGuestStat(fstatBig(fd))),
    lstat: (path) => withFd(path, false, (fd) => toGuestStat(fstatBig(fd))),
    async readFile(path, options = {}) {
      const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
      const { fd, size } = openRegular(path);
      try {
        if (size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} in the guest is ${size} bytes, more than the ${maxBytes} allowed`, { path });
        const buffer = new Uint8Array(size);
        const got = await readFully(fd, buffer, 0);
        return got === size ? buffer : buffer.subarray(0, got);
      } catch (err) {
        throw hostErrorToInspect(err, path);
      } finally {
        closeFd(fd);
      }
    },
    async openFile(path) {
      const { fd, size } = openRegular(path);
      return descriptorFile(fd, size, path);
    },
    async readFiles(requests) {
      check();
      const results: (number | InspectError)[] = new Array(requests.length);
      const paths: string[] = [];
      const buffers: Uint8Array[] = [];
      const asked: number[] = [];
      for (const [i, { path, buffer }] of requests.entries()) {
        try {
          paths.push(inTree(path));
          buffers.push(buffer);
          asked.push(i);
        } catch (err) {
          results[i] = err as InspectError;
        }
      }
      const read = paths.length > 0 ? await addon.readFiles(rootFd, paths, buffers) : [];
      for (const [j, got] of read.entries()) {
        const i = asked[j]!;
        const path = requests[i]!.path;
        if (typeof got === "number") results[i] = got;
        else if (got === "ENOTREG") results[i] = new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file in the guest`, { path });
        else results[i] = resolveError(Object.assign(new Error(`${got} reading ${path}`), { code: got }), path) as InspectError;
      }
      return results;
    },
    async list(path, options = {}) {
      check();
      const where = inTree(path);
      let listed: ReturnType<HostAddon["listDirectory"]>;
      try {
        listed = addon.listDirectory(rootFd, where, options.xattrs === true);
      } catch (err) {
        throw resolveError(err, path);
      }
      return listedEntries(path, listed);
    },
    readdir: (path) =>
      withFd(path, true, (fd) => {
        if (!fstatSync(fd).isDirectory()) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory in the guest`, { path });
        return readdirSync(`/proc/self/fd/${fd}`);
      }),
    readlink: (path) =>
      withFd(path, false, (fd) => {
        if (!fstatSync(fd).isSymbolicLink()) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a symbolic link in the guest`, { path });
        return addon.readlinkFd(fd);
      }),
    xattrs: (path) =>
      withFd(path, false, (fd) => {
        const pairs = fstatSync(fd).isSymbolicLink()
          ? linkXattrs(path)
          : // Through the descriptor's /proc link: the very inode resolved, never a link.
            addon.xattrs(`/proc/self/fd/${fd}`, true);
        return new Map(pairs.map(([key, value]) => [key, new Uint8Array(value.buffer, value.byteOffset, value.byteLength)]));
      }),
    async exists(path) {
      try {
        await guest.stat(path);
        return true;
      } catch (err) {
        if (err instanceof InspectError && !isFatal(err)) return false;
        throw err;
      }
    },
    async close() {
      if (!open) return;
      open = false;
      closeFd(rootFd);
    },
  };
  /** A symlink's own xattrs: by name in its directory, resolved in the tree, never following it. */
  const linkXattrs = (path: string): [string, Uint8Array][] => {
    const parts = splitGuestPath(path);
    const name = parts.pop() as string;
    const parent = resolve(parts.join("/") || ".", true);
    try {
      return addon.xattrs(`/proc/self/fd/${parent}/${name}`, false);
    } finally {
      closeFd(parent);
    }
  };
  return guest;
}

/** Numbers per entry in the addon's listing, in this order (hostfs.c's stat_numbers). */
const LIST_STAT_FIELDS = 18;
const NS = 1_000_000_000n;
const NO_TIME = -(2n ** 63n);

/** The addon's listing of directory `dir` as ListedEntry objects. */
function listedEntries(dir: string, [names, numbers, links, pairs, errors]: ReturnType<HostAddon["listDirectory"]>): ListedEntry[] {
  const prefix = dir.endsWith("/") ? dir : dir + "/";
  // The times, as int64 nanoseconds in the same buffer; one that did not fit comes from seconds.
  const ns = new BigInt64Array(numbers.buffer, numbers.byteOffset, numbers.length);
  const nanoseconds = (at: number, field: number) => {
    const exact = ns[at + 15 + field]!;
    return exact !== NO_TIME ? exact : BigInt(numbers[at + 4 + 2 * field]!) * NS + BigInt(numbers[at + 5 + 2 * field]!);
  };
  return names.map((name, i): ListedEntry => {
    const errno = errors[i];
    if (errno !== undefined) return { name, error: hostErrorToInspect(Object.assign(new Error(errno), { code: errno }), prefix + name) as InspectError };
    const at = i * LIST_STAT_FIELDS;
    const n = numbers;
    const mtimeNs = nanoseconds(at, 1);
    const stat: GuestStat = {
      type: typeOfMode(n[at]!),
      mode: n[at]! & 0o7777,
      size: n[at + 1]!,
      uid: n[at + 2]!,
      gid: n[at + 3]!,
      mtimeMs: Number(mtimeNs / 1_000_000n),
      atimeNs: nanoseconds(at, 0),
      mtimeNs,
      ctimeNs: nanoseconds(at, 2),
      ino: n[at + 10]!,
      dev: n[at + 11]!,
      nlink: n[at + 12]!,
      rdevMajor: n[at + 13]!,
      rdevMinor: n[at + 14]!,
    };
    const found = pairs[i];
    // One shape for every entry, whatever it holds.
    return { name, stat, linkTarget: links[i], xattrs: found && new Map(found.map(([key, value]) => [key, new Uint8Array(value.buffer, value.byteOffset, value.byteLength)])), error: undefined };
  });
}

function descriptorTree(rootFd: number, rootPath: string): DirectoryTree<number> {
  let open = true;
  /** Where `name` of directory `fd` is, for the kernel: the directory itself, not a path to it. */
  const at = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);
  const fail = (err: unknown, name: string | undefined) => hostErrorToInspect(err, name ?? rootPath);
  const check = () => {
    if (!open) throw new InspectError("INSPECT_CLOSED", "the guest was closed; open it again to read from it");
  };

  /** Opens `name` in `dir` as a regular file for reading, or says what it is instead. */
  async function openRegular(dir: number, name: string): Promise<{ fd: number; st: BigIntStats }> {
    check();
    let handle: number;
    try {
      handle = openFd(at(dir, name), O_PATH | constants.O_NOFOLLOW);
    } catch (err) {
      throw fail(err, name);
    }
    try {
      const st = fstatBig(handle);
      if (st.isDirectory()) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${name} is a directory in the guest, not a file`, { path: name });
      if (st.isSymbolicLink()) throw new InspectError("INSPECT_CHANGED", `${name} changed into a symbolic link while it was read; inspect a guest that is not being modified, or try again`, { path: name });
      if (!st.isFile()) throw new InspectError("INSPECT_UNSUPPORTED", `${name} is not a regular file in the guest`, { path: name });
      // Reopening the O_PATH handle through /proc opens that very inode: nothing can be swapped in.
      const fd = openFd(at(handle), constants.O_RDONLY | constants.O_NOCTTY);
      return { fd, st };
    } catch (err) {
      throw fail(err, name);
    } finally {
      closeFd(handle);
    }
  }

  return {
    root: rootFd,
    async lookup(dir, name): Promise<Lookup<number>> {
      for (let attempt = 0; ; attempt++) {
        check();
        let fd: number;
        try {
          fd = openFd(at(dir, name), O_PATH | constants.O_NOFOLLOW);
        } catch (err) {
          throw fail(err, name);
        }
        let type: "directory" | "symlink" | "other";
        try {
          const st = fstatSync(fd);
          type = st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
        } catch (err) {
          closeFd(fd);
          throw fail(err, name);
        }
        if (type === "directory") return { kind: "directory", dir: fd };
        closeFd(fd);
        if (type === "other") return { kind: "other" };
        try {
          return { kind: "symlink", target: readlinkSync(at(dir, name)) };
        } catch (err) {
          // EINVAL: no longer a link (swapped back meanwhile); look again.
          if ((err as { code?: string }).code !== "EINVAL" || attempt >= RACE_RETRIES) throw fail(err, name);
        }
      }
    },
    async release(fd) {
      if (fd !== rootFd) closeFd(fd);
    },
    async lstat(dir, name) {
      check();
      try {
        return toGuestStat(name === undefined ? fstatBig(dir) : lstatBig(at(dir, name)));
      } catch (err) {
        throw fail(err, name);
      }
    },
    async readdir(dir) {
      check();
      try {
        return readdirSync(at(dir));
      } catch (err) {
        throw fail(err, undefined);
      }
    },
    async readlink(dir, name) {
      check();
      try {
        return readlinkSync(at(dir, name));
      } catch (err) {
        if ((err as { code?: string }).code === "EINVAL") throw new InspectError("INSPECT_UNSUPPORTED", `${name} is not a symbolic link in the guest`, { path: name, cause: err });
        throw fail(err, name);
      }
    },
    async readFile(dir, name, options = {}) {
      const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
      const { fd, st } = await openRegular(dir, name);
      try {
        const size = Number(st.size);
        if (size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${name} in the guest is ${size} bytes, more than the ${maxBytes} allowed`, { path: name });
        const buffer = new Uint8Array(size);
        const got = await readFully(fd, buffer, 0);
        return got === size ? buffer : buffer.subarray(0, got);
      } catch (err) {
        throw fail(err, name);
      } finally {
        closeFd(fd);
      }
    },
    async openFile(dir, name) {
      const { fd, st } = await openRegular(dir, name);
      return descriptorFile(fd, Number(st.size), name);
    },
    async xattrs(dir, name) {
      check();
      const { addon, why } = hostAddon();
      if (!addon) throw new InspectError("INSPECT_UNSUPPORTED", `cannot read extended attributes of ${name ?? "/"}: ${why}`, { path: name ?? "/" });
      try {
        // A name: the entry itself, never followed. No name: the directory the descriptor holds (its /proc link followed).
        const pairs = name === undefined ? addon.xattrs(at(dir), true) : addon.xattrs(at(dir, name), false);
        return new Map(pairs.map(([key, value]) => [key, new Uint8Array(value.buffer, value.byteOffset, value.byteLength)]));
      } catch (err) {
        throw fail(err, name);
      }
    },
    async close() {
      if (!open) return;
      open = false;
      closeFd(rootFd);
    },
  };
}

async function readFully(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < buffer.length) {
    const bytesRead = readSync(fd, buffer, got, buffer.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** An open regular file of the tree: positional reads, and its holes from SEEK_DATA/SEEK_HOLE. */
function descriptorFile(fd: number, size: number, name: string): GuestFile {
  let closed = false;
  const check = () => {
    if (closed) throw new InspectError("INSPECT_CLOSED", `${name} was closed; open it again to read from it`, { path: name });
  };
  return {
    size,
    async read(buffer, position) {
      check();
      try {
        return await readFully(fd, buffer, position);
      } catch (err) {
        throw hostErrorToInspect(err, name);
      }
    },
    async *dataRanges() {
      check();
      const { addon } = hostAddon();
      let offset = 0;
      while (offset < size) {
        let start = offset;
        let end = size;
        if (addon) {
          try {
            start = addon.seek(fd, offset, 0);
            if (start < 0 || start >= size) return;
            end = Math.min(size, addon.seek(fd, start, 1));
          } catch {
            // The filesystem cannot tell (EINVAL): the rest is data.
            start = offset;
            end = size;
          }
        }
        if (end <= start) end = size;
        yield { offset: start, length: end - start };
        offset = end;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      closeFd(fd);
    },
  };
}

function toGuestStat(st: BigIntStats): GuestStat {
  let type: FileType = "unknown";
  if (st.isFile()) type = "file";
  else if (st.isDirectory()) type = "directory";
  else if (st.isSymbolicLink()) type = "symlink";
  else if (st.isCharacterDevice()) type = "chardev";
  else if (st.isBlockDevice()) type = "blockdev";
  else if (st.isFIFO()) type = "fifo";
  else if (st.isSocket()) type = "socket";
  return {
    type,
    mode: Number(st.mode) & 0o7777,
    size: Number(st.size),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeMs: Number(st.mtimeNs / 1_000_000n),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: Number(st.ino),
    dev: Number(st.dev),
    nlink: Number(st.nlink),
    // Linux's dev_t layout (glibc's gnu_dev_major/minor).
    rdevMajor: Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn)),
    rdevMinor: Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn)),
  };
}
