// Test support — a STAND-IN, not a filesystem driver: an in-memory WritableFilesystem with the
// POSIX semantics and typed errors the interface promises, so the guest-level layers above the
// drivers (writable-guest, customize) are unit-tested without images. It is itself checked
// against the writable conformance model (memory-filesystem.test.ts); the real judges — fsck and
// the kernel — only ever see the ext and XFS writers.
import { InspectError } from "../errors.js";
import type { FileType, FilesystemUsage, GuestFile, GuestStat, NodeAttributes, ReadFileOptions, WritableFilesystem, WriteOptions } from "../fs/filesystem.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";

interface MemoryInode {
  ino: number;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  content: Uint8Array;
  entries: Map<string, MemoryInode> | undefined;
  target: string;
  rdevMajor: number;
  rdevMinor: number;
  xattrs: Map<string, Uint8Array>;
}

export interface MemoryFilesystemOptions {
  /** Bytes of file content it holds at most; a write past it is INSPECT_NO_SPACE. Default 64 MiB. */
  capacity?: number;
  /** Reported as `type` (default "memory"). */
  type?: string;
}

const now = () => BigInt(Date.now()) * 1_000_000n;
const MAX_NAME_BYTES = 255;

/** An in-memory stand-in for a writable filesystem driver (see the file comment). */
export class MemoryFilesystem implements WritableFilesystem {
  readonly writable = true as const;
  readonly type: string;
  readonly uuid = undefined;
  readonly label = undefined;
  /** How many times `flush` ran (tests check that customize flushes). */
  flushes = 0;
  #nextIno = 2;
  #used = 0;
  #closed = false;
  readonly #capacity: number;
  readonly #root: MemoryInode;

  constructor(options: MemoryFilesystemOptions = {}) {
    this.#capacity = options.capacity ?? 64 * 1024 * 1024;
    this.type = options.type ?? "memory";
    this.#root = this.#inode("directory", { mode: 0o755 });
    this.#root.nlink = 2;
  }

  #inode(type: FileType, attributes: NodeAttributes = {}): MemoryInode {
    const t = now();
    const defaultMode = type === "directory" ? 0o755 : type === "symlink" ? 0o777 : 0o644;
    return {
      ino: this.#nextIno++,
      type,
      mode: (attributes.mode ?? defaultMode) & 0o7777,
      uid: attributes.uid ?? 0,
      gid: attributes.gid ?? 0,
      nlink: type === "directory" ? 2 : 1,
      atimeNs: attributes.atimeNs ?? t,
      mtimeNs: attributes.mtimeNs ?? t,
      ctimeNs: t,
      content: new Uint8Array(0),
      entries: type === "directory" ? new Map() : undefined,
      target: "",
      rdevMajor: 0,
      rdevMinor: 0,
      xattrs: new Map(),
    };
  }

  #check(): void {
    if (this.#closed) throw new InspectError("INSPECT_CLOSED", "this memory filesystem was closed");
  }

  #components(path: string): string[] {
    this.#check();
    if (!path.startsWith("/")) throw new InspectError("INSPECT_NOT_FOUND", `${path} is not an absolute path`, { path });
    return path.split("/").filter((c) => c !== "" && c !== ".");
  }

  #walk(components: readonly string[], path: string): MemoryInode {
    let current = this.#root;
    for (const name of components) {
      if (!current.entries) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `a component of ${path} is not a directory`, { path });
      const child = name === ".." ? undefined : current.entries.get(name);
      if (!child) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
      current = child;
    }
    return current;
  }

  #lookup(path: string): MemoryInode {
    return this.#walk(this.#components(path), path);
  }

  /** The directory that holds the last component of `path`, and that name (validated). */
  #parent(path: string): { dir: MemoryInode; name: string } {
    const components = this.#components(path);
    const name = components.pop();
    if (name === undefined) throw new InspectError("INSPECT_EXISTS", "/ always exists", { path });
    if (name === "..") throw new InspectError("INSPECT_INVALID_NAME", `${path} ends in ..`, { path });
    if (name.includes("\0")) throw new InspectError("INSPECT_INVALID_NAME", `${JSON.stringify(path)} holds a NUL byte`, { path });
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new InspectError("INSPECT_INVALID_NAME", `a name of ${Buffer.byteLength(name)} bytes is longer than ${MAX_NAME_BYTES}`, { path });
    const dir = this.#walk(components, path);
    if (!dir.entries) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `the parent of ${path} is not a directory`, { path });
    return { dir, name };
  }

  #create(path: string, inode: MemoryInode): void {
    const { dir, name } = this.#parent(path);
    if (dir.entries!.has(name)) throw new InspectError("INSPECT_EXISTS", `${path} exists`, { path });
    dir.entries!.set(name, inode);
    if (inode.type === "directory") dir.nlink++;
  }

  #reserve(delta: number, path: string): void {
    if (this.#used + delta > this.#capacity) throw new InspectError("INSPECT_NO_SPACE", `no space left for ${path}`, { path });
    this.#used += delta;
  }

  async lstat(path: string): Promise<GuestStat> {
    const i = this.#lookup(path);
    return {
      type: i.type,
      mode: i.mode,
      size: i.type === "file" ? i.content.length : i.type === "symlink" ? Buffer.byteLength(i.target) : i.type === "directory" ? 4096 : 0,
      uid: i.uid,
      gid: i.gid,
      mtimeMs: Number(i.mtimeNs / 1_000_000n),
      atimeNs: i.atimeNs,
      mtimeNs: i.mtimeNs,
      ctimeNs: i.ctimeNs,
      ino: i.ino,
      dev: 0,
      nlink: i.nlink,
      rdevMajor: i.rdevMajor,
      rdevMinor: i.rdevMinor,
    };
  }

  async readdir(path: string): Promise<string[]> {
    const i = this.#lookup(path);
    if (!i.entries) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, { path });
    return [...i.entries.keys()];
  }

  #file(path: string): MemoryInode {
    const i = this.#lookup(path);
    if (i.type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
    if (i.type !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is a ${i.type}, not a regular file`, { path });
    return i;
  }

  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    const i = this.#file(path);
    const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (i.content.length > max) throw new InspectError("INSPECT_TOO_LARGE", `${path} is larger than ${max} bytes`, { path });
    return i.content.slice();
  }

  async openFile(path: string): Promise<GuestFile> {
    const content = this.#file(path).content;
    return {
      size: content.length,
      async read(buffer, position) {
        const part = content.subarray(position, position + buffer.length);
        buffer.set(part);
        return part.length;
      },
      async *dataRanges() {
        if (content.length > 0) yield { offset: 0, length: content.length };
      },
      async close() {},
    };
  }

  async readlink(path: string): Promise<string> {
    const i = this.#lookup(path);
    if (i.type !== "symlink") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a symbolic link`, { path });
    return i.target;
  }

  async xattrs(path: string): Promise<Map<string, Uint8Array>> {
    return new Map(this.#lookup(path).xattrs);
  }

  async *freeRanges(): AsyncIterable<{ offset: number; length: number }> {}

  async writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes?: NodeAttributes, options: WriteOptions = {}): Promise<void> {
    const { dir, name } = this.#parent(path);
    const existing = dir.entries!.get(name);
    if (existing && existing.type !== "file") {
      throw new InspectError(existing.type === "directory" ? "INSPECT_IS_A_DIRECTORY" : "INSPECT_EXISTS", `${path} exists and is a ${existing.type}`, { path });
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    let reserved = 0;
    const release = () => (this.#used -= reserved);
    try {
      for await (const chunk of content instanceof Uint8Array ? [content] : content) {
        options.signal?.throwIfAborted();
        this.#reserve(chunk.length, path);
        reserved += chunk.length;
        chunks.push(chunk.slice());
        size += chunk.length;
      }
      options.signal?.throwIfAborted();
    } catch (err) {
      release();
      throw err;
    }
    const data = Buffer.concat(chunks, size);
    const inode = existing ?? this.#inode("file", attributes);
    if (existing) {
      this.#used -= existing.content.length;
      if (attributes?.mode !== undefined) existing.mode = attributes.mode & 0o7777;
      if (attributes?.uid !== undefined) existing.uid = attributes.uid;
      if (attributes?.gid !== undefined) existing.gid = attributes.gid;
    }
    inode.content = new Uint8Array(data.buffer, data.byteOffset, data.length);
    // Times change only when asked (as the conformance model expects of every writer).
    if (attributes?.mtimeNs !== undefined) inode.mtimeNs = attributes.mtimeNs;
    if (attributes?.atimeNs !== undefined) inode.atimeNs = attributes.atimeNs;
    if (!existing) this.#create(path, inode);
  }

  async truncate(path: string, size: number): Promise<void> {
    const i = this.#file(path);
    if (!Number.isSafeInteger(size) || size < 0) throw new InspectError("INSPECT_INVALID", `${size} is not a file size`, { path });
    // Holes take no space here, as in a real filesystem.
    const grown = new Uint8Array(size);
    grown.set(i.content.subarray(0, Math.min(size, i.content.length)));
    this.#used += Math.min(size, i.content.length) - i.content.length;
    i.content = grown;
  }

  async mkdir(path: string, attributes?: NodeAttributes): Promise<void> {
    this.#create(path, this.#inode("directory", attributes));
  }

  async rmdir(path: string): Promise<void> {
    const { dir, name } = this.#parent(path);
    const i = dir.entries!.get(name);
    if (!i) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
    if (!i.entries) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, { path });
    if (i.entries.size > 0) throw new InspectError("INSPECT_NOT_EMPTY", `${path} is not empty`, { path });
    dir.entries!.delete(name);
    dir.nlink--;
  }

  async unlink(path: string): Promise<void> {
    const { dir, name } = this.#parent(path);
    const i = dir.entries!.get(name);
    if (!i) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
    if (i.entries) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, { path });
    dir.entries!.delete(name);
    if (--i.nlink === 0) this.#used -= i.content.length;
  }

  async symlink(target: string, path: string, attributes?: NodeAttributes): Promise<void> {
    if (target === "" || target.includes("\0")) throw new InspectError("INSPECT_INVALID", "a symlink target is neither empty nor holds NUL", { path });
    const inode = this.#inode("symlink", { ...attributes, mode: 0o777 });
    inode.target = target;
    this.#create(path, inode);
  }

  async link(existing: string, path: string): Promise<void> {
    const i = this.#lookup(existing);
    if (i.entries) throw new InspectError("INSPECT_INVALID", `${existing} is a directory: directories take no hard links`, { path: existing });
    this.#create(path, i);
    i.nlink++;
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.#parent(from);
    const moving = source.dir.entries!.get(source.name);
    if (!moving) throw new InspectError("INSPECT_NOT_FOUND", `${from} does not exist`, { path: from });
    const target = this.#parent(to);
    if (moving.entries) {
      // Into itself: the target's parent chain must not pass through the directory moved.
      for (let at = this.#components(to).slice(0, -1), n = at.length; n >= 0; n--) {
        if (this.#walk(at.slice(0, n), to) === moving) throw new InspectError("INSPECT_INVALID", `${from} cannot move into itself`, { path: to });
      }
    }
    const replaced = target.dir.entries!.get(target.name);
    if (replaced === moving) return;
    if (replaced) {
      if (moving.entries && !replaced.entries) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${to} is not a directory`, { path: to });
      if (!moving.entries && replaced.entries) throw new InspectError("INSPECT_IS_A_DIRECTORY", `${to} is a directory`, { path: to });
      if (replaced.entries && replaced.entries.size > 0) throw new InspectError("INSPECT_NOT_EMPTY", `${to} is not empty`, { path: to });
    }
    source.dir.entries!.delete(source.name);
    if (moving.entries) source.dir.nlink--;
    if (replaced) {
      target.dir.entries!.delete(target.name);
      if (replaced.entries) target.dir.nlink--;
      else if (--replaced.nlink === 0) this.#used -= replaced.content.length;
    }
    target.dir.entries!.set(target.name, moving);
    if (moving.entries) target.dir.nlink++;
  }

  async mknod(path: string, type: "chardev" | "blockdev" | "fifo" | "socket", attributes: NodeAttributes & { rdevMajor?: number; rdevMinor?: number } = {}): Promise<void> {
    const inode = this.#inode(type, attributes);
    inode.rdevMajor = attributes.rdevMajor ?? 0;
    inode.rdevMinor = attributes.rdevMinor ?? 0;
    this.#create(path, inode);
  }

  async chmod(path: string, mode: number): Promise<void> {
    const i = this.#lookup(path);
    i.mode = mode & 0o7777;
    i.ctimeNs = now();
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const i = this.#lookup(path);
    i.uid = uid;
    i.gid = gid;
  }

  async utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const i = this.#lookup(path);
    i.atimeNs = atimeNs;
    i.mtimeNs = mtimeNs;
  }

  async setxattr(path: string, name: string, value: Uint8Array): Promise<void> {
    this.#lookup(path).xattrs.set(name, value.slice());
  }

  async removexattr(path: string, name: string): Promise<void> {
    if (!this.#lookup(path).xattrs.delete(name)) throw new InspectError("INSPECT_NOT_FOUND", `${path} has no attribute ${name}`, { path });
  }

  async usage(): Promise<FilesystemUsage> {
    return { blockSize: 1, totalBlocks: this.#capacity, freeBlocks: this.#capacity - this.#used, totalInodes: 1 << 20, freeInodes: (1 << 20) - this.#nextIno };
  }

  async flush(): Promise<void> {
    this.#check();
    this.flushes++;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
