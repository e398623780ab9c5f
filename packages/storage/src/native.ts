import { createRequire } from "node:module";

/** The optional addon in native/sparse.c: lseek(SEEK_DATA / SEEK_HOLE), which Node's fs lacks. */
export interface SparseAddon {
  seek(fd: number, offset: number, whence: 0 | 1): number;
}

let loaded: SparseAddon | null | undefined;

/**
 * The SEEK_DATA/SEEK_HOLE addon, or null where it was not built (no compiler at install, another
 * platform) or is switched off with LEAPP_STORAGE_NATIVE=0; callers then scan for holes instead.
 */
export function sparseAddon(): SparseAddon | null {
  if (process.env.LEAPP_STORAGE_NATIVE === "0") return null;
  if (loaded === undefined) {
    try {
      // dist/index.js and src/native.ts both sit one folder below native/.
      loaded = createRequire(import.meta.url)(`../native/prebuilds/${process.platform}-${process.arch}/sparse.node`) as SparseAddon;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/**
 * The next offset at or after `offset` that holds data (or, for "hole", that is a hole; the end
 * of the file counts as one), -1 when there is none; undefined when the file system cannot tell.
 */
export function seekSparse(addon: SparseAddon, fd: number, offset: number, what: "data" | "hole"): number | undefined {
  try {
    return addon.seek(fd, offset, what === "data" ? 0 : 1);
  } catch {
    return undefined;
  }
}
