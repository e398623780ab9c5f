/**
 * Test support (not exported from index.ts): trees with every kind of file a root filesystem
 * holds, made with the real tools, and a manifest of a tree to compare extractions by.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, linkSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync, utimesSync, chownSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InspectError, openDirectoryGuest, type GuestFS, type GuestStat, type InspectableGuest } from "@leapp/inspect";

/** Runs a tool; a missing tool fails the test with the Debian package to install. */
export function tool(cmd: string, args: string[], options: { input?: Uint8Array; cwd?: string; maxBuffer?: number; allowFailure?: boolean } = {}): Buffer {
  try {
    return execFileSync(cmd, args, { input: options.input, cwd: options.cwd, maxBuffer: options.maxBuffer ?? 256 << 20, stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer; status?: number };
    if (e.code === "ENOENT") throw new Error(`${cmd} is not installed (scripts/install-debian-tools.sh installs what the tests need)`);
    if (options.allowFailure && typeof e.status === "number") return (e as { stdout?: Buffer }).stdout ?? Buffer.alloc(0);
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${e.status}): ${e.stderr?.toString() ?? e.message}`);
  }
}

const scratch: string[] = [];
/** A fresh directory, removed when the test process exits. */
export function scratchDir(prefix = "leapp-packager-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (scratch.length === 0) process.once("exit", () => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));
  scratch.push(dir);
  return dir;
}

/**
 * A FIFO read by `sh -c "SCRIPT < FIFO"`, opened here for writing (blocking unless asked): a real
 * pipe whose descriptor the test holds. `exited` gives the reader's standard output and status.
 */
export async function fifoReader(script: string, options: { nonBlocking?: boolean } = {}): Promise<{ fd: number; exited: Promise<{ stdout: string; code: number }> }> {
  const fifo = join(scratchDir("leapp-fifo-"), "fifo");
  execFileSync("mkfifo", [fifo]);
  const reader = spawn("sh", ["-c", `${script} < '${fifo}'`], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  reader.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  reader.stderr.on("data", (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<{ stdout: string; code: number }>((resolve) => reader.on("close", (code) => resolve({ stdout, code: code ?? -1 })));
  // A non-blocking open for writing fails (ENXIO) until the reader has the FIFO open.
  let fd = -1;
  for (let tries = 0; fd < 0; tries++) {
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENXIO" || tries > 1000) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  if (!options.nonBlocking) {
    closeSync(fd);
    fd = openSync(fifo, constants.O_WRONLY);
  }
  return { fd, exited };
}

/** Extended attributes of a host file (not following links), read with the real getfattr. */
export function hostXattrs(path: string): Map<string, Uint8Array> {
  const out = tool("getfattr", ["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", path]).toString();
  const map = new Map<string, Uint8Array>();
  for (const line of out.split("\n")) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line);
    if (m) map.set(m[1]!, Buffer.from(m[2]!, "hex"));
  }
  return map;
}

/** Data ranges of a host file by lseek(SEEK_DATA/SEEK_HOLE), which Node lacks: asked of python3. */
export function hostDataRanges(path: string): { offset: number; length: number }[] {
  const script = [
    "import os,sys,json",
    "fd=os.open(sys.argv[1],os.O_RDONLY);end=os.fstat(fd).st_size;at=0;out=[]",
    "while at<end:",
    "  try: d=os.lseek(fd,at,os.SEEK_DATA)",
    "  except OSError: break",
    "  h=os.lseek(fd,d,os.SEEK_HOLE);out.append({'offset':d,'length':h-d});at=h",
    "print(json.dumps(out))",
  ].join("\n");
  return JSON.parse(tool("python3", ["-c", script, path]).toString()) as { offset: number; length: number }[];
}

/**
 * A directory guest that also tells xattrs (read with getfattr) and holes (lseek) of the host
 * tree, which the directory source itself does not report yet: tests of those features use it.
 */
export async function directoryGuestWithHostFacts(dir: string): Promise<InspectableGuest> {
  const guest = await openDirectoryGuest(dir);
  return Object.assign(Object.create(guest) as InspectableGuest, {
    context: guest.context,
    xattrs: async (path: string) => hostXattrs(join(dir, path)),
    openFile: async (path: string) => {
      const file = await guest.openFile(path);
      return Object.assign(Object.create(file) as typeof file, {
        size: file.size,
        read: file.read.bind(file),
        close: file.close.bind(file),
        dataRanges: async function* () {
          yield* hostDataRanges(join(dir, path));
        },
      });
    },
  });
}

/**
 * Every kind of file a root filesystem holds: long and non-ASCII names, hard links, symlinks,
 * devices, a FIFO, a sparse file ending in a hole, set-id and sticky modes, large ids,
 * nanosecond times and xattrs (user.*, security.capability).
 */
export function buildFeatureTree(root: string): void {
  mkdirSync(root, { recursive: true });
  const w = (rel: string, content: string | Buffer, mode = 0o644) => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), content);
    chmodSync(join(root, rel), mode);
  };
  w("etc/hostname", "web01\n");
  w("etc/empty", "");
  w("usr/bin/tool", Buffer.alloc(300_000, 7), 0o4755);
  w("usr/bin/sgid", "#!/bin/sh\n", 0o2755);
  mkdirSync(join(root, "tmp"));
  chmodSync(join(root, "tmp"), 0o1777);
  const longDir = ["a".repeat(60), "b".repeat(70), "c".repeat(80)].join("/");
  w(`${longDir}/${"d".repeat(120)}.txt`, "long\n");
  w(`srv/${"x".repeat(200)}`, "name longer than ustar fields\n");
  w("srv/häuser/straße €.txt", "utf-8\n");
  linkSync(join(root, "etc/hostname"), join(root, "etc/hostname.link1"));
  linkSync(join(root, "etc/hostname"), join(root, "srv/hostname.link2"));
  symlinkSync("../etc/hostname", join(root, "srv/relative-link"));
  symlinkSync("/" + longDir + "/" + "d".repeat(120) + ".txt", join(root, "srv/long-link"));
  symlinkSync("/nonexistent/target", join(root, "srv/dangling"));
  mkdirSync(join(root, "dev"));
  tool("mknod", ["-m", "666", join(root, "dev/null"), "c", "1", "3"]);
  tool("mknod", ["-m", "660", join(root, "dev/sda"), "b", "8", "0"]);
  tool("mknod", ["-m", "600", join(root, "dev/big"), "c", "511", "1048575"]);
  tool("mkfifo", ["-m", "600", join(root, "srv/fifo")]);
  // Sparse: data at 0, 3 MiB and 7 MiB of a 12 MiB file that ends in a hole.
  const sparse = join(root, "var/lib/sparse.img");
  mkdirSync(join(root, "var/lib"), { recursive: true });
  const fd = openSync(sparse, "w");
  ftruncateSync(fd, 12 << 20);
  for (const at of [0, 3 << 20, 7 << 20]) writeSync(fd, Buffer.alloc(70_000, at >> 20 || 1), 0, 70_000, at);
  closeSync(fd);
  w("home/user/big-ids", "owned by large ids\n");
  chownSync(join(root, "home/user/big-ids"), 3_000_000, 3_000_001);
  chownSync(join(root, "etc/hostname"), 1000, 1000);
  w("etc/caps", "#!/bin/sh\n", 0o755);
  tool("setcap", ["cap_net_bind_service,cap_net_raw+ep", join(root, "etc/caps")]);
  tool("setfattr", ["-n", "user.comment", "-v", "leapp test", join(root, "etc/hostname")]);
  tool("setfattr", ["-n", "user.binary", "-v", "0x00ff10", join(root, "srv")]);
  // Nanosecond times (touch -d keeps them; utimes alone would round to microseconds).
  tool("touch", ["-h", "-d", "2019-03-04 05:06:07.123456789", join(root, "etc/hostname")]);
  tool("touch", ["-h", "-d", "2020-01-01 00:00:00.5", join(root, "srv/relative-link")]);
  utimesSync(join(root, "etc/empty"), 0, 0);
}

export interface ManifestEntry {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  mtimeNs: string;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: string;
  /** Other names of the same inode, relative to the tree. */
  hardlinks?: string[];
  xattrs?: Record<string, string>;
  /** Allocated bytes, for regular files (holes stay holes). */
  allocated?: number;
}

/** What a tree is, path by path: enough to tell two extractions apart by anything tar keeps. */
export function treeManifest(root: string, options: { mtimes?: "all" | "files"; xattrs?: boolean } = {}): Record<string, ManifestEntry> {
  const out: Record<string, ManifestEntry> = {};
  const inodes = new Map<string, string[]>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = lstatSync(full, { bigint: true });
      const type = st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? "chardev" : st.isBlockDevice() ? "blockdev" : st.isFIFO() ? "fifo" : "other";
      const e: ManifestEntry = { type, mode: (Number(st.mode) & 0o7777).toString(8), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString() };
      // Directory times change as their entries are created; only compare them when asked.
      if (type === "directory" && options.mtimes === "files") e.mtimeNs = "-";
      if (type === "file") {
        e.size = Number(st.size);
        e.sha256 = createHash("sha256").update(readFileSync(full)).digest("hex");
        e.allocated = Number(st.blocks) * 512;
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          inodes.set(key, [...(inodes.get(key) ?? []), path]);
        }
      }
      if (type === "symlink") e.link = readlinkSync(full);
      if (type === "chardev" || type === "blockdev") e.rdev = st.rdev.toString();
      if (options.xattrs !== false) {
        const x = hostXattrs(full);
        if (x.size > 0) e.xattrs = Object.fromEntries([...x].map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
      }
      out[path] = e;
      if (type === "directory") walk(path);
    }
  };
  walk("");
  for (const names of inodes.values()) for (const n of names) out[n]!.hardlinks = names.filter((x) => x !== n);
  return out;
}

/** One file of an in-memory guest: its stat (type at least), content, link target, xattrs, or an error lstat throws. */
export interface MemoryNode {
  stat: Partial<GuestStat> & { type: GuestStat["type"] };
  content?: string;
  link?: string;
  xattrs?: Map<string, Uint8Array>;
  lstatError?: InspectError;
}

/**
 * A GuestFS over a map of absolute paths, for tests of what a guest may claim: no tool, no disk.
 * `text` entries are files with that content; parent directories must be listed too.
 */
export function memoryGuest(nodes: Record<string, MemoryNode>, text: Record<string, string> = {}): GuestFS {
  const all: Record<string, MemoryNode> = { ...nodes };
  for (const [path, content] of Object.entries(text)) all[path] = { stat: { type: "file", size: Buffer.byteLength(content) }, content };
  const get = (path: string) => {
    const n = all[path];
    if (!n) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
    if (n.lstatError) throw n.lstatError;
    return n;
  };
  const stat = (path: string, n: MemoryNode): GuestStat => ({ mode: 0o644, size: 0, uid: 0, gid: 0, mtimeMs: 0, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, ino: Object.keys(all).indexOf(path) + 1, dev: 0, nlink: 1, rdevMajor: 0, rdevMinor: 0, ...n.stat });
  const follow = (path: string): string => {
    const n = get(path);
    return n.stat.type === "symlink" && n.link?.startsWith("/") ? follow(n.link) : path;
  };
  const content = (path: string) => Buffer.from(get(follow(path)).content ?? "");
  return {
    lstat: async (p) => stat(p, get(p)),
    stat: async (p) => stat(follow(p), get(follow(p))),
    readdir: async (dir) => {
      if (get(dir).stat.type !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${dir} is not a directory`);
      const prefix = dir === "/" ? "/" : dir + "/";
      return Object.keys(all).filter((p) => p !== dir && p.startsWith(prefix) && !p.slice(prefix.length).includes("/")).map((p) => p.slice(prefix.length));
    },
    readlink: async (p) => get(p).link!,
    xattrs: async (p) => get(p).xattrs ?? new Map(),
    readFile: async (p) => content(p),
    openFile: async (p) => {
      const bytes = content(p);
      return {
        size: bytes.length,
        read: async (buffer: Uint8Array, position: number) => {
          const piece = bytes.subarray(position, position + buffer.length);
          buffer.set(piece);
          return piece.length;
        },
        dataRanges: async function* () {
          if (bytes.length > 0) yield { offset: 0, length: bytes.length };
        },
        close: async () => {},
      };
    },
    exists: async (p) => p in all,
    close: async () => {},
  };
}
