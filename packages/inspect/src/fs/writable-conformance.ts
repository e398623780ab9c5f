// The shared conformance suite for writable filesystem drivers. A seeded random sequence of
// operations is applied both to the driver and to a model kept here; then the real tools judge the
// image (e2fsck -fn / xfs_repair -n must find nothing), the Linux kernel reads it back through a
// read-only loop mount, and our own reader reads it back too — both must equal the model.
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk, type BlockDevice } from "@leapp/storage";
import { expect } from "vitest";
import { InspectError } from "../errors.js";
import { seededRandom } from "@leapp/zoo";
import type { FileType, Filesystem, FilesystemDriver, WritableFilesystem } from "./filesystem.js";

/** One filesystem layout to test: how to make it empty with the real mkfs, and how to judge it. */
export interface WritableVariant {
  name: string;
  driver: FilesystemDriver;
  /** Creates a filesystem image at `image` with the real mkfs: empty, or populated as mkfs can. */
  mkfs(image: string): void;
  /** The real checker: throws (with its output) unless it finds nothing to fix. */
  fsck(image: string): void;
  /** Timestamp resolution the layout keeps (1 for nanoseconds; 1e9 for 128-byte ext inodes). */
  timeResolutionNs: number;
  /** Longest name in bytes (255 for ext and XFS). */
  maxNameBytes?: number;
  /**
   * Bytes of attributes (per entry: 16 + name, padded to 4, + value, padded to 4) one inode is
   * sure to hold; setxattr past it may fail with INSPECT_NO_SPACE, as Linux says ENOSPC.
   * Default: no limit.
   */
  xattrCapacity?: number;
  /**
   * Whether the running kernel mounts this layout (default true). Kernels may drop old formats
   * (XFS v4 is gone from recent ones); then fsck and our reader are the judges.
   */
  kernelMounts?: boolean;
  /**
   * Another real tool's reading of the image (e.g. xfs_db where the kernel no longer mounts the
   * layout): throws at the first difference from the model, returns the paths it checked.
   */
  toolReadBack?(image: string, model: FilesystemModel): number;
}

interface ModelInode {
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  /** File content; undefined when an interrupted write left it unspecified. */
  content?: Buffer;
  target?: string;
  rdevMajor?: number;
  rdevMinor?: number;
  /** Set only by utimes or explicit attributes: unchanged times are not compared. */
  atimeNs?: bigint;
  mtimeNs?: bigint;
  xattrs: Map<string, Buffer>;
}

/** The expected filesystem: paths to inode ids (hard links share one), and the inodes. */
export class FilesystemModel {
  readonly names = new Map<string, number>([["/", 0]]);
  readonly inodes = new Map<number, ModelInode>([[0, { type: "directory", mode: 0o755, uid: 0, gid: 0, xattrs: new Map() }]]);
  #next = 1;

  add(path: string, inode: ModelInode): void {
    this.inodes.set(this.#next, inode);
    this.names.set(path, this.#next++);
    this.changed(parentPath(path));
  }
  /** A new name for the inode at `existing` (a hard link). */
  link(existing: string, path: string): void {
    this.names.set(path, this.names.get(existing)!);
    this.changed(parentPath(path));
  }
  /**
   * A change to a directory's entries or a file's content sets its mtime to the time of the change,
   * as POSIX says: an earlier utimes no longer holds.
   */
  changed(path: string): void {
    const inode = this.inodeAt(path);
    if (inode) delete inode.mtimeNs;
  }
  inodeAt(path: string): ModelInode | undefined {
    const id = this.names.get(path);
    return id === undefined ? undefined : this.inodes.get(id);
  }
  children(dir: string): string[] {
    const prefix = dir === "/" ? "/" : `${dir}/`;
    return [...this.names.keys()].filter((p) => p !== dir && p.startsWith(prefix) && !p.slice(prefix.length).includes("/"));
  }
  /** Link count: names for a non-directory; 2 + subdirectories for a directory. */
  nlink(path: string): number {
    const id = this.names.get(path)!;
    const inode = this.inodes.get(id)!;
    if (inode.type === "directory") return 2 + this.children(path).filter((c) => this.inodeAt(c)!.type === "directory").length;
    return [...this.names.values()].filter((v) => v === id).length;
  }
  remove(path: string): void {
    const id = this.names.get(path)!;
    this.names.delete(path);
    this.changed(parentPath(path));
    if (![...this.names.values()].includes(id)) this.inodes.delete(id);
  }
  /** Moves a name and, for a directory, everything below it. */
  move(from: string, to: string): void {
    const moved = [...this.names.entries()].filter(([p]) => p === from || p.startsWith(`${from}/`));
    for (const [p] of moved) this.names.delete(p);
    for (const [p, id] of moved) this.names.set(to + p.slice(from.length), id);
    this.changed(parentPath(from));
    this.changed(parentPath(to));
  }
}

const join2 = (dir: string, name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`);
const parentOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";

/** Bytes an attribute takes in an ext-style attribute area (see WritableVariant.xattrCapacity). */
const xattrBytes = (name: string, value: Buffer) => ((16 + Buffer.byteLength(name.slice(name.indexOf(".") + 1)) + 3) & ~3) + ((value.length + 3) & ~3);

/** A valid VFS v2 file capability (the kernel refuses to return malformed ones). */
function capability(random: () => number): Buffer {
  const out = Buffer.alloc(20);
  out.writeUInt32LE(0x02000000 | (random() < 0.5 ? 1 : 0), 0);
  for (let at = 4; at < 20; at += 4) out.writeUInt32LE(Math.floor(random() * 0x100000000) & 0x3fffffff, at);
  return out;
}

function parentPath(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

/** Expects `promise` to reject with an InspectError of `code`. */
async function expectCode(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InspectError && err.code === code) return;
    throw new Error(`${what}: expected ${code}, got ${err instanceof InspectError ? err.code : String(err)}`, { cause: err });
  }
  throw new Error(`${what}: expected ${code}, but it succeeded`);
}

export interface SequenceOptions {
  seed: number;
  operations: number;
  /** Upper bound of file content written in all (keeps the image from filling up). */
  byteBudget: number;
}

/** Counts of what a sequence did, for the test's sanity checks (every kind must have run). */
export type OperationCounts = Record<string, number>;

/**
 * Applies a seeded random sequence of operations to `fs` and to `model`: files small, large and
 * empty (created, replaced in place, truncated up and down, deleted), directories (made, grown past
 * every format threshold, emptied, removed), renames (files and directories, across directories,
 * over existing names), hard links, fast and slow symlinks, device nodes and FIFOs, chmod, chown,
 * utimes, xattrs — plus invalid calls, which must fail with the right typed error and change nothing.
 */
export async function applyRandomSequence(fs: WritableFilesystem, model: FilesystemModel, options: SequenceOptions, variant: WritableVariant): Promise<OperationCounts> {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number) => Math.floor(random() * max);
  const counts: OperationCounts = {};
  let bytes = 0;
  const maxName = variant.maxNameBytes ?? 255;
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
  const freshName = (dir: string): string => {
    for (;;) {
      const length = random() < 0.03 ? maxName : 1 + int(random() < 0.2 ? 60 : 16);
      let name = "";
      while (name.length < length) name += alphabet[int(alphabet.length)];
      if (random() < 0.05) name = `${name.slice(0, Math.max(0, length - 6))}é-ü`; // multi-byte UTF-8
      if (Buffer.byteLength(name) > maxName) name = name.slice(0, maxName - 4);
      if (name === "." || name === ".." || model.names.has(join2(dir, name))) continue;
      return name;
    }
  };
  // lost+found belongs to fsck: the sequence leaves it alone.
  const paths = (type?: FileType) => [...model.names.keys()].filter((p) => p !== "/" && p !== "/lost+found" && (type === undefined || model.inodeAt(p)!.type === type));
  const dirs = () => ["/", ...paths("directory")];
  const content = (): Buffer => {
    const roll = random();
    const size = roll < 0.1 ? 0 : roll < 0.7 ? 1 + int(4096) : roll < 0.95 ? 4096 + int(300_000) : 1_000_000 + int(5_000_000);
    const out = Buffer.alloc(size);
    // Patterned rather than random bytes: cheap to make, still catches misplaced blocks.
    const stamp = int(0xffffffff);
    // A typed-array loop: writeUInt32LE per word made the content the slowest part of a long run.
    const words = new Uint32Array(out.buffer, out.byteOffset, size >> 2);
    for (let i = 0; i < words.length; i++) words[i] = (stamp + i * 4) >>> 0;
    if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) for (let at = 0; at + 4 <= size; at += 4) out.writeUInt32LE((stamp + at) >>> 0, at);
    return out;
  };
  const attrs = () => ({ mode: pick([0o644, 0o600, 0o755, 0o4755, 0o2750, 0o1777]), uid: pick([0, 1000, 65534, 100000]), gid: pick([0, 100, 65534, 200000]) });
  const chunks = async function* (data: Buffer) {
    for (let at = 0; at < data.length; at += 65_536 + 17) yield data.subarray(at, at + 65_536 + 17);
  };
  const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);

  for (let step = 0; step < options.operations; step++) {
    const roll = random();
    const files = paths("file");
    if (roll < 0.22 && bytes < options.byteBudget) {
      const dir = pick(dirs());
      const path = join2(dir, freshName(dir));
      const data = content();
      const a = attrs();
      await fs.writeFile(path, random() < 0.5 ? data : chunks(data), a);
      bytes += data.length;
      model.add(path, { type: "file", ...a, content: data, xattrs: new Map() });
      model.changed(dir);
      count("create");
    } else if (roll < 0.3 && files.length > 0 && bytes < options.byteBudget) {
      const path = pick(files);
      const data = content();
      await fs.writeFile(path, data);
      bytes += data.length;
      model.inodeAt(path)!.content = data;
      model.changed(path);
      count("replace");
    } else if (roll < 0.35 && files.length > 0) {
      const path = pick(files);
      const inode = model.inodeAt(path)!;
      const size = random() < 0.5 ? int((inode.content?.length ?? 0) + 1) : (inode.content?.length ?? 0) + int(3_000_000);
      await fs.truncate(path, size);
      if (inode.content) {
        const grown = Buffer.alloc(size);
        inode.content.copy(grown, 0, 0, Math.min(size, inode.content.length));
        inode.content = grown;
      }
      model.changed(path);
      count("truncate");
    } else if (roll < 0.42 && paths().some((p) => model.inodeAt(p)!.type !== "directory")) {
      const path = pick(paths().filter((p) => model.inodeAt(p)!.type !== "directory"));
      await fs.unlink(path);
      model.remove(path);
      model.changed(parentOf(path));
      count("unlink");
    } else if (roll < 0.5) {
      const dir = pick(dirs());
      const path = join2(dir, freshName(dir));
      const a = attrs();
      await fs.mkdir(path, a);
      model.add(path, { type: "directory", ...a, xattrs: new Map() });
      model.changed(dir);
      count("mkdir");
    } else if (roll < 0.53) {
      // Grow one directory past the next format threshold (htree / XFS block → leaf → node).
      const dir = pick(dirs());
      const entries = pick([40, 300, 1500]);
      for (let i = 0; i < entries; i++) {
        const path = join2(dir, freshName(dir));
        if (random() < 0.5) {
          await fs.writeFile(path, Buffer.from(`${i}\n`), { mode: 0o644, uid: 0, gid: 0 });
          model.add(path, { type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.from(`${i}\n`), xattrs: new Map() });
        } else {
          await fs.symlink(`target-${i}`, path);
          model.add(path, { type: "symlink", mode: 0o777, uid: 0, gid: 0, target: `target-${i}`, xattrs: new Map() });
        }
      }
      model.changed(dir);
      count("grow-directory");
    } else if (roll < 0.57) {
      // Empty a directory (deleting most of a big one shrinks it) and maybe remove it.
      const candidates = paths("directory");
      if (candidates.length === 0) continue;
      const dir = pick(candidates);
      const below = [...model.names.keys()].filter((p) => p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
      for (const p of below) {
        if (model.inodeAt(p)!.type === "directory") await fs.rmdir(p);
        else await fs.unlink(p);
        model.remove(p);
        model.changed(parentOf(p));
      }
      if (random() < 0.5) {
        await fs.rmdir(dir);
        model.remove(dir);
        model.changed(parentOf(dir));
      }
      count("empty-directory");
    } else if (roll < 0.65 && paths().length > 0) {
      const from = pick(paths());
      const isDir = model.inodeAt(from)!.type === "directory";
      const targets = dirs().filter((d) => d !== from && !d.startsWith(`${from}/`));
      const toDir = pick(targets);
      // Over an existing name of a compatible kind sometimes, as rename(2) allows.
      const existing = model.children(toDir).filter((p) => p !== from && !from.startsWith(`${p}/`) && (isDir ? model.inodeAt(p)!.type === "directory" && model.children(p).length === 0 : model.inodeAt(p)!.type !== "directory"));
      const to = existing.length > 0 && random() < 0.3 ? pick(existing) : join2(toDir, freshName(toDir));
      await fs.rename(from, to);
      if (model.names.has(to)) model.remove(to);
      model.move(from, to);
      model.changed(parentOf(from));
      model.changed(parentOf(to));
      count("rename");
    } else if (roll < 0.7 && files.length > 0) {
      const existing = pick(files);
      const dir = pick(dirs());
      const path = join2(dir, freshName(dir));
      await fs.link(existing, path);
      model.link(existing, path);
      count("link");
    } else if (roll < 0.76) {
      const dir = pick(dirs());
      const path = join2(dir, freshName(dir));
      const target = random() < 0.5 ? `t${int(1000)}` : `/${"long-target-component/".repeat(1 + int(12))}end`;
      await fs.symlink(target, path, { uid: 1000, gid: 1000 });
      model.add(path, { type: "symlink", mode: 0o777, uid: 1000, gid: 1000, target, xattrs: new Map() });
      model.changed(dir);
      count("symlink");
    } else if (roll < 0.79) {
      const dir = pick(dirs());
      const path = join2(dir, freshName(dir));
      const type = pick(["chardev", "blockdev", "fifo"] as const);
      const major = type === "fifo" ? 0 : int(300);
      const minor = type === "fifo" ? 0 : pick([0, 1, 255, 256, 70000]);
      await fs.mknod(path, type, { mode: 0o640, uid: 0, gid: 6, rdevMajor: major, rdevMinor: minor });
      model.add(path, { type, mode: 0o640, uid: 0, gid: 6, rdevMajor: major, rdevMinor: minor, xattrs: new Map() });
      model.changed(dir);
      count("mknod");
    } else if (roll < 0.84 && paths().length > 0) {
      const path = pick(paths().filter((p) => model.inodeAt(p)!.type !== "symlink"));
      if (path === undefined) continue;
      const inode = model.inodeAt(path)!;
      const op = int(3);
      if (op === 0) {
        inode.mode = pick([0o600, 0o644, 0o755, 0o4711, 0o1777]);
        await fs.chmod(path, inode.mode);
      } else if (op === 1) {
        inode.uid = pick([0, 1, 1000, 4_000_000_000]);
        inode.gid = pick([0, 5, 1000, 3_000_000_000]);
        await fs.chown(path, inode.uid, inode.gid);
      } else {
        inode.atimeNs = BigInt(int(2_000_000_000)) * 1_000_000_000n + BigInt(int(1_000_000_000));
        inode.mtimeNs = BigInt(int(2_000_000_000)) * 1_000_000_000n + BigInt(int(1_000_000_000));
        await fs.utimes(path, inode.atimeNs, inode.mtimeNs);
      }
      count(["chmod", "chown", "utimes"][op]!);
    } else if (roll < 0.9 && paths().length > 0) {
      const path = pick(paths());
      const inode = model.inodeAt(path)!;
      const names = [...inode.xattrs.keys()];
      if (names.length > 0 && random() < 0.3) {
        const name = pick(names);
        await fs.removexattr(path, name);
        inode.xattrs.delete(name);
        count("removexattr");
      } else {
        // Linux keeps user. attributes to regular files and directories.
        const userAllowed = inode.type === "file" || inode.type === "directory";
        const name = pick(userAllowed ? ["user.leapp", "user.note", "security.capability", "security.selinux", `user.k${int(50)}`] : ["trusted.leapp", "security.capability", "security.selinux", `trusted.k${int(20)}`]);
        const value = name === "security.selinux" ? Buffer.from("system_u:object_r:bin_t:s0\0") : name === "security.capability" ? capability(random) : Buffer.alloc(1 + int(random() < 0.9 ? 64 : 1500), int(256));
        const after = new Map(inode.xattrs).set(name, value);
        const total = [...after].reduce((n, [k, v]) => n + xattrBytes(k, v), 0);
        try {
          await fs.setxattr(path, name, value);
        } catch (err) {
          if (!(err instanceof InspectError) || err.code !== "INSPECT_NO_SPACE" || total <= (variant.xattrCapacity ?? Infinity)) throw err;
          count("setxattr-full");
          continue;
        }
        inode.xattrs.set(name, value);
        count("setxattr");
      }
    } else {
      await invalidCall(fs, model, pick, freshName, maxName);
      count("invalid");
    }
  }
  return counts;
}

/** One call that must fail with a typed error and change nothing. */
async function invalidCall(fs: WritableFilesystem, model: FilesystemModel, pick: <T>(items: readonly T[]) => T, freshName: (dir: string) => string, maxName: number): Promise<void> {
  const all = [...model.names.keys()];
  const dirs = all.filter((p) => model.inodeAt(p)!.type === "directory");
  const nonDirs = all.filter((p) => model.inodeAt(p)!.type !== "directory");
  const nonEmpty = dirs.filter((d) => model.children(d).length > 0);
  const cases: Array<() => Promise<void>> = [
    () => expectCode(fs.mkdir(pick(all)), "INSPECT_EXISTS", "mkdir over an existing name"),
    () => expectCode(fs.writeFile(`${pick(dirs)}/${"x".repeat(maxName + 1)}`.replace("//", "/"), Buffer.from("x")), "INSPECT_INVALID_NAME", "a name over the length limit"),
    () => expectCode(fs.mkdir(`${pick(dirs)}/a\0b`.replace("//", "/")), "INSPECT_INVALID_NAME", "a name with NUL"),
    () => expectCode(fs.writeFile(`/missing-${freshName("/").slice(0, 40)}/file`, Buffer.from("x")), "INSPECT_NOT_FOUND", "a file in a missing directory"),
  ];
  if (nonEmpty.filter((d) => d !== "/").length > 0) cases.push(() => expectCode(fs.rmdir(pick(nonEmpty.filter((d) => d !== "/"))), "INSPECT_NOT_EMPTY", "rmdir of a non-empty directory"));
  if (dirs.length > 1) cases.push(() => expectCode(fs.unlink(pick(dirs.filter((d) => d !== "/"))), "INSPECT_IS_A_DIRECTORY", "unlink of a directory"));
  if (dirs.length > 1) cases.push(() => expectCode(fs.link(pick(dirs.filter((d) => d !== "/")), `/${freshName("/")}`), "INSPECT_INVALID", "a hard link to a directory"));
  if (nonDirs.length > 0) cases.push(() => expectCode(fs.writeFile(`${pick(nonDirs)}/below`, Buffer.from("x")), "INSPECT_NOT_A_DIRECTORY", "a file below a non-directory"));
  const nested = dirs.filter((d) => d !== "/" && model.children(d).some((c) => model.inodeAt(c)!.type === "directory"));
  if (nested.length > 0) {
    const dir = pick(nested);
    const child = pick(model.children(dir).filter((c) => model.inodeAt(c)!.type === "directory"));
    cases.push(() => expectCode(fs.rename(dir, `${child}/${freshName(child)}`), "INSPECT_INVALID", "a directory moved into itself"));
  }
  await pick(cases)();
}

/**
 * The model of the filesystem a variant's mkfs made: empty but for lost+found, or populated (a
 * tree the real mkfs wrote, as guests are) — every name, hard links sharing one inode, content,
 * targets, device numbers and non-system attributes.
 */
async function modelOf(fs: Filesystem): Promise<FilesystemModel> {
  const model = new FilesystemModel();
  const root = await fs.lstat("/");
  Object.assign(model.inodeAt("/")!, { mode: root.mode, uid: root.uid, gid: root.gid });
  const byIno = new Map<number, number>([[root.ino, 0]]);
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const path = join2(dir, name);
      const st = await fs.lstat(path);
      const known = byIno.get(st.ino);
      if (known !== undefined && st.type !== "directory") {
        model.names.set(path, known);
        continue;
      }
      const xattrs = new Map([...(await fs.xattrs(path))].filter(([k]) => !k.startsWith("system.")).map(([k, v]) => [k, Buffer.from(v)]));
      const inode: ModelInode = { type: st.type, mode: st.mode, uid: st.uid, gid: st.gid, xattrs };
      if (st.type === "file") inode.content = Buffer.from(await fs.readFile(path, { maxBytes: 1 << 30 }));
      if (st.type === "symlink") inode.target = await fs.readlink(path);
      if (st.type === "chardev" || st.type === "blockdev") Object.assign(inode, { rdevMajor: st.rdevMajor, rdevMinor: st.rdevMinor });
      model.add(path, inode);
      byIno.set(st.ino, model.names.get(path)!);
      if (st.type === "directory") await walk(path);
    }
  };
  await walk("/");
  return model;
}

/** Compares a filesystem read through a driver with the model. */
export async function compareWithModel(fs: Filesystem, model: FilesystemModel, variant: WritableVariant): Promise<number> {
  let checked = 0;
  const inodeOf = new Map<number, number>();
  const walk = async (path: string): Promise<void> => {
    const expected = model.inodeAt(path)!;
    const st = await fs.lstat(path);
    const fail = (what: string, want: unknown, got: unknown): never => {
      throw new Error(`${variant.name}: ${path}: ${what} is ${String(got)}, expected ${String(want)}`);
    };
    checked++;
    if (st.type !== expected.type) fail("type", expected.type, st.type);
    if (expected.type !== "symlink" && st.mode !== expected.mode) fail("mode", expected.mode.toString(8), st.mode.toString(8));
    if (st.uid !== expected.uid || st.gid !== expected.gid) fail("owner", `${expected.uid}:${expected.gid}`, `${st.uid}:${st.gid}`);
    if (st.nlink !== model.nlink(path)) fail("link count", model.nlink(path), st.nlink);
    const id = model.names.get(path)!;
    const seen = inodeOf.get(id);
    if (seen === undefined) inodeOf.set(id, st.ino);
    else if (seen !== st.ino) fail("inode of a hard link", seen, st.ino);
    const res = BigInt(variant.timeResolutionNs);
    if (expected.mtimeNs !== undefined && st.mtimeNs !== (expected.mtimeNs / res) * res) fail("mtime", expected.mtimeNs, st.mtimeNs);
    if (expected.atimeNs !== undefined && st.atimeNs !== (expected.atimeNs / res) * res) fail("atime", expected.atimeNs, st.atimeNs);
    const xattrs = await fs.xattrs(path);
    const wantXattrs = [...expected.xattrs.entries()].map(([k, v]) => `${k}=${v.toString("hex")}`).sort().join(",");
    const gotXattrs = [...xattrs.entries()].filter(([k]) => !k.startsWith("system.")).map(([k, v]) => `${k}=${Buffer.from(v).toString("hex")}`).sort().join(",");
    if (wantXattrs !== gotXattrs) fail("xattrs", wantXattrs, gotXattrs);
    if (expected.type === "file" && expected.content) {
      if (st.size !== expected.content.length) fail("size", expected.content.length, st.size);
      const got = await fs.readFile(path, { maxBytes: 1 << 30 });
      if (!Buffer.from(got).equals(expected.content)) fail("content", "the written bytes", "other bytes");
    } else if (expected.type === "symlink") {
      const target = await fs.readlink(path);
      if (target !== expected.target) fail("target", expected.target, target);
    } else if (expected.type === "chardev" || expected.type === "blockdev") {
      if (st.rdevMajor !== expected.rdevMajor || st.rdevMinor !== expected.rdevMinor) fail("device numbers", `${expected.rdevMajor}:${expected.rdevMinor}`, `${st.rdevMajor}:${st.rdevMinor}`);
    } else if (expected.type === "directory") {
      const want = model.children(path).map((p) => p.slice(p.lastIndexOf("/") + 1)).sort();
      const got = (await fs.readdir(path)).sort();
      if (want.join("/") !== got.join("/")) fail("entries", want.length, `${got.length} (${got.filter((n) => !want.includes(n)).slice(0, 3).join(",")} extra, ${want.filter((n) => !got.includes(n)).slice(0, 3).join(",")} missing)`);
      for (const name of want) await walk(join2(path, name));
    }
  };
  await walk("/");
  return checked;
}

/** Loop-mounts `image` read-only and compares what the kernel reads with the model. */
export function compareKernelWithModel(image: string, model: FilesystemModel, variant: WritableVariant): number {
  const mountpoint = mkdtempSync(join(tmpdir(), "leapp-kernel-"));
  try {
    execFileSync("mount", ["-o", "ro,loop", image, mountpoint]);
  } catch (err) {
    rmSync(mountpoint, { recursive: true, force: true });
    throw err;
  }
  try {
    // Every xattr of the tree in one call: `getfattr -R -h -d -m - -e hex --absolute-names`.
    const dump = spawnSync("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", mountpoint], { encoding: "latin1", maxBuffer: 1 << 28 });
    const xattrs = new Map<string, Map<string, string>>();
    let current: Map<string, string> | undefined;
    for (const line of dump.stdout.split("\n")) {
      // Names are raw bytes (read as latin1, one char a byte), with control bytes as octal escapes.
      if (line.startsWith("# file: ")) xattrs.set(Buffer.from(line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), "latin1").toString("utf8"), (current = new Map()));
      else if (current && line.includes("=0x")) current.set(line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=0x") + 3));
    }
    let checked = 0;
    const inodeOf = new Map<number, number>();
    const walk = (path: string): void => {
      const host = path === "/" ? mountpoint : mountpoint + path;
      const expected = model.inodeAt(path)!;
      const st = lstatSync(host, { bigint: true });
      const fail = (what: string, want: unknown, got: unknown): never => {
        throw new Error(`${variant.name} (kernel): ${path}: ${what} is ${String(got)}, expected ${String(want)}`);
      };
      checked++;
      const type: FileType = st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? "chardev" : st.isBlockDevice() ? "blockdev" : st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : "unknown";
      if (type !== expected.type) fail("type", expected.type, type);
      if (type !== "symlink" && (Number(st.mode) & 0o7777) !== expected.mode) fail("mode", expected.mode.toString(8), (Number(st.mode) & 0o7777).toString(8));
      if (Number(st.uid) !== expected.uid || Number(st.gid) !== expected.gid) fail("owner", `${expected.uid}:${expected.gid}`, `${st.uid}:${st.gid}`);
      if (Number(st.nlink) !== model.nlink(path)) fail("link count", model.nlink(path), st.nlink);
      const id = model.names.get(path)!;
      const seen = inodeOf.get(id);
      if (seen === undefined) inodeOf.set(id, Number(st.ino));
      else if (seen !== Number(st.ino)) fail("inode of a hard link", seen, st.ino);
      const res = BigInt(variant.timeResolutionNs);
      if (expected.mtimeNs !== undefined && st.mtimeNs !== (expected.mtimeNs / res) * res) fail("mtime", expected.mtimeNs, st.mtimeNs);
      const want = [...expected.xattrs.entries()].map(([k, v]) => `${k}=${v.toString("hex")}`).sort().join(",");
      const got = [...(xattrs.get(host) ?? new Map<string, string>()).entries()].filter(([k]) => !k.startsWith("system.")).map(([k, v]) => `${k}=${v}`).sort().join(",");
      if (want !== got) fail("xattrs", want, got);
      if (type === "file" && expected.content && !readFileSync(host).equals(expected.content)) fail("content", "the written bytes", "other bytes");
      if (type === "symlink" && readlinkSync(host) !== expected.target) fail("target", expected.target, readlinkSync(host));
      if (type === "chardev" || type === "blockdev") {
        const rdev = st.rdev;
        const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
        const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
        if (major !== expected.rdevMajor || minor !== expected.rdevMinor) fail("device numbers", `${expected.rdevMajor}:${expected.rdevMinor}`, `${major}:${minor}`);
      }
      if (type === "directory") {
        const wantNames = model.children(path).map((p) => p.slice(p.lastIndexOf("/") + 1)).sort();
        const gotNames = readdirSync(host).sort();
        if (wantNames.join("/") !== gotNames.join("/")) fail("entries", wantNames.length, gotNames.length);
        for (const name of wantNames) walk(join2(path, name));
      }
    };
    walk("/");
    return checked;
  } finally {
    execFileSync("umount", [mountpoint]);
    rmSync(mountpoint, { recursive: true, force: true });
  }
}

/**
 * The whole check for one variant and seed: mkfs, open writable, apply the sequence, flush, close;
 * fsck must be clean; our reader and the kernel must both read back the model. Returns the counts.
 */
export async function runWriteConformance(variant: WritableVariant, work: string, options: SequenceOptions): Promise<OperationCounts> {
  const image = join(work, `${variant.name.replace(/[^a-z0-9]+/gi, "-")}-${options.seed}.img`);
  variant.mkfs(image);
  let device: BlockDevice = await openDisk(image, { format: "raw", writable: true });
  const fs = await variant.driver.open(device, { writable: true });
  const model = await modelOf(fs);
  const counts = await applyRandomSequence(fs, model, options, variant);
  // Read back through the same open filesystem before anything is flushed.
  await compareWithModel(fs, model, variant);
  await fs.flush();
  await fs.close();
  await device.close();
  variant.fsck(image);
  device = await openDisk(image, { format: "raw" });
  const reader = await variant.driver.open(device);
  const checked = await compareWithModel(reader, model, variant);
  await reader.close();
  await device.close();
  if (variant.kernelMounts !== false) expect(compareKernelWithModel(image, model, variant)).toBe(checked);
  if (variant.toolReadBack) expect(variant.toolReadBack(image, model)).toBe(checked);
  rmSync(image, { force: true });
  return counts;
}

/**
 * Fills a fresh filesystem until the driver says INSPECT_NO_SPACE, and aborts one streamed write
 * halfway: both failed writes leave no file behind, every earlier file is intact, fsck is clean and
 * the kernel reads back the model.
 */
export async function runFullAndAbortedWrites(variant: WritableVariant, work: string): Promise<{ files: number }> {
  const image = join(work, `${variant.name.replace(/[^a-z0-9]+/gi, "-")}-full.img`);
  variant.mkfs(image);
  const device = await openDisk(image, { format: "raw", writable: true });
  const fs = await variant.driver.open(device, { writable: true });
  const model = await modelOf(fs);

  // An aborted streamed write: the signal fires after the first chunks went out.
  const controller = new AbortController();
  const slow = async function* () {
    for (let i = 0; i < 64; i++) {
      if (i === 8) controller.abort();
      yield Buffer.alloc(65_536, i);
    }
  };
  await expect(fs.writeFile("/aborted", slow(), {}, { signal: controller.signal })).rejects.toSatisfy((err: unknown) => err === controller.signal.reason);
  await expectCode(fs.lstat("/aborted"), "INSPECT_NOT_FOUND", "an aborted new file");

  const usage = await fs.usage();
  const chunk = Math.max(1 << 20, Math.floor((usage.freeBlocks * usage.blockSize) / 40));
  let files = 0;
  for (;;) {
    const path = `/fill-${files}`;
    const data = Buffer.alloc(chunk, files + 1);
    try {
      await fs.writeFile(path, data);
    } catch (err) {
      if (!(err instanceof InspectError) || err.code !== "INSPECT_NO_SPACE") throw err;
      await expectCode(fs.lstat(path), "INSPECT_NOT_FOUND", "a new file whose write ran out of space");
      break;
    }
    model.add(path, { type: "file", mode: 0o644, uid: 0, gid: 0, content: data, xattrs: new Map() });
    files++;
    if (files > 200) throw new Error(`${variant.name}: ${files} writes of ${chunk} bytes never filled a filesystem of ${usage.totalBlocks} blocks`);
  }
  // Space freed is space usable again.
  await fs.unlink(`/fill-0`);
  model.remove(`/fill-0`);
  const again = Buffer.alloc(Math.floor(chunk / 2), 0x5a);
  await fs.writeFile("/after-full", again);
  model.add("/after-full", { type: "file", mode: 0o644, uid: 0, gid: 0, content: again, xattrs: new Map() });
  await fs.flush();
  await fs.close();
  await device.close();
  variant.fsck(image);
  if (variant.kernelMounts !== false) compareKernelWithModel(image, model, variant);
  variant.toolReadBack?.(image, model);
  rmSync(image, { force: true });
  return { files };
}
