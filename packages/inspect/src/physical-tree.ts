import type { GuestStat, ReadFileOptions } from "./guestfs.js";

/**
 * What every guest source provides below the symlink resolver: access by *physical* guest path —
 * an absolute, normalized path none of whose directory components is a symlink. Nothing here
 * follows a link; `resolvingGuestFS` does that, in guest space, for every source alike.
 */
export interface PhysicalTree {
  lstat(path: string): Promise<GuestStat>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  readlink(path: string): Promise<string>;
  close(): Promise<void>;
}
