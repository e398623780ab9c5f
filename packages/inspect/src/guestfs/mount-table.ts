import { InspectError } from "../errors.js";
import type { Filesystem, ListedEntry } from "../fs/filesystem.js";
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
  const mountpoints = new Set(mounts.map((m) => m.mountpoint));
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
    async list(path, options = {}) {
      const { fs, inner, dev } = locate(path);
      const prefix = path === "/" ? "/" : path + "/";
      const listed: ListedEntry[] = fs.list ? await fs.list(inner, options) : await Promise.all((await fs.readdir(inner)).map((name) => describe(fs, (inner === "/" ? "/" : inner + "/") + name, name, options.xattrs === true)));
      return Promise.all(
        listed.map(async (entry) => {
          // A mountpoint is the root of the filesystem mounted there, not the directory beneath it.
          if (mountpoints.has(prefix + entry.name)) {
            const mounted = locate(prefix + entry.name);
            return describe(mounted.fs, "/", entry.name, options.xattrs === true, mounted.dev);
          }
          // The listing's objects are fresh, ours to complete.
          if (entry.stat) entry.stat.dev = dev;
          return entry;
        }),
      );
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

/** One name described by a filesystem's calls (for filesystems without a bulk listing, and mountpoints). */
async function describe(fs: Filesystem, inner: string, name: string, xattrs: boolean, dev = 0): Promise<ListedEntry> {
  try {
    const stat = { ...(await fs.lstat(inner)), dev };
    const entry: ListedEntry = { name, stat };
    if (stat.type === "symlink") entry.linkTarget = await fs.readlink(inner);
    if (xattrs) {
      const found = await fs.xattrs(inner);
      if (found.size > 0) entry.xattrs = found;
    }
    return entry;
  } catch (err) {
    if (!(err instanceof InspectError) || err.code === "INSPECT_CLOSED") throw err;
    return { name, error: err };
  }
}
