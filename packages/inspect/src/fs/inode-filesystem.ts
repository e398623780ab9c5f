import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../errors.js";
import type { FileType, Filesystem, GuestFile, GuestStat, ListedEntry, ListOptions, ReadFileOptions } from "./filesystem.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";
import { corrupt } from "../block/volumes-io.js";

const MAX_CACHED_DIRECTORIES = 2048;
/** Directories a read-only filesystem remembers by path (each with the inodes above it). */
const MAX_CACHED_PARENTS = 256;

/** A directory reached by a path, with the directory inodes on that path (to refuse cycles). */
interface WalkedDirectory<Id, Inode> {
  inode: Inode;
  onPath: ReadonlySet<Id>;
}

/** The file type in the S_IFMT bits of a POSIX mode, as every Unix filesystem and SFTP store it. */
export function typeOfMode(mode: number): FileType {
  switch (mode & 0o170000) {
    case 0o100000: return "file";
    case 0o040000: return "directory";
    case 0o120000: return "symlink";
    case 0o020000: return "chardev";
    case 0o060000: return "blockdev";
    case 0o010000: return "fifo";
    case 0o140000: return "socket";
    default: return "unknown";
  }
}

/** What the path layer needs of an inode; drivers keep more. */
export interface InodeBase<Id> {
  number: Id;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  rdevMajor: number;
  rdevMinor: number;
}

/** A run of a file's bytes stored contiguously on the device: `length` bytes at file offset `offset` live at device byte `at`. */
export interface DataRun {
  offset: number;
  at: number;
  length: number;
}

/**
 * A GuestFile over a file's sorted, non-overlapping data runs (the gaps read as zeros), or over
 * bytes held in the inode itself (inline data).
 */
export function runsFile(device: BlockDevice, size: number, content: DataRun[] | Uint8Array): GuestFile {
  return {
    size,
    async read(buffer, position) {
      const end = Math.min(size, position + buffer.length);
      if (position >= end) return 0;
      const want = buffer.subarray(0, end - position);
      if (content instanceof Uint8Array) {
        want.set(content.subarray(position, end));
        return want.length;
      }
      // Runs are sorted: only the gaps between them (holes) are zeroed.
      let filled = position;
      for (const run of content) {
        const from = Math.max(run.offset, filled);
        const to = Math.min(run.offset + run.length, end);
        if (from >= to) continue;
        want.fill(0, filled - position, from - position);
        await device.read(want.subarray(from - position, to - position), run.at + (from - run.offset));
        filled = to;
      }
      want.fill(0, filled - position);
      return want.length;
    },
    async *dataRanges() {
      if (content instanceof Uint8Array) {
        if (size > 0) yield { offset: 0, length: size };
        return;
      }
      for (const run of content) yield { offset: run.offset, length: run.length };
    },
    async close() {},
  };
}

/**
 * The path half of an inode-based filesystem driver (ext, XFS): walking a path from the root inode
 * through a bounded cache of directories, and the Filesystem methods built on that walk. A driver
 * supplies how to read an inode, a directory, a file's bytes and a symlink's target.
 */
export abstract class InodeFilesystem<Id extends number | bigint, Inode extends InodeBase<Id>> implements Filesystem {
  abstract readonly type: string;
  abstract readonly uuid: string | undefined;
  abstract readonly label: string | undefined;
  private readonly directories = new Map<Id, Promise<Map<string, Id>>>();
  private readonly parents = new Map<string, WalkedDirectory<Id, Inode>>();
  private closed = false;

  /** The filesystem's name in messages ("ext", "XFS"). */
  protected abstract readonly kind: string;
  protected abstract rootInodeNumber(): Id;
  protected abstract inode(number: Id): Promise<Inode>;
  /** Entry names of a directory inode mapped to their inode numbers, without `.` and `..`. */
  protected abstract readDirectory(inode: Inode): Promise<Map<string, Id>>;
  /** A regular file's bytes; refuses (INSPECT_TOO_LARGE) more than `maxBytes`. */
  protected abstract fileContent(inode: Inode, maxBytes: number, path: string): Promise<Uint8Array>;
  /** A symlink inode's target bytes. */
  protected abstract symlinkTarget(inode: Inode, path: string): Promise<Uint8Array>;
  /** A regular file inode opened for positional reads. */
  protected abstract openInode(inode: Inode, path: string): Promise<GuestFile>;
  /** The extended attributes of an inode. */
  protected abstract inodeXattrs(inode: Inode, path: string): Promise<Map<string, Uint8Array>>;
  abstract freeRanges(): AsyncIterable<{ offset: number; length: number }>;
  readonly writable: boolean = false;

  protected checkOpen(): void {
    if (this.closed) throw new InspectError("INSPECT_CLOSED", `this ${this.kind} filesystem was closed; open it again`);
  }

  /** A directory's entries through the cache; a writer changes the returned map along with the directory. */
  protected directory(inode: Inode): Promise<Map<string, Id>> {
    let entries = this.directories.get(inode.number);
    if (!entries) {
      entries = this.readDirectory(inode);
      entries.catch(() => this.directories.delete(inode.number));
      this.directories.set(inode.number, entries);
      // Bounded: a walk of a huge tree must not keep every directory it ever read.
      if (this.directories.size > MAX_CACHED_DIRECTORIES) {
        const oldest = this.directories.keys().next().value;
        if (oldest !== undefined) this.directories.delete(oldest);
      }
    }
    return entries;
  }

  /** Drops a directory's cached entries (a writer freed or rebuilt it). */
  protected forgetDirectory(number: Id): void {
    this.directories.delete(number);
  }

  protected async lookup(path: string): Promise<Inode> {
    this.checkOpen();
    if (!path.startsWith("/")) throw new InspectError("INSPECT_NOT_FOUND", `${path} is not an absolute path`, { path });
    // A read-only filesystem remembers the directories its last paths went through: a walk of a
    // whole guest asks for names one directory at a time, and need not start at the root for each.
    const slash = path.lastIndexOf("/");
    const parentPath = path.slice(0, slash) || "/";
    let parent = this.writable ? undefined : this.parents.get(parentPath);
    if (!parent) {
      const root = await this.inode(this.rootInodeNumber());
      parent = await this.walkNames({ inode: root, onPath: new Set([root.number]) }, parentPath, path);
      if (!this.writable) {
        this.parents.set(parentPath, parent);
        if (this.parents.size > MAX_CACHED_PARENTS) this.parents.delete(this.parents.keys().next().value!);
      }
    }
    return (await this.walkNames(parent, path.slice(slash + 1), path)).inode;
  }

  /** Walks the names of `names` (a path or a part of one) from `from`; `path` is what messages name. */
  private async walkNames(from: WalkedDirectory<Id, Inode>, names: string, path: string): Promise<WalkedDirectory<Id, Inode>> {
    let current = from.inode;
    let onPath = from.onPath;
    for (const name of names.split("/")) {
      if (name === "" || name === ".") continue;
      if (typeOfMode(current.mode) !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `a component of ${path} is not a directory`, { path });
      const child = (await this.directory(current)).get(name);
      if (child === undefined) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist in this filesystem`, { path });
      current = await this.inode(child);
      // Directories are never hard-linked, so meeting one twice on a path means a corrupt cycle.
      if (typeOfMode(current.mode) === "directory") {
        if (onPath.has(current.number)) throw corrupt(`${path} leads back into one of its own parent directories (inode ${current.number})`);
        onPath = new Set(onPath).add(current.number);
      }
    }
    return { inode: current, onPath };
  }

  async lstat(path: string): Promise<GuestStat> {
    return this.statOf(await this.lookup(path));
  }

  /** What lstat tells of an inode. */
  protected statOf(inode: Inode): GuestStat {
    return {
      type: typeOfMode(inode.mode),
      mode: inode.mode & 0o7777,
      size: inode.size,
      uid: inode.uid,
      gid: inode.gid,
      mtimeMs: Number(inode.mtimeNs / 1_000_000n),
      atimeNs: inode.atimeNs,
      mtimeNs: inode.mtimeNs,
      ctimeNs: inode.ctimeNs,
      ino: Number(inode.number),
      dev: 0,
      nlink: inode.nlink,
      rdevMajor: inode.rdevMajor,
      rdevMinor: inode.rdevMinor,
    };
  }

  /**
   * Every entry of a directory with its stat, link target and (when asked) xattrs: the directory
   * is looked up once and its entries' inodes read in inode order (neighbours share inode-table
   * blocks), instead of a walk from the root for every name. An entry whose inode is damaged is
   * listed with its error; the rest stand.
   */
  async list(path: string, options: ListOptions = {}): Promise<ListedEntry[]> {
    const dir = await this.lookup(path);
    if (typeOfMode(dir.mode) !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, { path });
    const entries = [...(await this.directory(dir))].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const prefix = path.endsWith("/") ? path : path + "/";
    const out: ListedEntry[] = [];
    let unreadableXattrs = false;
    for (const [name, number] of entries) {
      const child = prefix + name;
      try {
        const inode = await this.inode(number);
        const stat = this.statOf(inode);
        const linkTarget = stat.type === "symlink" ? new TextDecoder().decode(await this.symlinkTarget(inode, child)) : undefined;
        let xattrs: Map<string, Uint8Array> | undefined;
        if (options.xattrs) {
          unreadableXattrs = true;
          xattrs = await this.inodeXattrs(inode, child);
          unreadableXattrs = false;
        }
        // One shape for every entry, whatever it holds.
        out.push({ name, stat, linkTarget, xattrs: xattrs?.size ? xattrs : undefined, error: undefined });
      } catch (err) {
        // A damaged entry is that entry's problem; a closed filesystem, or xattrs this driver
        // cannot read at all, are the whole listing's.
        if (!(err instanceof InspectError) || err.code === "INSPECT_CLOSED" || (err.code === "INSPECT_UNSUPPORTED" && unreadableXattrs)) throw err;
        out.push({ name, error: err });
      }
    }
    return out;
  }

  async openFile(path: string): Promise<GuestFile> {
    const inode = await this.lookup(path);
    const type = typeOfMode(inode.mode);
    if (type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
    if (type !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is a ${type}, not a regular file`, { path });
    return this.openInode(inode, path);
  }

  async xattrs(path: string): Promise<Map<string, Uint8Array>> {
    return this.inodeXattrs(await this.lookup(path), path);
  }

  async readdir(path: string): Promise<string[]> {
    const inode = await this.lookup(path);
    if (typeOfMode(inode.mode) !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, { path });
    return [...(await this.directory(inode)).keys()];
  }

  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    const inode = await this.lookup(path);
    const type = typeOfMode(inode.mode);
    if (type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
    if (type !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is a ${type}, not a regular file`, { path });
    return this.fileContent(inode, options.maxBytes ?? DEFAULT_MAX_BYTES, path);
  }

  async readlink(path: string): Promise<string> {
    const inode = await this.lookup(path);
    if (typeOfMode(inode.mode) !== "symlink") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a symbolic link`, { path });
    return new TextDecoder().decode(await this.symlinkTarget(inode, path));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.directories.clear();
    this.parents.clear();
  }
}
