import { createRequire } from "node:module";

/** The optional addon in native/hostfs.c: what the directory source needs and Node's fs lacks. */
export interface HostAddon {
  xattrs(path: string, follow: boolean): [string, Uint8Array][];
  seek(fd: number, offset: number, whence: 0 | 1): number;
  /** An O_PATH descriptor of `path` resolved by the kernel inside `rootFd`'s tree (openat2, RESOLVE_IN_ROOT). */
  openInRoot(rootFd: number, path: string, follow: boolean): number;
  /** The target of the symlink an O_PATH descriptor holds. */
  readlinkFd(fd: number): string;
  /**
   * Every entry of a directory resolved inside `rootFd`'s tree, described in one call: names, a
   * Float64Array of `LIST_STAT_FIELDS` numbers per entry (see directory-guest.ts), and sparse
   * arrays of link targets, xattrs and errno names of entries that could not be described.
   */
  listDirectory(rootFd: number, path: string, withXattrs: boolean): [string[], Float64Array, (string | undefined)[], ([string, Uint8Array][] | undefined)[], (string | undefined)[]];
  /** `path` resolved inside the tree and, when a regular file, opened for reading: [fd, size, "f"]; otherwise [-1, size, "d" | "l" | "o"]. */
  openRegular(rootFd: number, path: string, follow: boolean): [number, number, string];
  /** Whole regular files read into `buffers` on libuv's pool: per file the bytes read, or an errno name ("ENOTREG": not a regular file). */
  readFiles(rootFd: number, paths: string[], buffers: Uint8Array[]): Promise<(number | string)[]>;
}

let loaded: { addon: HostAddon | null; why: string } | undefined;

/**
 * The addon, or null with the reason where it was not built (no compiler when the package was
 * built, another platform) or is switched off with LEAPP_INSPECT_NATIVE=0.
 */
export function hostAddon(): { addon: HostAddon | null; why: string } {
  if (process.env.LEAPP_INSPECT_NATIVE === "0") return { addon: null, why: "LEAPP_INSPECT_NATIVE=0 switches it off" };
  if (loaded === undefined) {
    const file = `native/prebuilds/${process.platform}-${process.arch}/hostfs.node`;
    try {
      // dist/index.js and src/guestfs/host-addon.ts: the package root is one or two folders up.
      const require = createRequire(import.meta.url);
      let addon: HostAddon;
      try {
        addon = require(`../${file}`) as HostAddon;
      } catch {
        addon = require(`../../${file}`) as HostAddon;
      }
      loaded = { addon, why: "" };
    } catch (err) {
      loaded = { addon: null, why: `@leapp/inspect's ${file} is missing or cannot load (${(err as Error).message.split("\n")[0]}); rebuild the package on a host with a C compiler` };
    }
  }
  return loaded;
}
