import type { Filesystem } from "../fs/filesystem.js";
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
  const locate = mountLocator(mounts);
  return {
    lstat: async (path) => {
      const { fs, inner, dev } = locate(path);
      return { ...(await fs.lstat(inner)), dev };
    },
    readdir: (path) => {
      const { fs, inner } = locate(path);
      return fs.readdir(inner);
    },
    readFile: (path, options) => {
      const { fs, inner } = locate(path);
      return fs.readFile(inner, options);
    },
    openFile: (path) => {
      const { fs, inner } = locate(path);
      return fs.openFile(inner);
    },
    readlink: (path) => {
      const { fs, inner } = locate(path);
      return fs.readlink(inner);
    },
    xattrs: (path) => {
      const { fs, inner } = locate(path);
      return fs.xattrs(inner);
    },
    async close() {
      await Promise.allSettled(mounts.map((m) => m.fs.close()));
    },
  };
}

/**
 * Where a physical path lives: its mount (index in `mounts`, which is the `dev` of its files, so
 * (dev, ino) is unique) and the path inside that filesystem.
 */
export function mountLocator<M extends Mount>(mounts: readonly M[]): (path: string) => { mount: M; fs: M["fs"]; inner: string; dev: number } {
  const ordered = [...mounts].sort((a, b) => b.mountpoint.length - a.mountpoint.length);
  const devOf = new Map(mounts.map((m, index) => [m, index] as const));
  return (path) => {
    for (const m of ordered) {
      const dev = devOf.get(m)!;
      if (m.mountpoint === "/") return { mount: m, fs: m.fs, inner: path, dev };
      if (path === m.mountpoint) return { mount: m, fs: m.fs, inner: "/", dev };
      if (path.startsWith(m.mountpoint + "/")) return { mount: m, fs: m.fs, inner: path.slice(m.mountpoint.length), dev };
    }
    // Mount lists always contain "/"; this only guards a misuse.
    throw new Error(`no filesystem is mounted at / (asked for ${path})`);
  };
}
