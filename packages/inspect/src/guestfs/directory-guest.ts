import { constants, type BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink, realpath } from "node:fs/promises";
import { InspectError } from "../errors.js";
import type { FileType, GuestStat } from "./guestfs.js";
import type { InspectableGuest } from "./guest-source.js";
import type { PhysicalTree } from "./physical-tree.js";
import { resolvingGuestFS } from "./resolving-guestfs.js";
import { hostErrorToInspect, DEFAULT_MAX_BYTES } from "../read-limits.js";

/**
 * A guest whose root tree is a directory on this host (a chroot, an unpacked image, a container
 * root). Links are resolved by us in guest space, so an absolute link `/etc/x -> /etc/shadow`
 * reads the guest's shadow file and `../../..` stops at the tree's root — never the host's files.
 */
export async function openDirectoryGuest(dir: string): Promise<InspectableGuest> {
  let root: string;
  try {
    root = await realpath(dir);
    const st = await lstat(root);
    if (!st.isDirectory()) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${dir} is not a directory; give the root directory of a guest tree`, { path: dir });
  } catch (err) {
    throw hostErrorToInspect(err, dir);
  }
  return Object.assign(resolvingGuestFS(hostTree(root)), { context: { kind: "directory" as const, location: [root] } });
}

function hostTree(root: string): PhysicalTree {
  // The resolver hands us physical paths (no symlink in a directory component, no `..`), so a
  // plain concatenation stays inside `root`; O_NOFOLLOW guards the last component against a link
  // swapped in after the check.
  const host = (path: string) => (path === "/" ? root : root + path);
  return {
    async lstat(path) {
      try {
        return toGuestStat(await lstat(host(path), { bigint: true }));
      } catch (err) {
        throw hostErrorToInspect(err, path);
      }
    },
    async readdir(path) {
      try {
        return await readdir(host(path));
      } catch (err) {
        throw hostErrorToInspect(err, path);
      }
    },
    async readlink(path) {
      try {
        return await readlink(host(path));
      } catch (err) {
        throw hostErrorToInspect(err, path);
      }
    },
    async readFile(path, options = {}) {
      const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
      let handle;
      try {
        handle = await open(host(path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (err) {
        throw hostErrorToInspect(err, path);
      }
      try {
        const st = await handle.stat();
        if (st.isDirectory()) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory in the guest, not a file`, { path });
        if (!st.isFile()) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file in the guest`, { path });
        if (st.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} in the guest is ${st.size} bytes, more than the ${maxBytes} allowed`, { path });
        const buffer = new Uint8Array(st.size);
        let got = 0;
        while (got < buffer.length) {
          const { bytesRead } = await handle.read(buffer, got, buffer.length - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === buffer.length ? buffer : buffer.subarray(0, got);
      } catch (err) {
        throw hostErrorToInspect(err, path);
      } finally {
        await handle.close();
      }
    },
    async openFile(path) {
      let handle;
      try {
        handle = await open(host(path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (err) {
        throw hostErrorToInspect(err, path);
      }
      try {
        const st = await handle.stat();
        if (st.isDirectory()) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory in the guest, not a file`, { path });
        if (!st.isFile()) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file in the guest`, { path });
        const file = handle;
        return {
          size: st.size,
          async read(buffer, position) {
            let got = 0;
            while (got < buffer.length) {
              const { bytesRead } = await file.read(buffer, got, buffer.length - got, position + got);
              if (bytesRead === 0) break;
              got += bytesRead;
            }
            return got;
          },
          async *dataRanges() {
            if (st.size > 0) yield { offset: 0, length: st.size };
          },
          close: () => file.close(),
        };
      } catch (err) {
        await handle.close();
        throw hostErrorToInspect(err, path);
      }
    },
    async xattrs(path) {
      throw new InspectError("INSPECT_UNSUPPORTED", `${path}: reading extended attributes from a root tree is not implemented yet`, { path });
    },
    async close() {},
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
    mtimeMs: Number(st.mtimeMs),
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
