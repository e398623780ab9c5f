import type { BlockDevice } from "@leapp/storage";
import type { InspectError } from "../errors.js";

/** The kind of a directory entry, as lstat tells it. */
export type FileType = "file" | "directory" | "symlink" | "chardev" | "blockdev" | "fifo" | "socket" | "unknown";

/**
 * What lstat tells of one file, from every source alike (filesystem drivers, root trees, live
 * hosts): enough to archive a root filesystem faithfully (hard links, devices, nanosecond times)
 * and to convert it.
 */
export interface GuestStat {
  type: FileType;
  /** Permission bits (0o7777). */
  mode: number;
  size: number;
  uid: number;
  gid: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
  /** Times in nanoseconds since the epoch (whole seconds where the source keeps no more). */
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Inode number: with `dev`, the same pair means the same file (hard links). */
  ino: number;
  /** Identifies the filesystem the file lives on inside the guest (a mount); 0 for single-filesystem sources. */
  dev: number;
  /** Number of hard links. */
  nlink: number;
  /** Device numbers of a character or block device node; 0 otherwise. */
  rdevMajor: number;
  rdevMinor: number;
}

export interface ReadFileOptions {
  /** Refuse (INSPECT_TOO_LARGE) files larger than this; guests are hostile. Default 64 MiB. */
  maxBytes?: number;
}

/**
 * One entry of a directory as a bulk listing (`GuestFS.list`, `Filesystem.list`) describes it:
 * what `lstat`, `readlink` and `xattrs` of that name would say — or, for an entry that could not
 * be described (it vanished between the listing and its stat, its inode is damaged…), why.
 */
export type ListedEntry =
  | {
      name: string;
      stat: GuestStat;
      /** A symbolic link's target. */
      linkTarget?: string;
      /** The entry's own extended attributes, when asked for and it has any. */
      xattrs?: Map<string, Uint8Array>;
      error?: undefined;
    }
  | { name: string; error: InspectError; stat?: undefined; linkTarget?: undefined; xattrs?: undefined };

export interface ListOptions {
  /** Read each entry's extended attributes too (INSPECT_UNSUPPORTED where the source cannot). */
  xattrs?: boolean;
}

/** A regular file opened for positional reads, so large files stream instead of sitting in memory. */
export interface GuestFile {
  readonly size: number;
  /** Fills `buffer` from `position`; returns the bytes read (fewer only at the end of the file). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /**
   * The ranges of the file that hold data, in order; the gaps are holes that read as zeros.
   * Sources that cannot tell report the whole file as one range.
   */
  dataRanges(): AsyncIterable<{ offset: number; length: number }>;
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
  readonly writable: boolean;
  lstat(path: string): Promise<GuestStat>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  openFile(path: string): Promise<GuestFile>;
  readlink(path: string): Promise<string>;
  /** Extended attributes of the file itself (never following a link), name → value. */
  xattrs(path: string): Promise<Map<string, Uint8Array>>;
  /** Optional: every entry of a directory described at once (see `ListedEntry`), in no particular order. */
  list?(path: string, options?: ListOptions): Promise<ListedEntry[]>;
  /**
   * The byte ranges of the device this filesystem marks free (bitmaps, free-space trees), in
   * order and not overlapping: a copy may skip them, as virt-v2v's fstrim step does.
   */
  freeRanges(): AsyncIterable<{ offset: number; length: number }>;
  close(): Promise<void>;
}

/** Ownership, permissions and times a new file, directory, link or node is created with. */
export interface NodeAttributes {
  /** Permission bits (0o7777); defaults: 0o644 files, 0o755 directories, 0o777 symlinks, 0o644 nodes. */
  mode?: number;
  /** Default 0 (root), as files created by a customization of a guest are. */
  uid?: number;
  gid?: number;
  /** Default: now. */
  atimeNs?: bigint;
  mtimeNs?: bigint;
}

/** Long writes take a signal; an aborted write leaves the filesystem consistent (fsck-clean). */
export interface WriteOptions {
  signal?: AbortSignal;
}

/** Space and inode counts, as statfs tells them. */
export interface FilesystemUsage {
  blockSize: number;
  totalBlocks: number;
  freeBlocks: number;
  totalInodes: number;
  freeInodes: number;
}

/**
 * A filesystem opened for writing over a writable device (an overlay or an image the user named
 * for in-place edits — never a source). Semantics are those of the POSIX calls of the same names
 * on a mounted filesystem, with typed errors (INSPECT_EXISTS, INSPECT_NOT_EMPTY, INSPECT_NO_SPACE,
 * INSPECT_INVALID_NAME, …). Changes are visible to reads at once; `flush` writes them out so that
 * the device holds a consistent filesystem that the kernel's fsck finds clean.
 */
export interface WritableFilesystem extends Filesystem {
  readonly writable: true;
  /**
   * Creates a regular file, or replaces the content of an existing one in place (same inode: hard
   * links see the new content; mode and owner kept unless given). Content is streamed when it is
   * an iterable. Never follows a symlink at `path`: a symlink there is INSPECT_EXISTS.
   */
  writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes?: NodeAttributes, options?: WriteOptions): Promise<void>;
  /** Sets a regular file's size: shrinking frees blocks, growing adds a hole. */
  truncate(path: string, size: number): Promise<void>;
  mkdir(path: string, attributes?: NodeAttributes): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** Removes a name that is not a directory; the inode is freed with its last link. */
  unlink(path: string): Promise<void>;
  symlink(target: string, path: string, attributes?: NodeAttributes): Promise<void>;
  /** A new hard link `path` to the existing non-directory `existing`. */
  link(existing: string, path: string): Promise<void>;
  /** As rename(2): replaces an existing file or empty directory at `to`; a directory cannot move into itself. */
  rename(from: string, to: string): Promise<void>;
  /** A device node, FIFO or socket. */
  mknod(path: string, type: "chardev" | "blockdev" | "fifo" | "socket", attributes?: NodeAttributes & { rdevMajor?: number; rdevMinor?: number }): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  setxattr(path: string, name: string, value: Uint8Array): Promise<void>;
  removexattr(path: string, name: string): Promise<void>;
  usage(): Promise<FilesystemUsage>;
  /** Writes every pending change to the device and flushes it. */
  flush(): Promise<void>;
}

/** Opening options of a filesystem driver. */
export interface OpenFilesystemOptions {
  /**
   * Open for writing: the device must be writable, the filesystem clean (no journal or log to
   * replay) and use only features the driver writes correctly; otherwise a typed error.
   */
  writable?: boolean;
}

/**
 * A filesystem driver: one per filesystem family, behind one conformance suite
 * (fs/conformance.ts for reading, fs/writable-conformance.ts for writing).
 */
export interface FilesystemDriver {
  /** The identified types (block/identify.ts) this driver opens. */
  readonly types: readonly string[];
  open(device: BlockDevice, options: OpenFilesystemOptions & { writable: true }): Promise<WritableFilesystem>;
  open(device: BlockDevice, options?: OpenFilesystemOptions): Promise<Filesystem>;
}
