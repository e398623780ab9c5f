import type { GuestFile, GuestStat, ListedEntry, ListOptions, ReadFileOptions } from "../fs/filesystem.js";

/**
 * What a path-addressed source provides below the symlink resolver (filesystem mounts of an image,
 * a live host): access by *physical* guest path — an absolute, normalized path none of whose
 * directory components is a symlink. Nothing here follows a link; `resolvingGuestFS` does that, in
 * guest space, for every source alike.
 */
export interface PhysicalTree {
  lstat(path: string): Promise<GuestStat>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  openFile(path: string): Promise<GuestFile>;
  readlink(path: string): Promise<string>;
  xattrs(path: string): Promise<Map<string, Uint8Array>>;
  /** Optional: every entry of a directory described at once (`GuestFS.list`). */
  list?(path: string, options?: ListOptions): Promise<ListedEntry[]>;
  close(): Promise<void>;
}

/** What one name in a directory is, as a lookup that never follows it tells. */
export type Lookup<D> = { kind: "directory"; dir: D } | { kind: "symlink"; target: string } | { kind: "other" };

/**
 * The same access by directory handle and name, for sources that must not name a file by its
 * whole path (a live root tree on this host: a directory swapped for a link between two calls
 * must not lead outside the tree). `D` is a handle on a directory already resolved — a path for
 * path-addressed sources, an open file descriptor for the directory source. A `name` is one
 * component (never `.`, `..` or empty); where it is optional, leaving it out means `dir` itself.
 */
export interface DirectoryTree<D> {
  readonly root: D;
  /**
   * The tree never changes while open and its handles need no release (an image's mounts):
   * walks to directories may be remembered and started again from where they ended.
   */
  readonly stable?: boolean;
  lookup(dir: D, name: string): Promise<Lookup<D>>;
  /** Gives back a handle `lookup` returned (closing its descriptor); the root is never released. */
  release(dir: D): Promise<void>;
  lstat(dir: D, name?: string): Promise<GuestStat>;
  readdir(dir: D): Promise<string[]>;
  readlink(dir: D, name: string): Promise<string>;
  readFile(dir: D, name: string, options?: ReadFileOptions): Promise<Uint8Array>;
  openFile(dir: D, name: string): Promise<GuestFile>;
  xattrs(dir: D, name?: string): Promise<Map<string, Uint8Array>>;
  /** Optional: every entry of directory `dir` described at once (`GuestFS.list`). */
  list?(dir: D, options?: ListOptions): Promise<ListedEntry[]>;
  close(): Promise<void>;
}
