// A copy-on-write guest held in memory over any read-only GuestFS: every write lands in a map
// beside the untouched source, so applying a plan to it shows exactly what a conversion would
// change — the dry run — without writing a byte anywhere.
import { createHash } from "node:crypto";
import { InspectError, type GuestFile, type GuestFS, type GuestStat, type InspectErrorCode, type NodeAttributes, type ReadFileOptions, type WritableGuestFS } from "@leapp/inspect";
import type { FileType } from "@leapp/inspect";
import { unifiedDiff } from "./text-diff.js";

const MAX_SYMLINK_HOPS = 40;
const DEFAULT_MAX_READ = 64 * 1024 * 1024;
/** Most entries a directory rename copies up (the rest of a guest stays where it is). */
const MAX_RENAME_ENTRIES = 20_000;

/** The codes WritableFilesystem documents for refused writes (EEXIST, ENOTEMPTY, EINVAL…). */
function fsError(code: string, message: string, path: string): InspectError {
  return new InspectError(code as InspectErrorCode, message, { path });
}

interface MemNode {
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: number;
  dev: number;
  nlink: number;
  rdevMajor: number;
  rdevMinor: number;
  /** File content once written or copied up; undefined while it still reads from `basePath`. */
  data?: Uint8Array;
  basePath?: string;
  target?: string;
  xattrs?: Map<string, Uint8Array>;
  /** A directory that hides whatever the source has beneath the same path. */
  opaque?: boolean;
}

type Entry = { kind: "node"; node: MemNode } | { kind: "whiteout" };

/** One path the overlay changed, as `changes()` lists it. */
export interface GuestChange {
  path: string;
  change: "created" | "modified" | "removed";
  /** Type after the change (before it, for a removal). */
  type: FileType;
  /** Content changed (files) or target changed (links); false for metadata-only changes. */
  contentChanged: boolean;
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function split(path: string): string[] {
  if (!path.startsWith("/")) throw fsError("INSPECT_INVALID_NAME", `guest path '${path}' is not absolute`, path);
  if (path.includes("\0")) throw fsError("INSPECT_INVALID_NAME", "guest path contains a NUL byte", path);
  const parts = path.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.some((c) => Buffer.byteLength(c) > 255)) throw fsError("INSPECT_INVALID_NAME", "a name in the guest path is longer than 255 bytes", path);
  return parts;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function child(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function isNotFound(err: unknown): boolean {
  return err instanceof InspectError && (err.code === "INSPECT_NOT_FOUND" || err.code === "INSPECT_NOT_A_DIRECTORY");
}

/**
 * A WritableGuestFS whose writes stay in memory over a read-only guest. `changes()` and `diff()`
 * tell what differs from the source; `flush()` does nothing (there is nowhere to write).
 */
export class MemoryGuest implements WritableGuestFS {
  readonly writable = true as const;
  readonly #base: GuestFS;
  readonly #overlay = new Map<string, Entry>();
  readonly #mountpoints: string[];
  #nextIno = 0x7000_0000;

  /** `mountpoints`: the guest's mountpoints (from its InspectionReport), for mountpointOf. */
  constructor(base: GuestFS, options: { mountpoints?: readonly string[] } = {}) {
    this.#base = base;
    this.#mountpoints = [...(options.mountpoints ?? ["/"])].sort((a, b) => b.length - a.length);
  }

  // ---- lookup -------------------------------------------------------------------------------

  /** The overlay's answer for a canonical path: a node, "absent", or undefined (ask the source). */
  #overlayAt(path: string): MemNode | "absent" | undefined {
    const e = this.#overlay.get(path);
    if (e) return e.kind === "node" ? e.node : "absent";
    // An ancestor that is gone, not a directory, or opaque hides the source below it.
    for (let p = parentOf(path); ; p = parentOf(p)) {
      const a = this.#overlay.get(p);
      if (a) {
        if (a.kind === "whiteout" || a.node.type !== "directory") return "absent";
        if (a.node.opaque) return "absent";
      }
      if (p === "/") break;
    }
    return undefined;
  }

  /** lstat of a canonical path (no symlinks in its parents), or undefined when it does not exist. */
  async #lookup(path: string): Promise<{ node?: MemNode; base?: GuestStat } | undefined> {
    const o = this.#overlayAt(path);
    if (o === "absent") return undefined;
    if (o) return { node: o };
    try {
      return { base: await this.#base.lstat(path) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * The canonical path `path` names: symlinks in its parents resolved inside the guest (and the
   * last component too when `followLast`). Missing components are kept as named.
   */
  async #resolve(path: string, followLast: boolean): Promise<string> {
    let pending = split(path);
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const c = pending.shift() as string;
      if (c === "..") {
        done.pop();
        continue;
      }
      const here = "/" + [...done, c].join("/");
      const isLast = pending.length === 0;
      if (isLast && !followLast) {
        done.push(c);
        break;
      }
      const found = await this.#lookup(here);
      const type = found?.node?.type ?? found?.base?.type;
      if (type === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS) throw fsError("INSPECT_SYMLINK_LOOP", `too many symlinks resolving ${path}`, path);
        const target = found?.node ? (found.node.target as string) : await this.#base.readlink(here);
        const parts = target.split("/").filter((x) => x !== "" && x !== ".");
        if (target.startsWith("/")) done.length = 0;
        pending = [...parts, ...pending];
        continue;
      }
      if (!isLast && found !== undefined && type !== "directory") throw fsError("INSPECT_NOT_A_DIRECTORY", `${here} is not a directory (in ${path})`, path);
      done.push(c);
    }
    return "/" + done.join("/");
  }

  #statOf(node: MemNode): GuestStat {
    const size = node.type === "symlink" ? Buffer.byteLength(node.target ?? "") : node.data?.length ?? 0;
    return {
      type: node.type,
      mode: node.mode,
      size,
      uid: node.uid,
      gid: node.gid,
      mtimeMs: Number(node.mtimeNs / 1_000_000n),
      atimeNs: node.atimeNs,
      mtimeNs: node.mtimeNs,
      ctimeNs: node.ctimeNs,
      ino: node.ino,
      dev: node.dev,
      nlink: node.nlink,
      rdevMajor: node.rdevMajor,
      rdevMinor: node.rdevMinor,
    };
  }

  async #statCanonical(path: string): Promise<GuestStat> {
    const found = await this.#lookup(path);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if (found.node) {
      if (found.node.type === "file" && found.node.data === undefined && found.node.basePath !== undefined) {
        const st = await this.#base.lstat(found.node.basePath);
        return { ...this.#statOf(found.node), size: st.size };
      }
      return this.#statOf(found.node);
    }
    return found.base as GuestStat;
  }

  // ---- GuestFS ------------------------------------------------------------------------------

  async stat(path: string): Promise<GuestStat> {
    return this.#statCanonical(await this.#resolve(path, true));
  }

  async lstat(path: string): Promise<GuestStat> {
    return this.#statCanonical(await this.#resolve(path, false));
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (err) {
      if (isNotFound(err) || (err instanceof InspectError && err.code === "INSPECT_SYMLINK_LOOP")) return false;
      throw err;
    }
  }

  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    const p = await this.#resolve(path, true);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    const type = found.node?.type ?? found.base?.type;
    if (type === "directory") throw fsError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, path);
    if (type !== "file") throw fsError("INSPECT_NOT_FOUND", `${path} is not a regular file`, path);
    const max = options.maxBytes ?? DEFAULT_MAX_READ;
    if (found.node) {
      const data = await this.#content(found.node, max);
      if (data.length > max) throw fsError("INSPECT_TOO_LARGE", `${path} is larger than ${max} bytes`, path);
      return data;
    }
    return this.#base.readFile(p, options);
  }

  async #content(node: MemNode, maxBytes = DEFAULT_MAX_READ): Promise<Uint8Array> {
    if (node.data !== undefined) return node.data;
    if (node.basePath === undefined) return new Uint8Array(0);
    return this.#base.readFile(node.basePath, { maxBytes });
  }

  async openFile(path: string): Promise<GuestFile> {
    const p = await this.#resolve(path, true);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if ((found.node?.type ?? found.base?.type) !== "file") throw fsError("INSPECT_IS_A_DIRECTORY", `${path} is not a regular file`, path);
    if (!found.node) return this.#base.openFile(p);
    if (found.node.data === undefined && found.node.basePath !== undefined) return this.#base.openFile(found.node.basePath);
    const data = found.node.data ?? new Uint8Array(0);
    return {
      size: data.length,
      async read(buffer: Uint8Array, position: number): Promise<number> {
        if (position >= data.length) return 0;
        const n = Math.min(buffer.length, data.length - position);
        buffer.set(data.subarray(position, position + n));
        return n;
      },
      async *dataRanges() {
        if (data.length > 0) yield { offset: 0, length: data.length };
      },
      async close() {},
    };
  }

  async readdir(path: string): Promise<string[]> {
    const p = await this.#resolve(path, true);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if ((found.node?.type ?? found.base?.type) !== "directory") throw fsError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, path);
    const names = new Set<string>();
    if (!found.node?.opaque) {
      try {
        for (const n of await this.#base.readdir(p)) names.add(n);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const prefix = p === "/" ? "/" : `${p}/`;
    for (const [k, e] of this.#overlay) {
      if (k === p || !k.startsWith(prefix) || k.slice(prefix.length).includes("/")) continue;
      if (e.kind === "whiteout") names.delete(k.slice(prefix.length));
      else names.add(k.slice(prefix.length));
    }
    return [...names].sort();
  }

  async readlink(path: string): Promise<string> {
    const p = await this.#resolve(path, false);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if (found.node) {
      if (found.node.type !== "symlink") throw fsError("INSPECT_INVALID", `${path} is not a symlink`, path);
      return found.node.target as string;
    }
    return this.#base.readlink(p);
  }

  async xattrs(path: string): Promise<Map<string, Uint8Array>> {
    const p = await this.#resolve(path, false);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if (found.node) return new Map(found.node.xattrs ?? (await this.#baseXattrs(found.node.basePath ?? p, found.node)));
    return this.#base.xattrs(p);
  }

  async #baseXattrs(path: string, node: MemNode): Promise<Map<string, Uint8Array>> {
    if (node.xattrs) return node.xattrs;
    try {
      return await this.#base.xattrs(path);
    } catch (err) {
      if (isNotFound(err)) return new Map();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#overlay.clear();
  }

  // ---- writing ------------------------------------------------------------------------------

  /** The node at a canonical path, copied up from the source when it is still only there. */
  async #copyUp(path: string): Promise<MemNode | undefined> {
    const o = this.#overlayAt(path);
    if (o === "absent") return undefined;
    if (o) return o;
    let st: GuestStat;
    try {
      st = await this.#base.lstat(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const node: MemNode = { type: st.type, mode: st.mode, uid: st.uid, gid: st.gid, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, nlink: st.nlink, rdevMajor: st.rdevMajor, rdevMinor: st.rdevMinor };
    if (st.type === "file") node.basePath = path;
    if (st.type === "symlink") node.target = await this.#base.readlink(path);
    this.#overlay.set(path, { kind: "node", node });
    return node;
  }

  /** The parent of a path being created must be an existing directory. */
  async #parentDir(path: string): Promise<string> {
    const parent = parentOf(path);
    const found = await this.#lookup(parent);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${parent} does not exist in the guest`, path);
    if ((found.node?.type ?? found.base?.type) !== "directory") throw fsError("INSPECT_NOT_A_DIRECTORY", `${parent} is not a directory`, path);
    return parent;
  }

  #newNode(type: FileType, attributes: NodeAttributes = {}, defaultMode: number): MemNode {
    const t = nowNs();
    return {
      type,
      mode: (attributes.mode ?? defaultMode) & 0o7777,
      uid: attributes.uid ?? 0,
      gid: attributes.gid ?? 0,
      atimeNs: attributes.atimeNs ?? t,
      mtimeNs: attributes.mtimeNs ?? t,
      ctimeNs: t,
      ino: this.#nextIno++,
      dev: 0,
      nlink: type === "directory" ? 2 : 1,
      rdevMajor: 0,
      rdevMinor: 0,
    };
  }

  async #create(path: string, node: MemNode): Promise<void> {
    const p = await this.#resolve(path, false);
    if (p === "/") throw fsError("INSPECT_EXISTS", "/ exists", path);
    await this.#parentDir(p);
    if (await this.#lookup(p)) throw fsError("INSPECT_EXISTS", `${path} already exists`, path);
    // A directory made where the source had one (removed meanwhile) must not show its old entries.
    if (node.type === "directory") node.opaque = true;
    this.#overlay.set(p, { kind: "node", node });
  }

  async writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes?: NodeAttributes): Promise<void> {
    const p = await this.#resolve(path, false);
    let data: Uint8Array;
    if (content instanceof Uint8Array) data = new Uint8Array(content);
    else {
      const parts: Uint8Array[] = [];
      for await (const part of content) parts.push(part);
      data = Buffer.concat(parts);
    }
    const existing = await this.#lookup(p);
    if (existing) {
      const type = existing.node?.type ?? existing.base?.type;
      if (type === "symlink") throw fsError("INSPECT_EXISTS", `${path} is a symlink: writeFile never follows one`, path);
      if (type === "directory") throw fsError("INSPECT_IS_A_DIRECTORY", `${path} is a directory`, path);
      if (type !== "file") throw fsError("INSPECT_EXISTS", `${path} is not a regular file`, path);
      const node = (await this.#copyUp(p)) as MemNode;
      node.data = data;
      delete node.basePath;
      if (attributes?.mode !== undefined) node.mode = attributes.mode & 0o7777;
      if (attributes?.uid !== undefined) node.uid = attributes.uid;
      if (attributes?.gid !== undefined) node.gid = attributes.gid;
      node.mtimeNs = attributes?.mtimeNs ?? nowNs();
      node.ctimeNs = nowNs();
      return;
    }
    const node = this.#newNode("file", attributes, 0o644);
    node.data = data;
    await this.#create(p, node);
  }

  async truncate(path: string, size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) throw fsError("INSPECT_INVALID", `bad size ${size}`, path);
    const p = await this.#resolve(path, true);
    const node = await this.#copyUp(p);
    if (!node) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if (node.type !== "file") throw fsError("INSPECT_IS_A_DIRECTORY", `${path} is not a regular file`, path);
    const old = await this.#content(node, Math.max(size, DEFAULT_MAX_READ));
    const data = new Uint8Array(size);
    data.set(old.subarray(0, Math.min(size, old.length)));
    node.data = data;
    delete node.basePath;
    node.mtimeNs = node.ctimeNs = nowNs();
  }

  async mkdir(path: string, attributes?: NodeAttributes): Promise<void> {
    await this.#create(path, this.#newNode("directory", attributes, 0o755));
  }

  async rmdir(path: string): Promise<void> {
    const p = await this.#resolve(path, false);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if ((found.node?.type ?? found.base?.type) !== "directory") throw fsError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory`, path);
    if ((await this.readdir(p)).length > 0) throw fsError("INSPECT_NOT_EMPTY", `${path} is not empty`, path);
    this.#remove(p);
  }

  #remove(p: string): void {
    for (const k of [...this.#overlay.keys()]) if (k.startsWith(`${p}/`)) this.#overlay.delete(k);
    const e = this.#overlay.get(p);
    if (e?.kind === "node") e.node.nlink = Math.max(0, e.node.nlink - 1);
    this.#overlay.set(p, { kind: "whiteout" });
  }

  async unlink(path: string): Promise<void> {
    const p = await this.#resolve(path, false);
    const found = await this.#lookup(p);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    if ((found.node?.type ?? found.base?.type) === "directory") throw fsError("INSPECT_IS_A_DIRECTORY", `${path} is a directory: use rmdir`, path);
    this.#remove(p);
  }

  async symlink(target: string, path: string, attributes?: NodeAttributes): Promise<void> {
    if (target === "" || target.includes("\0")) throw fsError("INSPECT_INVALID", "empty or NUL symlink target", path);
    const node = this.#newNode("symlink", attributes, 0o777);
    node.target = target;
    await this.#create(path, node);
  }

  async link(existing: string, path: string): Promise<void> {
    const from = await this.#resolve(existing, false);
    const node = await this.#copyUp(from);
    if (!node) throw fsError("INSPECT_NOT_FOUND", `${existing} does not exist in the guest`, existing);
    if (node.type === "directory") throw fsError("INSPECT_INVALID", `${existing} is a directory: no hard links to directories`, existing);
    const to = await this.#resolve(path, false);
    await this.#parentDir(to);
    if (await this.#lookup(to)) throw fsError("INSPECT_EXISTS", `${path} already exists`, path);
    node.nlink++;
    this.#overlay.set(to, { kind: "node", node });
  }

  async rename(from: string, to: string): Promise<void> {
    const src = await this.#resolve(from, false);
    const dst = await this.#resolve(to, false);
    if (src === dst) return;
    if (dst.startsWith(`${src}/`)) throw fsError("INSPECT_INVALID", `cannot move ${from} into itself`, from);
    const found = await this.#lookup(src);
    if (!found) throw fsError("INSPECT_NOT_FOUND", `${from} does not exist in the guest`, from);
    await this.#parentDir(dst);
    const srcIsDir = (found.node?.type ?? found.base?.type) === "directory";
    const target = await this.#lookup(dst);
    if (target) {
      const dstIsDir = (target.node?.type ?? target.base?.type) === "directory";
      if (dstIsDir !== srcIsDir) throw fsError(dstIsDir ? "INSPECT_IS_A_DIRECTORY" : "INSPECT_NOT_A_DIRECTORY", `cannot rename ${from} over ${to}`, to);
      if (dstIsDir && (await this.readdir(dst)).length > 0) throw fsError("INSPECT_NOT_EMPTY", `${to} is not empty`, to);
    }
    // Copy the subtree up (lazily for file contents), then move it in the overlay.
    const moved = new Map<string, Entry>();
    let count = 0;
    const collect = async (p: string, rel: string): Promise<void> => {
      if (++count > MAX_RENAME_ENTRIES) throw fsError("INSPECT_TOO_LARGE", `${from} holds more than ${MAX_RENAME_ENTRIES} entries to move`, from);
      const node = (await this.#copyUp(p)) as MemNode;
      if (node.type === "directory") {
        for (const name of await this.readdir(p)) await collect(child(p, name), `${rel}/${name}`);
        node.opaque = true;
      }
      moved.set(rel, { kind: "node", node });
    };
    await collect(src, "");
    this.#remove(src);
    if (target) this.#remove(dst);
    for (const [rel, e] of moved) this.#overlay.set(dst + rel, e);
  }

  async mknod(path: string, type: "chardev" | "blockdev" | "fifo" | "socket", attributes: NodeAttributes & { rdevMajor?: number; rdevMinor?: number } = {}): Promise<void> {
    const node = this.#newNode(type, attributes, 0o644);
    node.rdevMajor = attributes.rdevMajor ?? 0;
    node.rdevMinor = attributes.rdevMinor ?? 0;
    await this.#create(path, node);
  }

  async #existingNode(path: string, follow: boolean): Promise<MemNode> {
    const p = await this.#resolve(path, follow);
    const node = await this.#copyUp(p);
    if (!node) throw fsError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, path);
    return node;
  }

  async chmod(path: string, mode: number): Promise<void> {
    const node = await this.#existingNode(path, true);
    node.mode = mode & 0o7777;
    node.ctimeNs = nowNs();
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const node = await this.#existingNode(path, false);
    node.uid = uid;
    node.gid = gid;
    node.ctimeNs = nowNs();
  }

  async utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    const node = await this.#existingNode(path, true);
    node.atimeNs = atimeNs;
    node.mtimeNs = mtimeNs;
  }

  async setxattr(path: string, name: string, value: Uint8Array): Promise<void> {
    const p = await this.#resolve(path, false);
    const node = await this.#existingNode(p, false);
    node.xattrs = new Map(await this.#baseXattrs(node.basePath ?? p, node));
    node.xattrs.set(name, new Uint8Array(value));
  }

  async removexattr(path: string, name: string): Promise<void> {
    const p = await this.#resolve(path, false);
    const node = await this.#existingNode(p, false);
    node.xattrs = new Map(await this.#baseXattrs(node.basePath ?? p, node));
    if (!node.xattrs.delete(name)) throw fsError("INSPECT_NOT_FOUND", `${path} has no attribute ${name}`, path);
  }

  async mountpointOf(path: string): Promise<string> {
    const p = await this.#resolve(path, false);
    return this.#mountpoints.find((m) => m === "/" || p === m || p.startsWith(`${m}/`)) ?? "/";
  }

  async flush(): Promise<void> {}

  // ---- what changed -------------------------------------------------------------------------

  /** Every path that differs from the source, sorted. */
  async changes(): Promise<GuestChange[]> {
    const out: GuestChange[] = [];
    for (const [path, e] of [...this.#overlay].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      let before: GuestStat | undefined;
      try {
        before = await this.#base.lstat(path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (e.kind === "whiteout") {
        if (before && this.#overlayAt(parentOf(path)) !== "absent") out.push({ path, change: "removed", type: before.type, contentChanged: true });
        continue;
      }
      const node = e.node;
      if (!before) {
        out.push({ path, change: "created", type: node.type, contentChanged: true });
        continue;
      }
      let contentChanged = node.type !== before.type;
      if (!contentChanged && node.type === "file") contentChanged = node.basePath !== path && (node.data === undefined || !(await this.#sameAsBase(path, node)));
      if (!contentChanged && node.type === "symlink") contentChanged = node.target !== (await this.#base.readlink(path));
      const metaChanged = node.mode !== before.mode || node.uid !== before.uid || node.gid !== before.gid;
      if (contentChanged || metaChanged) out.push({ path, change: "modified", type: node.type, contentChanged });
    }
    return out;
  }

  async #sameAsBase(path: string, node: MemNode): Promise<boolean> {
    const st = await this.#base.lstat(path);
    if (st.size !== node.data?.length) return false;
    const base = await this.#base.readFile(path, { maxBytes: Math.max(st.size, 1) });
    return Buffer.from(base).equals(Buffer.from(node.data));
  }

  /**
   * The changes as people read them: a unified diff per changed text file, and a line with
   * sizes and SHA-256 digests for binary files, links and removals.
   */
  async diff(options: { maxTextBytes?: number } = {}): Promise<string> {
    const maxText = options.maxTextBytes ?? 1024 * 1024;
    const parts: string[] = [];
    for (const c of await this.changes()) {
      if (c.change === "removed") {
        parts.push(`removed ${c.path} (${c.type})\n`);
        continue;
      }
      if (c.type === "symlink") {
        parts.push(`${c.change} symlink ${c.path} -> ${await this.readlink(c.path)}\n`);
        continue;
      }
      if (c.type !== "file") {
        parts.push(`${c.change} ${c.type} ${c.path}\n`);
        continue;
      }
      const after = await this.readFile(c.path, { maxBytes: Number.MAX_SAFE_INTEGER });
      const before = c.change === "created" ? new Uint8Array(0) : await this.#base.readFile(c.path, { maxBytes: Number.MAX_SAFE_INTEGER });
      if (!c.contentChanged) {
        parts.push(`mode/owner changed ${c.path}\n`);
        continue;
      }
      if (isText(before, maxText) && isText(after, maxText)) {
        parts.push(unifiedDiff(Buffer.from(before).toString("utf8"), Buffer.from(after).toString("utf8"), c.change === "created" ? "/dev/null" : `a${c.path}`, `b${c.path}`));
      } else {
        parts.push(`${c.change} binary ${c.path}: ${before.length} → ${after.length} bytes, sha256 ${sha256(before).slice(0, 16)} → ${sha256(after).slice(0, 16)}\n`);
      }
    }
    return parts.join("");
  }
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function isText(b: Uint8Array, max: number): boolean {
  if (b.length > max) return false;
  for (let i = 0; i < b.length; i++) if (b[i] === 0) return false;
  return true;
}
