import type { Filesystem } from "./guestfs.js";
import type { PhysicalTree } from "./physical-tree.js";

/** A filesystem mounted at a guest path. */
export interface Mount {
  mountpoint: string;
  fs: Filesystem;
}

/**
 * Several filesystems as one tree, the way the guest mounts them: a physical path belongs to the
 * filesystem with the longest mountpoint that prefixes it. Physical paths hold no symlinks, so the
 * lexical prefix test is the real one; the resolver above crosses mount points transparently.
 */
export function mountTree(mounts: readonly Mount[]): PhysicalTree {
  const ordered = [...mounts].sort((a, b) => b.mountpoint.length - a.mountpoint.length);
  const locate = (path: string): { fs: Filesystem; inner: string } => {
    for (const m of ordered) {
      if (m.mountpoint === "/") return { fs: m.fs, inner: path };
      if (path === m.mountpoint) return { fs: m.fs, inner: "/" };
      if (path.startsWith(m.mountpoint + "/")) return { fs: m.fs, inner: path.slice(m.mountpoint.length) };
    }
    // Mount lists always contain "/"; this only guards a misuse.
    throw new Error(`no filesystem is mounted at / (asked for ${path})`);
  };
  return {
    lstat: (path) => {
      const { fs, inner } = locate(path);
      return fs.lstat(inner);
    },
    readdir: (path) => {
      const { fs, inner } = locate(path);
      return fs.readdir(inner);
    },
    readFile: (path, options) => {
      const { fs, inner } = locate(path);
      return fs.readFile(inner, options);
    },
    readlink: (path) => {
      const { fs, inner } = locate(path);
      return fs.readlink(inner);
    },
    async close() {
      await Promise.allSettled(mounts.map((m) => m.fs.close()));
    },
  };
}
