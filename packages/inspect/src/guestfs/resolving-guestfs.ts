import { InspectError } from "../errors.js";
import { joinGuestPath, splitGuestPath } from "./guest-path.js";
import type { GuestFS, GuestStat, ReadFileOptions } from "./guestfs.js";
import type { PhysicalTree } from "./physical-tree.js";

/** How many symlinks one lookup may cross, as Linux's MAXSYMLINKS. */
export const MAX_SYMLINK_HOPS = 40;

/** Turns guest paths into physical paths of a tree; one per guest, shared by its reads and writes. */
export interface GuestPathResolver {
  /** The physical path `path` names; the last component is followed only if `followLast`. */
  resolve(path: string, followLast: boolean): Promise<string>;
  /** Drops cached lookups: a writer calls it after removing or renaming a name. */
  forget(): void;
}

/**
 * Resolves component by component in guest space. An absolute link target restarts at the
 * guest's `/`, `..` never climbs above `/`, and after MAX_SYMLINK_HOPS links the lookup fails
 * with INSPECT_SYMLINK_LOOP — so no guest path can name anything outside the guest.
 */
export function guestPathResolver(tree: Pick<PhysicalTree, "lstat" | "readlink">): GuestPathResolver {
  // Directory lstat results are cached: inspection looks up the same prefixes again and again.
  const dirCache = new Map<string, GuestStat>();

  async function lstatCached(path: string): Promise<GuestStat> {
    const hit = dirCache.get(path);
    if (hit) return hit;
    const st = await tree.lstat(path);
    if (st.type === "directory" || st.type === "symlink") {
      if (dirCache.size > 10_000) dirCache.clear();
      dirCache.set(path, st);
    }
    return st;
  }

  async function resolve(path: string, followLast: boolean): Promise<string> {
    const pending = splitGuestPath(path).reverse();
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.pop() as string;
      if (name === "..") {
        done.pop();
        continue;
      }
      const isLast = pending.length === 0;
      const candidate = joinGuestPath([...done, name]);
      if (isLast && !followLast) {
        done.push(name);
        break;
      }
      const st = await lstatCached(candidate);
      if (st.type === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new InspectError("INSPECT_SYMLINK_LOOP", `too many symbolic links while resolving ${path} (a link loop in the guest?)`, { path });
        }
        const target = await tree.readlink(candidate);
        if (target === "") throw new InspectError("INSPECT_NOT_FOUND", `empty symbolic link ${candidate} in the guest`, { path });
        const parts = splitGuestPath(target);
        if (target.startsWith("/")) done.length = 0;
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i] as string);
        if (pending.length > 4096) throw new InspectError("INSPECT_SYMLINK_LOOP", `symbolic links expand ${path} beyond any sensible length`, { path });
        continue;
      }
      if (!isLast && st.type !== "directory") {
        throw new InspectError("INSPECT_NOT_A_DIRECTORY", `${candidate} is not a directory in the guest (resolving ${path})`, { path });
      }
      done.push(name);
    }
    return joinGuestPath(done);
  }

  return { resolve, forget: () => dirCache.clear() };
}

/**
 * A GuestFS over a PhysicalTree: every path is resolved in guest space (see guestPathResolver),
 * so no guest path can name anything outside the guest, whatever its links say.
 */
export function resolvingGuestFS(tree: PhysicalTree, resolver: GuestPathResolver = guestPathResolver(tree)): GuestFS {
  let closed = false;
  const resolve = async (path: string, followLast: boolean): Promise<string> => {
    if (closed) throw new InspectError("INSPECT_CLOSED", "the guest was closed; open it again to read from it");
    return resolver.resolve(path, followLast);
  };

  return {
    async stat(path) {
      return tree.lstat(await resolve(path, true));
    },
    async lstat(path) {
      return tree.lstat(await resolve(path, false));
    },
    async readFile(path, options?: ReadFileOptions) {
      return tree.readFile(await resolve(path, true), options);
    },
    async openFile(path) {
      return tree.openFile(await resolve(path, true));
    },
    async readdir(path) {
      return tree.readdir(await resolve(path, true));
    },
    async xattrs(path) {
      return tree.xattrs(await resolve(path, false));
    },
    async readlink(path) {
      return tree.readlink(await resolve(path, false));
    },
    async exists(path) {
      try {
        await tree.lstat(await resolve(path, true));
        return true;
      } catch (err) {
        // "Does not exist" in all its forms is false; a failing source (closed, SSH down) is not an answer.
        if (err instanceof InspectError && !["INSPECT_CLOSED", "INSPECT_SSH", "INSPECT_SSH_HOST_KEY"].includes(err.code)) return false;
        throw err;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      resolver.forget();
      await tree.close();
    },
  };
}
