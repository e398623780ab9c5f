import type { InspectError } from "../errors.js";
import type { GuestFile, GuestStat, ListedEntry, ListOptions, NodeAttributes, ReadFileOptions, WriteOptions } from "../fs/filesystem.js";

export type { FileType, Filesystem, GuestFile, GuestStat, ListedEntry, ListOptions, ReadFileOptions } from "../fs/filesystem.js";

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
  /**
   * Every entry of a directory (resolved as `readdir` resolves it) described in one call, in no
   * particular order: what `readdir`, then `lstat`, `readlink` and `xattrs` of each name would
   * tell, at a fraction of their cost. Optional: sources that can list in bulk offer it.
   */
  list?(path: string, options?: ListOptions): Promise<ListedEntry[]>;
  /**
   * Whole regular files (resolved as `openFile` resolves them) read into the given buffers, many
   * per round trip — each from its start, up to its buffer's length. Per file: the bytes read
   * (fewer when the file is shorter than its buffer), or why it could not be read. Optional:
   * sources where a batch costs less than a call per file offer it.
   */
  readFiles?(requests: readonly { path: string; buffer: Uint8Array }[]): Promise<(number | InspectError)[]>;
}

/**
 * A whole guest opened for writing (through an overlay, or an image the user named for in-place
 * edits): the calls of `WritableFilesystem` by guest path. Paths resolve in guest space as for
 * reading — symlinks inside the guest, across its mounts — except that the last component of a
 * path being created, removed or renamed is never followed. A write lands on the filesystem the
 * guest mounts there (a write to /var/x goes to the /var filesystem).
 */
export interface WritableGuestFS extends GuestFS {
  readonly writable: true;
  writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes?: NodeAttributes, options?: WriteOptions): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  mkdir(path: string, attributes?: NodeAttributes): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  symlink(target: string, path: string, attributes?: NodeAttributes): Promise<void>;
  link(existing: string, path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mknod(path: string, type: "chardev" | "blockdev" | "fifo" | "socket", attributes?: NodeAttributes & { rdevMajor?: number; rdevMinor?: number }): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  setxattr(path: string, name: string, value: Uint8Array): Promise<void>;
  removexattr(path: string, name: string): Promise<void>;
  /** The mountpoint of the filesystem that holds `path` (for reports: which filesystem an edit touches). */
  mountpointOf(path: string): Promise<string>;
  /** Writes every pending change of every filesystem to its device. */
  flush(): Promise<void>;
}
