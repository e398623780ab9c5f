import { InspectError } from "../errors.js";
import type { FileType, GuestFile, GuestStat } from "../fs/filesystem.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";
import { decodeText } from "../text.js";
import { dirAndBase } from "./guest-path.js";
import type { InspectableGuest } from "./guest-source.js";
import { parseProcNetTcp, type ListeningPort } from "./listening-ports.js";
import type { PhysicalTree } from "./physical-tree.js";
import { resolvingGuestFS } from "./resolving-guestfs.js";
import { RemoteShell, type ShellResult } from "./remote-shell.js";
import { connectSsh, parseSshUrl, shellQuote, type SshConnection, type SshConnectOptions, type SshSftp } from "./ssh-client.js";

export interface SshGuestOptions extends SshConnectOptions {
  /**
   * Use `sudo -n` (never prompting) for what the SSH user may not read: with `true`, SFTP and
   * plain commands first and sudo for what they are denied; with `"always"`, everything through
   * sudo (hosts without an SFTP subsystem).
   */
  sudo?: boolean | "always";
  /** Inspect the tree under this remote directory instead of the host's `/` (a chroot, a container root). */
  root?: string;
  /**
   * How long what one directory listing told (its entries' stats, link targets, xattrs) answers
   * later lookups, in ms. A live host changes: past this, it is asked again. Default 2000; 0 asks
   * every time.
   */
  statCacheMs?: number;
  /** A remote command (a listing, a read through sudo) must end within this. Default 120 s. */
  commandTimeoutMs?: number;
}

/**
 * A live Linux host over SSH (one connection, `connectSsh`): files through SFTP or `sudo -n`,
 * symlinks resolved by us in guest space, every GuestStat field and xattrs from GNU `find
 * -printf` and `getfattr` run on the host, one command per directory; plus what only a running
 * host can tell (listening TCP ports). The host key is always checked and never accepted blindly.
 */
export async function openSshGuest(url: string, options: SshGuestOptions): Promise<InspectableGuest> {
  const { host, port, username } = parseSshUrl(url);
  const connection = await connectSsh(url, options);
  try {
    const exec = remoteExec(connection, options.commandTimeoutMs ?? 120_000);
    const rootPrefix = await canonicalRoot(exec, options.root ?? "/", options.sudo === "always");
    const settings = { rootPrefix, cacheMs: options.statCacheMs ?? 2000, host };
    let tree: PhysicalTree;
    if (options.sudo === "always") tree = remoteTree(exec, undefined, { ...settings, sudo: true });
    else {
      const sftp = await connection.sftp();
      tree = remoteTree(exec, sftp, { ...settings, sudo: false });
      if (options.sudo === true) tree = withSudoFallback(tree, remoteTree(exec, undefined, { ...settings, sudo: true }));
    }
    const guest = resolvingGuestFS({
      ...tree,
      async close() {
        await tree.close();
        await exec.close();
        await connection.close();
      },
    });
    const location = `ssh://${username}@${host.includes(":") ? `[${host}]` : host}${port === 22 ? "" : `:${port}`}${options.root ? options.root : ""}`;
    return Object.assign(guest, {
      context: {
        kind: "ssh" as const,
        location: [location],
        async listeningPorts(): Promise<ListeningPort[]> {
          const ports: ListeningPort[] = [];
          for (const protocol of ["tcp", "tcp6"] as const) {
            const { code, stdout } = await exec(`cat /proc/net/${protocol}`, false);
            if (code === 0) ports.push(...parseProcNetTcp(decodeText(stdout), protocol));
          }
          return ports;
        },
      },
    });
  } catch (err) {
    await connection.close();
    throw err;
  }
}

type Exec = (command: string, sudo: boolean, options?: { maxBytes?: number; onStdout?: (chunk: Uint8Array) => void }) => Promise<ShellResult>;

/** Commands in the C locale (messages we can match) run by a long-lived shell, one of its own under `sudo -n` when asked. */
function remoteExec(connection: SshConnection, timeoutMs: number): Exec & { close(): Promise<void> } {
  const shells = new Map<boolean, RemoteShell>();
  const exec = async (command: string, sudo: boolean, options: { maxBytes?: number; onStdout?: (chunk: Uint8Array) => void } = {}) => {
    let shell = shells.get(sudo);
    if (!shell) shells.set(sudo, (shell = new RemoteShell(connection, { sudo, timeoutMs })));
    return shell.run(command, options);
  };
  return Object.assign(exec, {
    async close() {
      await Promise.all([...shells.values()].map((s) => s.close()));
    },
  });
}

/** The remote root with its links resolved once, so listings never start at a link. */
async function canonicalRoot(exec: Exec, root: string, sudo: boolean): Promise<string> {
  if (root === "/" || root === "") return "";
  const r = await exec(`readlink -f -- ${shellQuote(root)} && test -d ${shellQuote(root)}`, sudo);
  const path = decodeText(r.stdout).replace(/\n$/, "");
  if (r.code !== 0 || !path.startsWith("/")) throw new InspectError("INSPECT_NOT_FOUND", `${root} is not a directory on the host; give the root directory of a guest tree`, { path: root });
  return path === "/" ? "" : path;
}

/** One entry as `find -printf` tells it: every GuestStat field but the device numbers. */
const FIND_FORMAT = ["%y", "%m", "%s", "%U", "%G", "%A@", "%T@", "%C@", "%i", "%D", "%n", "%P", "%l"].join("\\0") + "\\0";
const FIELDS = 13;
const typeOfFind: Record<string, FileType> = { f: "file", d: "directory", l: "symlink", c: "chardev", b: "blockdev", p: "fifo", s: "socket" };

export interface RemoteEntry {
  stat: GuestStat;
  target: string | undefined;
}
interface Listing {
  at: number;
  self: RemoteEntry;
  entries: Map<string, RemoteEntry>;
}

/** `1700000000.123456789` (find's `%T@`) → nanoseconds. */
function nanoseconds(text: string): bigint {
  const m = /^(-?)(\d{1,15})(?:\.(\d{0,12}))?$/.exec(text);
  if (!m) return 0n;
  const ns = BigInt(m[2] as string) * 1_000_000_000n + BigInt(((m[3] ?? "") + "000000000").slice(0, 9));
  return m[1] === "-" ? -ns : ns;
}

/**
 * The output of `find DIR -maxdepth 1 -printf FIND_FORMAT`: DIR itself (the record with an empty
 * name) and its entries by name, with the names of its device nodes (whose numbers find cannot print).
 */
export function parseFindListing(text: string): { self: RemoteEntry | undefined; entries: Map<string, RemoteEntry>; devices: string[] } {
  const fields = text.split("\0");
  let self: RemoteEntry | undefined;
  const entries = new Map<string, RemoteEntry>();
  const devices: string[] = [];
  const count = (s: string | undefined) => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : 0);
  for (let i = 0; i + FIELDS <= fields.length; i += FIELDS) {
    const f = fields.slice(i, i + FIELDS);
    const type = typeOfFind[f[0] as string] ?? "unknown";
    const mtimeNs = nanoseconds(f[6] as string);
    const stat: GuestStat = {
      type,
      mode: /^[0-7]{1,6}$/.test(f[1] as string) ? parseInt(f[1] as string, 8) & 0o7777 : 0,
      size: count(f[2]),
      uid: count(f[3]),
      gid: count(f[4]),
      mtimeMs: Number(mtimeNs / 1_000_000n),
      atimeNs: nanoseconds(f[5] as string),
      mtimeNs,
      ctimeNs: nanoseconds(f[7] as string),
      ino: count(f[8]),
      dev: count(f[9]),
      nlink: count(f[10]),
      rdevMajor: 0,
      rdevMinor: 0,
    };
    const entry = { stat, target: type === "symlink" ? f[12] : undefined };
    const name = f[11] as string;
    if (name === "") self = entry;
    else if (!name.includes("/") && name !== "." && name !== "..") {
      entries.set(name, entry);
      if (type === "chardev" || type === "blockdev") devices.push(name);
    }
  }
  return { self, entries, devices };
}

/** Most directories whose listings are kept at once (they expire anyway): a whole system's, so a walk
 * that plans then writes (a container image) lists each directory once, not twice. */
const MAX_LISTINGS = 16384;
/** Most output of one directory listing (about 200 bytes an entry). */
const MAX_LISTING_BYTES = 256 * 1024 * 1024;

/**
 * The host's tree by physical path: metadata from one `find -printf` per directory (and a
 * `stat` for device numbers), file data through SFTP or, with `sudo`, through `sudo -n` commands.
 */
function remoteTree(exec: Exec, sftp: SshSftp | undefined, settings: { rootPrefix: string; cacheMs: number; sudo: boolean; host: string }): PhysicalTree {
  const { rootPrefix, cacheMs, sudo, host } = settings;
  const remote = (path: string) => (rootPrefix === "" ? path : path === "/" ? rootPrefix : rootPrefix + path);
  const listings = new Map<string, Listing>();
  const attrListings = new Map<string, { at: number; byName: Promise<Map<string, Map<string, Uint8Array>>> }>();
  // Once xattrs are asked for (a walk that packages the tree), each listing fetches its
  // directory's xattrs too, in the same round trip: the two commands are pipelined in the shell.
  let wantXattrs = false;
  const fresh = (at: number) => cacheMs > 0 && Date.now() - at <= cacheMs;

  const failure = (r: { code: number | null; stderr: string }, path: string): InspectError => {
    const err = r.stderr.trim().split("\n")[0] ?? "";
    if (/No such file or directory/.test(err)) return new InspectError("INSPECT_NOT_FOUND", `${path} does not exist on ${host}`, { path });
    if (/Not a directory/.test(err)) return new InspectError("INSPECT_NOT_A_DIRECTORY", `a component of ${path} is not a directory on ${host}`, { path });
    if (/Permission denied/.test(err)) return new InspectError("INSPECT_PERMISSION_DENIED", `permission denied on ${path} on ${host}; connect as a user who may read it, or use sudo`, { path });
    if (/printf|unknown (predicate|primary)|invalid predicate/i.test(err)) return new InspectError("INSPECT_UNSUPPORTED", `the find on ${host} has no -printf: install GNU findutils there to inspect it`, { path });
    return new InspectError("INSPECT_SSH", `reading ${path} on ${host} failed (exit ${r.code}): ${err}`, { path });
  };

  /** A fresh listing of directory `dir`: itself and its entries, in one command. */
  async function list(dir: string): Promise<Listing> {
    const at = Date.now();
    if (wantXattrs) void attributes(dir, true).catch(() => {});
    const r = await exec(`find ${shellQuote(remote(dir))} -maxdepth 1 -printf ${shellQuote(FIND_FORMAT)}`, sudo, { maxBytes: MAX_LISTING_BYTES });
    const { self, entries, devices } = parseFindListing(decodeText(r.stdout));
    if (!self || (r.code !== 0 && entries.size === 0)) throw failure(r, dir);
    if (self.stat.type !== "directory") throw new InspectError("INSPECT_CHANGED", `${dir} on ${host} is no longer a directory; inspect a host that is not being changed, or try again`, { path: dir });
    if (devices.length > 0) await deviceNumbers(dir, devices, entries);
    const listing = { at, self, entries };
    if (listings.size >= MAX_LISTINGS) listings.clear();
    listings.set(dir, listing);
    return listing;
  }

  /** Device numbers, which find cannot print: `stat` on the device nodes only. */
  async function deviceNumbers(dir: string, names: string[], entries: Map<string, RemoteEntry>): Promise<void> {
    for (let i = 0; i < names.length; i += 500) {
      const batch = names.slice(i, i + 500);
      const r = await exec(`cd ${shellQuote(remote(dir))} && stat --printf '%t\\0%T\\0%n\\0' -- ${batch.map(shellQuote).join(" ")}`, sudo);
      const f = decodeText(r.stdout).split("\0");
      for (let j = 0; j + 3 <= f.length; j += 3) {
        const entry = entries.get(f[j + 2] as string);
        if (entry) {
          entry.stat.rdevMajor = parseInt(f[j] as string, 16) || 0;
          entry.stat.rdevMinor = parseInt(f[j + 1] as string, 16) || 0;
        }
      }
    }
  }

  /** What `path` is: from a listing of its directory still fresh, else from a new one. */
  async function entry(path: string): Promise<RemoteEntry> {
    if (path === "/") {
      const l = listings.get("/");
      return (l && fresh(l.at) ? l : await list("/")).self;
    }
    const { dir, base } = dirAndBase(path);
    const cached = listings.get(dir);
    const l = cached && fresh(cached.at) ? cached : await list(dir);
    const found = l.entries.get(base);
    if (!found) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist on ${host}`, { path });
    return found;
  }

  /** Extended attributes of the entries of `dir` (and of `dir` itself, named ""), from one getfattr run. */
  function attributes(dir: string, refresh = false): Promise<Map<string, Map<string, Uint8Array>>> {
    const cached = attrListings.get(dir);
    if (!refresh && cached && fresh(cached.at)) return cached.byName;
    const base = remote(dir);
    // One getfattr on the directory and its entries by the shell's globs (names stay relative);
    // a directory too large for one command line goes through find instead.
    const command = `cd -- ${shellQuote(base)} && { getfattr -h -d -m - -e hex -- . * .[!.]* ..?* 2>/dev/null; test $? -ne 126 || find . -maxdepth 1 -exec getfattr -h -d -m - -e hex -- {} +; }`;
    const byName = exec(command, sudo, { maxBytes: MAX_LISTING_BYTES }).then((r) => {
      if (r.code === 127) {
        throw new InspectError("INSPECT_UNSUPPORTED", `${host} has no getfattr: install its attr package to read extended attributes (security.capability, security.selinux…)`, { path: dir });
      }
      if (r.code !== 0 && r.code !== 1) throw failure(r, dir);
      return parseGetfattr(decodeText(r.stdout), ".");
    });
    if (attrListings.size >= MAX_LISTINGS) attrListings.clear();
    const entry = { at: Date.now(), byName };
    attrListings.set(dir, entry);
    byName.catch(() => {
      if (attrListings.get(dir) === entry) attrListings.delete(dir);
    });
    return byName;
  }

  const sudoRead = async (path: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> => {
    const chunks: Uint8Array[] = [];
    let got = 0;
    const r = await exec(`tail -c +${offset + 1} -- ${shellQuote(remote(path))} | head -c ${length}`, true, {
      onStdout: (chunk) => {
        const room = Math.min(chunk.length, length - got);
        if (into) into.set(chunk.subarray(0, room), got);
        else chunks.push(chunk.subarray(0, room));
        got += room;
      },
    });
    if (r.code !== 0) throw failure(r, path);
    if (into) return into.subarray(0, got);
    const out = new Uint8Array(got);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };

  const regular = (st: GuestStat, path: string) => {
    if (st.type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory on ${host}, not a file`, { path });
    if (st.type !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file on ${host}`, { path });
  };

  return {
    async lstat(path) {
      return { ...(await entry(path)).stat };
    },
    async readdir(path) {
      return [...(await list(path)).entries.keys()];
    },
    async readlink(path) {
      const found = await entry(path);
      if (found.target === undefined) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a symbolic link on ${host}`, { path });
      return found.target;
    },
    async readFile(path, options = {}) {
      const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
      // Checked before opening: the host's SFTP server would wait forever on a FIFO nobody writes.
      const st = (await entry(path)).stat;
      regular(st, path);
      if (sftp) {
        const file = await sftp.open(remote(path));
        try {
          if (file.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} on ${host} is ${file.size} bytes, more than the ${maxBytes} allowed`, { path });
          const buffer = new Uint8Array(file.size);
          return buffer.subarray(0, await file.read(buffer, 0));
        } finally {
          await file.close();
        }
      }
      if (st.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} on ${host} is ${st.size} bytes, more than the ${maxBytes} allowed`, { path });
      return sudoRead(path, 0, st.size);
    },
    async openFile(path): Promise<GuestFile> {
      const st = (await entry(path)).stat;
      regular(st, path);
      if (sftp) {
        const file = await sftp.open(remote(path));
        return { size: file.size, read: (b, p) => file.read(b, p), dataRanges: () => wholeFile(file.size), close: () => file.close() };
      }
      let closed = false;
      return {
        size: st.size,
        async read(buffer, position) {
          if (closed) throw new InspectError("INSPECT_CLOSED", `${path} was closed; open it again to read from it`, { path });
          if (position >= st.size || buffer.length === 0) return 0;
          return (await sudoRead(path, position, buffer.length, buffer)).length;
        },
        dataRanges: () => wholeFile(st.size),
        async close() {
          closed = true;
        },
      };
    },
    async xattrs(path) {
      wantXattrs = true;
      const { dir, base } = path === "/" ? { dir: "/", base: "" } : dirAndBase(path);
      await entry(path);
      return new Map((await attributes(dir)).get(base) ?? new Map<string, Uint8Array>());
    },
    async close() {
      listings.clear();
      attrListings.clear();
      await sftp?.close();
    },
  };
}

/** A live host cannot say where a file's holes are over SFTP: the whole file is data. */
async function* wholeFile(size: number): AsyncIterable<{ offset: number; length: number }> {
  if (size > 0) yield { offset: 0, length: size };
}

/** `\012` (getfattr's escape of a byte in a name) → the byte. */
function unescapeGetfattr(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * `getfattr -d -m - -e hex` output for `base` and its entries (absolute names, or names relative
 * to the directory when `base` is "."): entry name ("" for `base` itself) → attribute name → value.
 */
export function parseGetfattr(text: string, base: string): Map<string, Map<string, Uint8Array>> {
  const out = new Map<string, Map<string, Uint8Array>>();
  let current: Map<string, Uint8Array> | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      const path = unescapeGetfattr(line.slice(8)).replace(/^\.\/(?=.)/, base === "." ? "" : "./");
      const name = path === base ? "" : base === "." ? path : path.startsWith(base === "/" ? "/" : base + "/") ? path.slice(base === "/" ? 1 : base.length + 1) : undefined;
      current = name === undefined || name.includes("/") ? undefined : new Map();
      if (current && name !== undefined) out.set(name, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (!current || eq <= 0) continue;
    const value = line.slice(eq + 1);
    const bytes = value.startsWith("0x") ? Buffer.from(value.slice(2), "hex") : value.startsWith("0s") ? Buffer.from(value.slice(2), "base64") : Buffer.from(value.replace(/^"(.*)"$/, "$1"), "latin1");
    current.set(unescapeGetfattr(line.slice(0, eq)), new Uint8Array(bytes));
  }
  return out;
}

/** Each operation through `primary`, and through `fallback` when `primary` is denied permission. */
function withSudoFallback(primary: PhysicalTree, fallback: PhysicalTree): PhysicalTree {
  const denied = (err: unknown) => err instanceof InspectError && err.code === "INSPECT_PERMISSION_DENIED";
  const either =
    <A extends unknown[], R>(f: (t: PhysicalTree, ...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await f(primary, ...a);
      } catch (err) {
        if (denied(err)) return f(fallback, ...a);
        throw err;
      }
    };
  return {
    lstat: either((t, p: string) => t.lstat(p)),
    readdir: either((t, p: string) => t.readdir(p)),
    readlink: either((t, p: string) => t.readlink(p)),
    readFile: either((t, p: string, o?: { maxBytes?: number }) => t.readFile(p, o)),
    openFile: either((t, p: string) => t.openFile(p)),
    xattrs: either((t, p: string) => t.xattrs(p)),
    async close() {
      await Promise.allSettled([primary.close(), fallback.close()]);
    },
  };
}
