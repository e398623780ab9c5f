import { InspectError } from "../errors.js";
import { MAX_PATH_LENGTH, splitGuestPath } from "./guest-path.js";
import { isFatal } from "./guest-reader.js";
import type { GuestFS, GuestStat, ListOptions, ReadFileOptions } from "./guestfs.js";
import type { DirectoryTree, Lookup, PhysicalTree } from "./physical-tree.js";

/** How many symlinks one lookup may cross, as Linux's MAXSYMLINKS. */
export const MAX_SYMLINK_HOPS = 40;

export interface ResolveOptions {
  /**
   * Remember what directories and links are: for sources that cannot change while open (disk
   * images read here). Never for live sources, where it would report a tree that is gone.
   */
  cacheLookups?: boolean;
}

/**
 * A GuestFS over a path-addressed PhysicalTree (image mounts, a live host): every path is
 * resolved component by component in guest space, as `resolvingTreeFS` does.
 */
export function resolvingGuestFS(tree: PhysicalTree, options: ResolveOptions = {}): GuestFS {
  return resolvingTreeFS(pathTree(tree, options.cacheLookups === true));
}

/**
 * A GuestFS over a DirectoryTree: every path is resolved component by component in guest space.
 * An absolute link target restarts at the guest's `/`, `..` never climbs above `/` (it goes back
 * to the directory the walk came from, not to whatever the tree now says is the parent), and
 * after MAX_SYMLINK_HOPS links the lookup fails with INSPECT_SYMLINK_LOOP — so no guest path can
 * name anything outside the guest, whatever its links say or however they change meanwhile.
 */
export function resolvingTreeFS<D>(tree: DirectoryTree<D>): GuestFS {
  let closed = false;
  const walks = tree.stable ? new Map<string, D[]>() : undefined;

  const check = () => {
    if (closed) throw new InspectError("INSPECT_CLOSED", "the guest was closed; open it again to read from it");
  };

  const walk = (path: string, followLast: boolean) => {
    check();
    return walkGuestPath(tree, path, followLast, walks);
  };

  /** Runs `f` on the walk's result and gives its handle back afterwards. */
  async function at<T>(path: string, followLast: boolean, f: (dir: D, name: string | undefined) => Promise<T>): Promise<T> {
    const { dir, name } = await walk(path, followLast);
    try {
      return await f(dir, name);
    } finally {
      if (dir !== tree.root) await tree.release(dir);
    }
  }

  const isDirectory = (path: string) => new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory in the guest, not a file`, { path });

  const guest: GuestFS = {
    stat: (path) => at(path, true, (dir, name) => tree.lstat(dir, name)),
    lstat: (path) => at(path, false, (dir, name) => tree.lstat(dir, name)),
    readFile: (path, options?: ReadFileOptions) =>
      at(path, true, (dir, name) => {
        if (name === undefined) throw isDirectory(path);
        return tree.readFile(dir, name, options);
      }),
    openFile: (path) =>
      at(path, true, (dir, name) => {
        if (name === undefined) throw isDirectory(path);
        return tree.openFile(dir, name);
      }),
    readdir: (path) =>
      at(path, true, (dir, name) => {
        if (name !== undefined) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory in the guest`, { path });
        return tree.readdir(dir);
      }),
    xattrs: (path) => at(path, false, (dir, name) => tree.xattrs(dir, name)),
    readlink: (path) =>
      at(path, false, (dir, name) => {
        if (name === undefined) throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a symbolic link in the guest`, { path });
        return tree.readlink(dir, name);
      }),
    async exists(path) {
      try {
        await at(path, true, (dir, name) => tree.lstat(dir, name));
        return true;
      } catch (err) {
        // "Does not exist" in all its forms is false; a failing source (closed, SSH down) is not an answer.
        if (err instanceof InspectError && !isFatal(err)) return false;
        throw err;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await tree.close();
    },
  };
  const list = tree.list?.bind(tree);
  if (list) {
    guest.list = (path, options) =>
      at(path, true, (dir, name) => {
        if (name !== undefined) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${path} is not a directory in the guest`, { path });
        return list(dir, options);
      });
  }
  return guest;
}

/** Directories whose walks a stable tree remembers. */
const MAX_REMEMBERED_WALKS = 1024;

/** An absolute path without empty, `.` or `..` components, that splitGuestPath would accept. */
function isClean(path: string): boolean {
  return path.length > 1 && path.length <= MAX_PATH_LENGTH && path.startsWith("/") && !path.endsWith("/") && !path.includes("//") && !path.includes("\0") && !/\/\.\.?(\/|$)/.test(path);
}

/**
 * Walks `path` in guest space to the parent of its last component and returns it with that name
 * (or, when the path ends in a directory that was followed, the directory itself with no name).
 * Every handle the walk opened but the one returned has been released.
 */
export async function walkGuestPath<D>(
  tree: DirectoryTree<D>,
  path: string,
  followLast: boolean,
  walks?: Map<string, D[]>,
): Promise<{ dir: D; name: string | undefined }> {
  // A stable tree's walks to directories are remembered (in `walks`): a clean path whose parent
  // was walked before starts there (with the whole stack, for a link's `..`) instead of at the root.
  const parentKey = walks !== undefined && isClean(path) ? path.slice(0, path.lastIndexOf("/")) || "/" : undefined;
  const remembered = parentKey === undefined ? undefined : walks!.get(parentKey);
  const pending = remembered ? [path.slice(path.lastIndexOf("/") + 1)] : splitGuestPath(path).reverse();
  const stack: D[] = remembered ? [...remembered] : [tree.root];
  const top = () => stack[stack.length - 1] as D;
  const popTo = async (depth: number) => {
    while (stack.length > depth) await tree.release(stack.pop() as D);
  };
  let hops = 0;
  try {
    while (pending.length > 0) {
      const name = pending.pop() as string;
      if (name === "..") {
        if (stack.length > 1) await popTo(stack.length - 1);
        continue;
      }
      const isLast = pending.length === 0;
      if (isLast && parentKey !== undefined && !remembered && hops === 0) {
        if (walks!.size >= MAX_REMEMBERED_WALKS) walks!.delete(walks!.keys().next().value!);
        walks!.set(parentKey, [...stack]);
      }
      if (isLast && !followLast) return { dir: stack.pop() as D, name };
      const found: Lookup<D> = await tree.lookup(top(), name);
      if (found.kind === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new InspectError("INSPECT_SYMLINK_LOOP", `too many symbolic links while resolving ${path} (a link loop in the guest?)`, { path });
        }
        if (found.target === "") throw new InspectError("INSPECT_NOT_FOUND", `empty symbolic link ${name} in the guest (resolving ${path})`, { path });
        if (found.target.startsWith("/")) await popTo(1);
        const parts = splitGuestPath(found.target);
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i] as string);
        if (pending.length > 4096) throw new InspectError("INSPECT_SYMLINK_LOOP", `symbolic links expand ${path} beyond any sensible length`, { path });
        continue;
      }
      if (found.kind === "directory") {
        stack.push(found.dir);
        continue;
      }
      if (!isLast) throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${name} is not a directory in the guest (resolving ${path})`, { path });
      return { dir: stack.pop() as D, name };
    }
    return { dir: stack.pop() as D, name: undefined };
  } finally {
    await popTo(1);
  }
}

/**
 * A path-addressed tree as a DirectoryTree whose handles are physical paths. With `cacheLookups`,
 * what directories and links are is remembered until `forget` (a writer calls it after removing
 * or renaming a name).
 */
export function pathTree(tree: PhysicalTree, cacheLookups: boolean): DirectoryTree<string> & { forget(): void } {
  const join = (dir: string, name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`);
  const of = (dir: string, name: string | undefined) => (name === undefined ? dir : join(dir, name));
  const cache = new Map<string, Lookup<string>>();
  return {
    root: "/",
    stable: cacheLookups,
    async lookup(dir, name) {
      const path = join(dir, name);
      const hit = cache.get(path);
      if (hit) return hit;
      const st: GuestStat = await tree.lstat(path);
      const found: Lookup<string> = st.type === "directory" ? { kind: "directory", dir: path } : st.type === "symlink" ? { kind: "symlink", target: await tree.readlink(path) } : { kind: "other" };
      if (cacheLookups && found.kind !== "other") {
        if (cache.size > 10_000) cache.clear();
        cache.set(path, found);
      }
      return found;
    },
    release: async () => {},
    forget: () => cache.clear(),
    lstat: (dir, name) => tree.lstat(of(dir, name)),
    readdir: (dir) => tree.readdir(dir),
    readlink: (dir, name) => tree.readlink(join(dir, name)),
    readFile: (dir, name, options) => tree.readFile(join(dir, name), options),
    openFile: (dir, name) => tree.openFile(join(dir, name)),
    xattrs: (dir, name) => tree.xattrs(of(dir, name)),
    ...(tree.list ? { list: (dir: string, options?: ListOptions) => tree.list!(dir, options) } : {}),
    async close() {
      cache.clear();
      await tree.close();
    },
  };
}

