import { close, constants, fstat, lstat, open, read, readdir, readlink, realpath, type BigIntStats } from "node:fs";
import { promisify } from "node:util";
import { InspectError } from "../errors.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";
import type { FileType, GuestFile, GuestStat } from "./guestfs.js";
import type { InspectableGuest } from "./guest-source.js";
import { hostAddon } from "./host-addon.js";
import { hostErrorToInspect } from "./host-errors.js";
import type { DirectoryTree, Lookup } from "./physical-tree.js";
import { resolvingTreeFS } from "./resolving-guestfs.js";

const openFd = promisify(open);
const closeFd = promisify(close);
const fstatBig = (fd: number) => promisify(fstat)(fd, { bigint: true }) as Promise<BigIntStats>;
const lstatBig = (path: string) => promisify(lstat)(path, { bigint: true }) as Promise<BigIntStats>;
const readdirNames = (path: string) => promisify(readdir)(path) as Promise<string[]>;
const readlinkText = (path: string) => promisify(readlink)(path) as Promise<string>;
const readAt = promisify(read);

/** open(2)'s O_PATH (Linux; the same value on every architecture Node runs on): a handle that reads nothing. */
const O_PATH = 0o10000000;
/** How often a lookup is retried when the entry changes kind between two calls (a live tree). */
const RACE_RETRIES = 8;

/**
 * A guest whose root tree is a directory on this host (a chroot, an unpacked image, a running
 * container's root). Paths are resolved by us in guest space, one component at a time on open
 * directory descriptors: each step opens the next name relative to the directory already
 * reached, never following it (`O_PATH|O_NOFOLLOW`, through `/proc/self/fd/N/name`), and reads
 * a link's target to resolve it in the guest. A directory swapped for a link to the host's files
 * between two calls is seen as the link it now is, so no guest path reaches a host file.
 */
export async function openDirectoryGuest(dir: string): Promise<InspectableGuest> {
  if (process.platform !== "linux") throw new InspectError("INSPECT_UNSUPPORTED", "root trees are read through Linux's /proc/self/fd; inspect them on Linux");
  let root: string;
  let rootFd: number;
  try {
    root = await promisify(realpath)(dir);
    rootFd = await openFd(root, O_PATH | constants.O_DIRECTORY);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOTDIR") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${dir} is not a directory; give the root directory of a guest tree`, { path: dir, cause: err });
    throw hostErrorToInspect(err, dir);
  }
  const tree = descriptorTree(rootFd, root);
  return Object.assign(resolvingTreeFS(tree), { context: { kind: "directory" as const, location: [root] } });
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
      handle = await openFd(at(dir, name), O_PATH | constants.O_NOFOLLOW);
    } catch (err) {
      throw fail(err, name);
    }
    try {
      const st = await fstatBig(handle);
      if (st.isDirectory()) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${name} is a directory in the guest, not a file`, { path: name });
      if (st.isSymbolicLink()) throw new InspectError("INSPECT_CHANGED", `${name} changed into a symbolic link while it was read; inspect a guest that is not being modified, or try again`, { path: name });
      if (!st.isFile()) throw new InspectError("INSPECT_UNSUPPORTED", `${name} is not a regular file in the guest`, { path: name });
      // Reopening the O_PATH handle through /proc opens that very inode: nothing can be swapped in.
      const fd = await openFd(at(handle), constants.O_RDONLY | constants.O_NOCTTY);
      return { fd, st };
    } catch (err) {
      throw fail(err, name);
    } finally {
      await closeFd(handle).catch(() => {});
    }
  }

  return {
    root: rootFd,
    async lookup(dir, name): Promise<Lookup<number>> {
      for (let attempt = 0; ; attempt++) {
        check();
        let fd: number;
        try {
          fd = await openFd(at(dir, name), O_PATH | constants.O_NOFOLLOW);
        } catch (err) {
          throw fail(err, name);
        }
        let type: "directory" | "symlink" | "other";
        try {
          const st = await fstatBig(fd);
          type = st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
        } catch (err) {
          await closeFd(fd).catch(() => {});
          throw fail(err, name);
        }
        if (type === "directory") return { kind: "directory", dir: fd };
        await closeFd(fd).catch(() => {});
        if (type === "other") return { kind: "other" };
        try {
          return { kind: "symlink", target: await readlinkText(at(dir, name)) };
        } catch (err) {
          // EINVAL: no longer a link (swapped back meanwhile); look again.
          if ((err as { code?: string }).code !== "EINVAL" || attempt >= RACE_RETRIES) throw fail(err, name);
        }
      }
    },
    async release(fd) {
      if (fd !== rootFd) await closeFd(fd).catch(() => {});
    },
    async lstat(dir, name) {
      check();
      try {
        return toGuestStat(name === undefined ? await fstatBig(dir) : await lstatBig(at(dir, name)));
      } catch (err) {
        throw fail(err, name);
      }
    },
    async readdir(dir) {
      check();
      try {
        return await readdirNames(at(dir));
      } catch (err) {
        throw fail(err, undefined);
      }
    },
    async readlink(dir, name) {
      check();
      try {
        return await readlinkText(at(dir, name));
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
        await closeFd(fd).catch(() => {});
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
      await closeFd(rootFd).catch(() => {});
    },
  };
}

async function readFully(fd: number, buffer: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < buffer.length) {
    const { bytesRead } = await readAt(fd, buffer, got, buffer.length - got, position + got);
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
      await closeFd(fd).catch(() => {});
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
