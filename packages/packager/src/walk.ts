import type { GuestFS, GuestStat, ListedEntry } from "@leapp/inspect";
import { PackagerError } from "./errors.js";
import type { ExclusionMatcher, ExclusionRule } from "./exclusions.js";
import { MAX_SPARSE_RANGES, MAX_XATTR_VALUE, validateEntry, type DataRange, type TarEntry } from "./tar/header.js";

/** One guest file as it goes into a layer. */
export interface WalkedEntry {
  /** Absolute guest path. */
  guestPath: string;
  entry: TarEntry;
}

export interface WalkOptions {
  /** What stays out of the walk; the walk never descends into an excluded directory. */
  exclude?: ExclusionMatcher;
  /** Called once per rule the first time it leaves something out. */
  onExcluded?: (rule: ExclusionRule, guestPath: string) => void;
  /** A guest file that cannot go into the image (a socket, a vanished file…); the walk goes on. */
  onWarning?: (message: string) => void;
  /** Read extended attributes (default true). */
  xattrs?: boolean;
  signal?: AbortSignal;
}

/** Files at least this large are asked for their data ranges, so holes are not archived as zeros. */
export const SPARSE_CHECK_BYTES = 1 << 20;
/** Entries whose metadata is read at once within one directory (lstat, readlink, xattrs). */
const LOOKAHEAD = 64;
/** Deepest directory nesting we follow; PATH_MAX bounds real trees well below it. */
const MAX_DEPTH = 2048;

/** Errors that mean the source itself failed: the walk cannot go on without it. */
const fatalCodes = new Set(["INSPECT_CLOSED", "INSPECT_SSH", "INSPECT_SSH_HOST_KEY"]);

/** Whether an error is the source failing (or a bug), rather than one file that cannot be read. */
export function isSourceFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const pkg = (err as { package?: unknown } | null)?.package;
  return pkg !== "@leapp/inspect" || (typeof code === "string" && fatalCodes.has(code));
}

/** A walked entry, with its inode key when it has other names (hard links). */
interface Described {
  walked: WalkedEntry;
  inode: string | undefined;
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Walks a whole guest, depth first in byte order of names (so the same tree gives the same
 * archive), as the tar entries of its root filesystem: hard links by inode, symlinks, devices,
 * FIFOs, sparse maps of large files, xattrs. Nothing is staged on disk; file content is read
 * later, when the entry is written. Names starting `.wh.` are left out: in an OCI layer they mean
 * a deletion.
 */
export async function* walkGuest(guest: GuestFS, options: WalkOptions = {}): AsyncGenerator<WalkedEntry> {
  const warn = options.onWarning ?? (() => {});
  const seenRules = new Set<ExclusionRule>();
  const linksByInode = new Map<string, string>();
  let xattrs = options.xattrs !== false;

  const excluded = (path: string, isDirectory: boolean): boolean => {
    const rule = options.exclude?.(path, isDirectory);
    if (!rule) return false;
    if (!seenRules.has(rule)) {
      seenRules.add(rule);
      options.onExcluded?.(rule, path);
    }
    return true;
  };

  const readXattrs = async (path: string): Promise<Map<string, Uint8Array> | undefined> => {
    if (!xattrs) return undefined;
    try {
      const found = await guest.xattrs(path);
      return found.size > 0 ? found : undefined;
    } catch (err) {
      if ((err as { code?: unknown }).code === "INSPECT_UNSUPPORTED") {
        // Calls made together all fail alike: one warning is enough.
        if (!xattrs) return undefined;
        xattrs = false;
        warn(`extended attributes are not read from this source (${(err as Error).message}); the image has none`);
        return undefined;
      }
      throw err;
    }
  };

  /** A failure describing one path: the source failing ends the walk, anything else leaves the path out. */
  const leaveOut = (path: string, err: unknown): undefined => {
    if (isSourceFailure(err) && !(err instanceof PackagerError)) throw err;
    warn(`${path}: ${(err as Error).message}; left out`);
    return undefined;
  };

  /** The tar entry of one path from what the source told of it; undefined when it cannot go in. */
  const entryOf = (path: string, st: GuestStat, linkTarget: string | undefined, attrs: Map<string, Uint8Array> | undefined, ranges: DataRange[] | undefined): Described | undefined => {
    if (st.type !== "directory" && st.type !== "symlink" && st.type !== "chardev" && st.type !== "blockdev" && st.type !== "fifo" && st.type !== "file") {
      warn(`${path}: a ${st.type} has no place in a tar archive; left out`);
      return undefined;
    }
    const device = st.type === "chardev" || st.type === "blockdev";
    // Every entry has every field, in one order: the writer's code then sees one object shape.
    const entry: TarEntry = {
      path: path.slice(1),
      type: st.type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtimeNs: st.mtimeNs,
      size: st.type === "file" ? st.size : undefined,
      dataRanges: st.type === "file" ? ranges : undefined,
      linkTarget: st.type === "symlink" ? linkTarget : undefined,
      rdevMajor: device ? st.rdevMajor : undefined,
      rdevMinor: device ? st.rdevMinor : undefined,
      xattrs: undefined,
    };
    if (attrs) {
      const kept = new Map([...attrs].filter(([name, value]) => name !== "" && !/[\0=]/.test(name) && Buffer.byteLength(name) <= 255 && value.length <= MAX_XATTR_VALUE).slice(0, 1024));
      if (kept.size < attrs.size) warn(`${path}: ${attrs.size - kept.size} extended attributes that tar cannot hold were left out`);
      if (kept.size > 0) entry.xattrs = kept;
    }
    // What the guest claims must make a valid member (a name or link target beyond PATH_MAX…).
    try {
      validateEntry(entry);
    } catch (err) {
      return leaveOut(path, err);
    }
    const linked = st.nlink > 1 && st.type !== "directory";
    return { walked: { guestPath: path, entry }, inode: linked ? `${st.dev}:${st.ino}` : undefined };
  };

  /**
   * Everything about one path but its content, asking the source for what `listed` (its bulk
   * listing of the path) does not tell; undefined when it cannot go in.
   */
  const describe = async (path: string, listed?: ListedEntry): Promise<Described | undefined> => {
    let st: GuestStat;
    try {
      if (listed?.error) throw listed.error;
      st = listed ? listed.stat! : await guest.lstat(path);
    } catch (err) {
      return leaveOut(path, err);
    }
    if (excluded(path, st.type === "directory")) return undefined;
    try {
      const linkTarget = st.type === "symlink" ? (listed?.linkTarget ?? (await guest.readlink(path))) : undefined;
      const ranges = st.type === "file" && st.size >= SPARSE_CHECK_BYTES ? await dataRanges(guest, path) : undefined;
      const attrs = listed ? listed.xattrs : await readXattrs(path);
      return entryOf(path, st, linkTarget, attrs, ranges);
    } catch (err) {
      return leaveOut(path, err);
    }
  };

  /** A listed path described at once, when the listing told all there is (no holes to look for). */
  const describeListed = (path: string, listed: ListedEntry): Described | undefined | Promise<Described | undefined> => {
    if (listed.error || (listed.stat.type === "file" && listed.stat.size >= SPARSE_CHECK_BYTES) || (listed.stat.type === "symlink" && listed.linkTarget === undefined)) return describe(path, listed);
    if (excluded(path, listed.stat.type === "directory")) return undefined;
    return entryOf(path, listed.stat, listed.linkTarget, listed.xattrs, undefined);
  };

  /** A directory's entries in byte order of names; described already where the source lists in bulk. */
  const entriesOf = async (dir: string): Promise<{ name: string; listed?: ListedEntry }[]> => {
    if (guest.list) {
      let listed: ListedEntry[];
      try {
        listed = await guest.list(dir, { xattrs });
      } catch (err) {
        if (!xattrs || (err as { code?: unknown }).code !== "INSPECT_UNSUPPORTED") throw err;
        xattrs = false;
        warn(`extended attributes are not read from this source (${(err as Error).message}); the image has none`);
        listed = await guest.list(dir, { xattrs });
      }
      return listed.map((entry) => ({ name: entry.name, listed: entry })).sort((a, b) => byteOrder(a.name, b.name));
    }
    return (await guest.readdir(dir)).sort(byteOrder).map((name) => ({ name }));
  };

  const root = await guest.lstat("/");
  if (root.type !== "directory") throw new Error("the guest's / is not a directory");
  // Depth first, with up to LOOKAHEAD entries of a directory described at once (the calls
  // overlap on a tree or a live host); `ready` keeps what was described but not yet yielded.
  const stack: { dir: string; entries: { name: string; listed?: ListedEntry }[]; next: number; ready: Described[]; taken: number }[] = [];
  const openDir = async (dir: string) => {
    if (stack.length >= MAX_DEPTH) {
      warn(`${dir}: nested deeper than ${MAX_DEPTH} directories; its contents are left out`);
      return;
    }
    try {
      stack.push({ dir, entries: await entriesOf(dir), next: 0, ready: [], taken: 0 });
    } catch (err) {
      if (isSourceFailure(err)) throw err;
      warn(`${dir}: ${(err as Error).message}; its contents are left out`);
    }
  };
  await openDir("/");
  while (stack.length > 0) {
    options.signal?.throwIfAborted();
    const top = stack[stack.length - 1]!;
    if (top.taken >= top.ready.length) {
      if (top.next >= top.entries.length) {
        stack.pop();
        continue;
      }
      const prefix = top.dir === "/" ? "/" : top.dir + "/";
      const batch = top.entries.slice(top.next, top.next + LOOKAHEAD).filter(({ name }) => {
        if (!name.startsWith(".wh.")) return true;
        warn(`${prefix}${name}: names starting '.wh.' mark deletions in container layers; left out`);
        return false;
      });
      top.next += LOOKAHEAD;
      const described = batch.map(({ name, listed }) => (listed ? describeListed(prefix + name, listed) : describe(prefix + name)));
      top.ready = (described.some((d) => d instanceof Promise) ? await Promise.all(described) : (described as (Described | undefined)[])).filter((d): d is Described => d !== undefined);
      top.taken = 0;
      continue;
    }
    const { walked, inode } = top.ready[top.taken++]!;
    // Hard links are decided here, in archive order: the first name of an inode carries the content.
    if (inode !== undefined) {
      const first = linksByInode.get(inode);
      if (first !== undefined) {
        yield { guestPath: walked.guestPath, entry: { ...walked.entry, type: "hardlink", size: undefined, dataRanges: undefined, linkTarget: first, rdevMajor: undefined, rdevMinor: undefined, xattrs: undefined } };
        continue;
      }
      linksByInode.set(inode, walked.entry.path);
    }
    yield walked;
    if (walked.entry.type === "directory") await openDir(walked.guestPath);
  }
}

/**
 * The data ranges of a large file, merged and clipped to its size; undefined when it has no
 * holes (or too many ranges to be worth a sparse map), so it is written dense.
 */
async function dataRanges(guest: GuestFS, path: string): Promise<DataRange[] | undefined> {
  const file = await guest.openFile(path);
  try {
    const ranges: DataRange[] = [];
    let data = 0;
    for await (const r of file.dataRanges()) {
      const start = Math.max(0, r.offset);
      const end = Math.min(file.size, r.offset + r.length);
      if (end <= start) continue;
      const last = ranges[ranges.length - 1];
      if (last && start < last.offset + last.length) return undefined; // out of order: trust nothing
      if (last && start === last.offset + last.length) last.length += end - start;
      else ranges.push({ offset: start, length: end - start });
      data += end - start;
      if (ranges.length > MAX_SPARSE_RANGES) return undefined;
    }
    return data < file.size ? ranges : undefined;
  } finally {
    await file.close();
  }
}
