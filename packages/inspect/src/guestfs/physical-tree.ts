import type { GuestFile, GuestStat, ReadFileOptions } from "../fs/filesystem.js";

/**
 * What every guest source provides below the symlink resolver: access by *physical* guest path —
 * an absolute, normalized path none of whose directory components is a symlink. Nothing here
 * follows a link; `resolvingGuestFS` does that, in guest space, for every source alike.
 */
export interface PhysicalTree {
  lstat(path: string): Promise<GuestStat>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  openFile(path: string): Promise<GuestFile>;
  readlink(path: string): Promise<string>;
  xattrs(path: string): Promise<Map<string, Uint8Array>>;
  close(): Promise<void>;
}
