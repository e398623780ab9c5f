import { createRequire } from "node:module";

/**
 * Copies each [srcFd, srcOffset, dstOffset, length] of `ranges` into `dstFd`, leaving
 * `granule`-aligned blocks of zeros unwritten, in `chunk`-byte pieces; resolves to the bytes
 * written. `control` is shared while it runs: setting control[0] stops it (ECANCELED); it keeps
 * control[1] at the end of the last piece written. Rejects with an errno-coded Error (ENODATA: a
 * source ended early).
 */
export interface NativeCopy {
  (ranges: Float64Array, dstFd: number, granule: number, chunk: number, control: BigInt64Array): Promise<number>;
  /**
   * Appends the non-zero granules one after another from `appendAt` (each a whole granule there)
   * and sets written[i] for the i-th granule of the ranges that was.
   */
  (ranges: Float64Array, dstFd: number, granule: number, chunk: number, control: BigInt64Array, appendAt: number, written: Uint8Array): Promise<number>;
}

/** The optional addon in native/sparse.c: lseek(SEEK_DATA / SEEK_HOLE) and a copy loop, which Node's fs lacks. */
export interface SparseAddon {
  seek(fd: number, offset: number, whence: 0 | 1): number;
  /** Absent from an addon built before it existed. */
  copy?: NativeCopy;
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
