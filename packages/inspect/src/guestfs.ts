/** The kind of a directory entry, as lstat tells it. */
export type FileType = "file" | "directory" | "symlink" | "chardev" | "blockdev" | "fifo" | "socket" | "unknown";

export interface GuestStat {
  type: FileType;
  /** Permission bits (0o7777). */
  mode: number;
  size: number;
  uid: number;
  gid: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
}

export interface ReadFileOptions {
  /** Refuse (INSPECT_TOO_LARGE) files larger than this; guests are hostile. Default 64 MiB. */
  maxBytes?: number;
}

/**
 * Read-only file access to a whole guest, by absolute guest paths. Symlinks resolve inside the
 * guest: an absolute link target means the guest's `/`, never the host's, and `..` stops at `/`.
 */
export interface GuestFS {
  stat(path: string): Promise<GuestStat>;
  lstat(path: string): Promise<GuestStat>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  /** Entry names of a directory, without `.` and `..`. */
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * One filesystem read from a block device — the driver interface (ext2/3/4, XFS, …). Paths are
 * absolute within this filesystem and never follow symlinks: every component but the last must be
 * a directory. Resolving links and mount points is GuestFS's job, above the drivers.
 */
export interface Filesystem {
  readonly type: string;
  readonly uuid: string | undefined;
  readonly label: string | undefined;
  lstat(path: string): Promise<GuestStat>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  readlink(path: string): Promise<string>;
  close(): Promise<void>;
}
