import type { GuestFile, GuestStat, ReadFileOptions } from "../fs/filesystem.js";

export type { FileType, Filesystem, GuestFile, GuestStat, ReadFileOptions } from "../fs/filesystem.js";

/**
 * Read-only file access to a whole guest, by absolute guest paths. Symlinks resolve inside the
 * guest: an absolute link target means the guest's `/`, never the host's, and `..` stops at `/`.
 */
export interface GuestFS {
  stat(path: string): Promise<GuestStat>;
  lstat(path: string): Promise<GuestStat>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  /** Opens a regular file (following links) for positional reads: large files stream. */
  openFile(path: string): Promise<GuestFile>;
  /** Entry names of a directory, without `.` and `..`. */
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  /** Extended attributes of the file itself (a link's own, never its target's). */
  xattrs(path: string): Promise<Map<string, Uint8Array>>;
  exists(path: string): Promise<boolean>;
  close(): Promise<void>;
}
