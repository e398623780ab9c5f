// The shared conformance suite for filesystem drivers: a seeded random tree on the host, built into
// images by the real mkfs tools, then every path compared through the driver.
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import type { BlockDevice } from "@leapp/storage";
import { expect } from "vitest";
import { InspectError } from "../errors.js";
import type { Filesystem, FileType } from "./filesystem.js";
import { fileDevice, patchedDevice } from "../block/volumes-test-support.js";
import { cachedSync, fixtureKey, seededRandom } from "@leapp/zoo";

export interface TreeOptions {
  seed: number;
  /** Entries in the one big directory (XFS leaf/node dirs, ext4 htree). */
  manyEntries: number;
}

/** Bumped whenever the generator changes, so cached images are rebuilt. */
const GENERATOR_VERSION = 3;

function bytes(random: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

function name(random: () => number, length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
  let s = "";
  while (s.length < length) s += alphabet[Math.floor(random() * alphabet.length)];
  return s.startsWith(".") ? `x${s.slice(1)}` : s;
}

/**
 * Builds the conformance tree under `root` (which must not exist): nested directories, long
 * names, one directory with many entries, empty/large/sparse/many-extent files, fast and slow
 * symlinks, hard links, special permission bits, and assorted owners.
 */
export function buildTree(root: string, options: TreeOptions): void {
  const random = seededRandom(options.seed);
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  // Nested directories with files at every level.
  let dir = root;
  for (let depth = 0; depth < 6; depth++) {
    dir = join(dir, `level${depth}-${name(random, 8)}`);
    mkdirSync(dir);
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, name(random, 5 + Math.floor(random() * 20))), bytes(random, Math.floor(random() * 9000)));
  }
  // The longest names a filesystem allows.
  writeFileSync(join(root, name(random, 255)), "long name\n");
  mkdirSync(join(root, name(random, 200)));
  // Many entries in one directory.
  const many = join(root, "many");
  mkdirSync(many);
  for (let i = 0; i < options.manyEntries; i++) writeFileSync(join(many, `entry-${i}-${name(random, 1 + Math.floor(random() * 40))}`), i % 3 === 0 ? "" : `${i}\n`);
  // Empty, large, sparse and many-extent files.
  writeFileSync(join(root, "empty"), "");
  writeFileSync(join(root, "large.bin"), bytes(random, 3 * 1024 * 1024 + 123));
  const sparse = openSync(join(root, "sparse.bin"), "w");
  writeSync(sparse, Buffer.from("start\n"), 0, 6, 0);
  writeSync(sparse, Buffer.from("middle\n"), 0, 7, 5 * 1024 * 1024);
  writeSync(sparse, Buffer.from("end\n"), 0, 4, 12 * 1024 * 1024 - 4);
  closeSync(sparse);
  const fragmented = openSync(join(root, "fragmented.bin"), "w");
  for (let block = 0; block < 600; block += 2) writeSync(fragmented, bytes(random, 4096), 0, 4096, block * 4096);
  // Ends in data: mke2fs -d with inline_data drops a trailing hole from the size.
  writeSync(fragmented, bytes(random, 17), 0, 17, 600 * 4096);
  closeSync(fragmented);
  // Symlinks: fast (in the inode), slow (a data block), dangling, looping, absolute.
  symlinkSync("empty", join(root, "fast-link"));
  // Slow for ext (> 60 bytes) yet local for XFS: mkfs.xfs 6.1 writes v5 remote symlinks without
  // their block headers, which xfs_repair rightly flags.
  symlinkSync(`${"a-very-long-directory-name/".repeat(7)}target`, join(root, "slow-link"));
  symlinkSync("/etc/does-not-exist", join(root, "dangling-link"));
  symlinkSync("loop-b", join(root, "loop-a"));
  symlinkSync("loop-a", join(root, "loop-b"));
  // Hard links.
  writeFileSync(join(root, "hard-original"), "shared content\n");
  linkSync(join(root, "hard-original"), join(root, "hard-link"));
  // Permissions and owners.
  const perms: Array<[string, number, number, number]> = [
    ["setuid", 0o4755, 0, 0],
    ["setgid", 0o2750, 1000, 100],
    ["private", 0o600, 65534, 65534],
    ["big-ids", 0o644, 100000, 200000],
  ];
  for (const [file, mode, uid, gid] of perms) {
    writeFileSync(join(root, file), `${file}\n`);
    chownSync(join(root, file), uid, gid);
    chmodSync(join(root, file), mode);
  }
  mkdirSync(join(root, "sticky"));
  chmodSync(join(root, "sticky"), 0o1777);
  execFileSync("mkfifo", [join(root, "fifo")]);
}

/** Builds the tree once into the zoo's fixture cache and returns its path. */
export function cachedTree(options: TreeOptions): string {
  return join(cachedSync(fixtureKey("inspect-fs-tree", { options, GENERATOR_VERSION }), (dir) => buildTree(join(dir, "tree"), options)), "tree");
}

function hostType(path: string): FileType {
  const s = lstatSync(path);
  if (s.isFile()) return "file";
  if (s.isDirectory()) return "directory";
  if (s.isSymbolicLink()) return "symlink";
  if (s.isFIFO()) return "fifo";
  if (s.isCharacterDevice()) return "chardev";
  if (s.isBlockDevice()) return "blockdev";
  if (s.isSocket()) return "socket";
  return "unknown";
}

export interface CompareOptions {
  /** Entries of the host tree the image does not have (e.g. the cache marker). */
  ignore?: string[];
  /** Permission bits the image can hold (mkfs.xfs protofiles cannot express the sticky bit). */
  modeMask?: number;
  /** Whether the image keeps hard links (mkfs.xfs protofiles make each name its own inode). */
  hardLinks?: boolean;
}

/**
 * Compares every path of the host tree with the filesystem: the same names in every directory,
 * and for each entry type, permission bits, size, uid, gid, symlink target and file content.
 * Returns the number of paths checked; throws with the first difference.
 */
export async function compareTree(fs: Filesystem, hostRoot: string, options: CompareOptions = {}): Promise<number> {
  const ignore = new Set(options.ignore ?? [".complete", "lost+found"]);
  let checked = 0;
  // Host inode → the image inode its first name had: every other name must share it.
  const inodes = new Map<number, number>();
  const walk = async (relative: string): Promise<void> => {
    const host = join(hostRoot, relative);
    const guestPath = relative === "" ? "/" : `/${relative}`;
    const expectedType = hostType(host);
    const hs = lstatSync(host);
    const gs = await fs.lstat(guestPath);
    const fail = (what: string, expected: unknown, actual: unknown): never => {
      throw new Error(`${guestPath}: ${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
    };
    checked++;
    if (gs.type !== expectedType) fail("type", expectedType, gs.type);
    const mask = options.modeMask ?? 0o7777;
    if (gs.mode !== (hs.mode & mask)) fail("mode", (hs.mode & mask).toString(8), gs.mode.toString(8));
    if (gs.uid !== hs.uid) fail("uid", hs.uid, gs.uid);
    if (gs.gid !== hs.gid) fail("gid", hs.gid, gs.gid);
    if (options.hardLinks !== false && expectedType !== "directory") {
      if (gs.nlink !== hs.nlink) fail("link count", hs.nlink, gs.nlink);
      const first = inodes.get(hs.ino);
      if (first === undefined) inodes.set(hs.ino, gs.ino);
      else if (first !== gs.ino) fail("inode (a hard link of an earlier name)", first, gs.ino);
    }
    if (expectedType === "file") {
      if (gs.size !== hs.size) fail("size", hs.size, gs.size);
      const content = await fs.readFile(guestPath, { maxBytes: 64 * 1024 * 1024 });
      const hostContent = readFileSync(host);
      if (!Buffer.from(content).equals(hostContent)) fail("content", "the host file's bytes", "different bytes");
      // The streaming reader agrees, read in odd-sized pieces, and its data ranges hold every non-zero byte.
      const file = await fs.openFile(guestPath);
      try {
        const streamed = Buffer.alloc(hostContent.length);
        for (let at = 0; at < streamed.length; at += 77_777) {
          const got = await file.read(streamed.subarray(at, Math.min(streamed.length, at + 77_777)), at);
          if (got !== Math.min(77_777, streamed.length - at)) fail(`bytes read at ${at}`, Math.min(77_777, streamed.length - at), got);
        }
        if (!streamed.equals(hostContent)) fail("streamed content", "the host file's bytes", "different bytes");
        const covered = Buffer.alloc(hostContent.length);
        for await (const range of file.dataRanges()) covered.set(hostContent.subarray(range.offset, range.offset + range.length), range.offset);
        if (!covered.equals(hostContent)) fail("data ranges", "every non-zero byte covered", "a data byte outside them");
      } finally {
        await file.close();
      }
    } else if (expectedType === "symlink") {
      const target = await fs.readlink(guestPath);
      if (target !== readlinkSync(host)) fail("link target", readlinkSync(host), target);
      if (gs.size !== hs.size) fail("size", hs.size, gs.size);
    } else if (expectedType === "directory") {
      const expected = readdirSync(host).filter((n) => !ignore.has(n)).sort();
      const actual = (await fs.readdir(guestPath)).filter((n) => !ignore.has(n)).sort();
      if (expected.join("\n") !== actual.join("\n")) fail("entries", expected.length, actual.length);
      if (fs.list) {
        // The bulk listing tells exactly what the calls per name tell.
        // A driver that cannot read xattrs refuses a listing with them as it refuses `xattrs`.
        const xattrs = await fs.xattrs(guestPath).then(
          () => true,
          (err: unknown) => (err as InspectError).code !== "INSPECT_UNSUPPORTED",
        );
        if (!xattrs && expected.length > 0) await expect(fs.list(guestPath, { xattrs: true })).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
        const listed = (await fs.list(guestPath, { xattrs })).filter((e) => !ignore.has(e.name));
        if (listed.map((e) => e.name).sort().join("\n") !== expected.join("\n")) fail("listed entries", expected.length, listed.length);
        for (const entry of listed) {
          const path = guestPath === "/" ? `/${entry.name}` : `${guestPath}/${entry.name}`;
          if (entry.error) fail(`listing of ${path}`, "a stat", entry.error.code);
          expect(entry.stat, path).toEqual(await fs.lstat(path));
          expect(entry.linkTarget, path).toEqual(entry.stat!.type === "symlink" ? await fs.readlink(path) : undefined);
          if (xattrs) expect(entry.xattrs ?? new Map(), path).toEqual(await fs.xattrs(path));
        }
      }
      for (const child of expected) await walk(relative === "" ? child : `${relative}/${child}`);
    }
  };
  await walk("");
  return checked;
}

/** Builds an image file once per key into the zoo's fixture cache: `build(path)` writes it. */
export function cachedImage(key: unknown, build: (path: string) => void): string {
  return join(cachedSync(fixtureKey("inspect-fs", { key, GENERATOR_VERSION }), (dir) => build(join(dir, "image.raw"))), "image.raw");
}

/**
 * An mkfs.xfs protofile describing a host tree (see mkfs.xfs(8), "-p protofile"). The format has
 * no hard links (each name becomes its own inode) and no sticky bit; names must hold no blanks
 * or colons, which the generated tree never has.
 */
export function protofile(root: string, ignore: string[] = [".complete"]): string {
  const lines = ["/leapp-conformance", "0 0"];
  const modeString = (kind: string, mode: number) =>
    `${kind}${mode & 0o4000 ? "u" : "-"}${mode & 0o2000 ? "g" : "-"}${(mode & 0o777).toString(8).padStart(3, "0")}`;
  const walk = (dir: string, indent: string) => {
    for (const entry of readdirSync(dir).sort()) {
      if (ignore.includes(entry)) continue;
      if (/[\s:]/.test(entry) || entry.startsWith("$")) throw new Error(`${entry}: a name a protofile cannot hold`);
      const path = join(dir, entry);
      const s = lstatSync(path);
      const owner = `${s.uid} ${s.gid}`;
      if (s.isDirectory()) {
        lines.push(`${indent}${entry} ${modeString("d", s.mode)} ${owner}`);
        walk(path, `${indent} `);
        lines.push(`${indent}$`);
      } else if (s.isFile()) lines.push(`${indent}${entry} ${modeString("-", s.mode)} ${owner} ${path}`);
      else if (s.isSymbolicLink()) lines.push(`${indent}${entry} ${modeString("l", s.mode)} ${owner} ${readlinkSync(path)}`);
      else if (s.isFIFO()) lines.push(`${indent}${entry} ${modeString("p", s.mode)} ${owner}`);
      else throw new Error(`${path}: a file type this protofile writer does not handle`);
    }
  };
  const top = lstatSync(root);
  lines.push(modeString("d", top.mode) + ` ${top.uid} ${top.gid}`);
  walk(root, " ");
  lines.push("$", "");
  return lines.join("\n");
}

const MAX_OPERATIONS = 5000;

/** Walks everything reachable; returns how many operations succeeded and failed (typed, by code). */
export async function walkFilesystem(fs: Filesystem): Promise<{ ok: number; failed: number; codes: Set<string> }> {
  let ok = 0;
  let failed = 0;
  const codes = new Set<string>();
  const attempt = async <T>(op: () => Promise<T>): Promise<T | undefined> => {
    if (ok + failed >= MAX_OPERATIONS) return undefined;
    try {
      const result = await op();
      ok++;
      return result;
    } catch (error) {
      if (!(error instanceof InspectError)) throw error;
      failed++;
      codes.add(error.code);
      return undefined;
    }
  };
  const visit = async (path: string, depth: number): Promise<void> => {
    const stat = await attempt(() => fs.lstat(path));
    if (!stat) return;
    if (stat.type === "file") await attempt(() => fs.readFile(path, { maxBytes: 1024 * 1024 }));
    else if (stat.type === "symlink") await attempt(() => fs.readlink(path));
    else if (stat.type === "directory" && depth < 40) {
      const listed = fs.list ? await attempt(() => fs.list!(path, { xattrs: true })) : undefined;
      for (const entry of listed ?? []) if (entry.error && !(entry.error instanceof InspectError)) throw entry.error;
      const names = await attempt(() => fs.readdir(path));
      for (const name of names ?? []) await visit(path === "/" ? `/${name}` : `${path}/${name}`, depth + 1);
    }
  };
  await visit("/", 0);
  return { ok, failed, codes };
}

/**
 * Seeded mutation fuzzing: a clean walk records which device ranges are metadata (reads of at most
 * 64 KiB, optionally only those `within` a range), then rounds mutate bytes there and walk again.
 * Every outcome must be a result or an InspectError, each round in bounded time.
 */
export async function fuzzFilesystem(name: string, image: string, open: (device: BlockDevice) => Promise<Filesystem>, seed: number, budgetMs: number, within?: { start: number; end: number }): Promise<void> {
  const base = fileDevice(image);
  // A clean walk records which blocks are metadata.
  const metadata = new Set<number>();
  const clean = await open(patchedDevice(base, new Map(), (position, length) => {
    if (length <= 64 * 1024 && (!within || (position >= within.start && position < within.end))) metadata.add(position * 65536 + length);
  }));
  const baseline = await walkFilesystem(clean);
  // Clean: only files over the walk's 1 MiB read limit fail.
  expect([...baseline.codes].filter((code) => code !== "INSPECT_TOO_LARGE")).toEqual([]);
  const regions = [...metadata].map((key) => ({ position: Math.floor(key / 65536), length: key % 65536 }));
  const random = seededRandom(seed);
  const started = performance.now();
  let rounds = 0;
  let typedFailures = 0;
  // A floor of rounds as well as a time budget: a loaded machine still runs enough of them.
  while (performance.now() - started < budgetMs || rounds <= 10) {
    const patches = new Map<number, number>();
    for (let k = 0; k < 1 + Math.floor(random() * 12); k++) {
      const region = regions[Math.floor(random() * regions.length)]!;
      patches.set(region.position + Math.floor(random() * region.length), random() < 0.3 ? 0xff : Math.floor(random() * 256));
    }
    const roundStart = performance.now();
    try {
      const fs = await open(patchedDevice(base, patches));
      const result = await walkFilesystem(fs);
      typedFailures += result.failed;
    } catch (error) {
      if (!(error instanceof InspectError)) throw new Error(`${name} round ${rounds}: ${String(error)}`, { cause: error });
      typedFailures++;
    }
    expect(performance.now() - roundStart, `${name} round ${rounds} took too long`).toBeLessThan(5000);
    rounds++;
  }
  expect(rounds).toBeGreaterThan(10);
  expect(typedFailures).toBeGreaterThan(0);
  await base.close();
}
