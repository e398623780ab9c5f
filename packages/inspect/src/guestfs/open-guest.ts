import { stat } from "node:fs/promises";
import { openDirectoryGuest } from "./directory-guest.js";
import { InspectError } from "../errors.js";
import type { InspectableGuest } from "./guest-source.js";
import { openImageGuest } from "./image-guest.js";
import { openSshGuest, type SshGuestOptions } from "./ssh-guest.js";

export type OpenGuestOptions = Partial<SshGuestOptions> & {
  /** Disk images: directories where their backing files may lie besides their own (see openImageGuest). */
  trustedBackingDirs?: readonly string[];
};

/**
 * Opens whatever the sources name: `ssh://user@host[:port]` is a live host, a single directory
 * is a root tree, anything else is the guest's disk images in disk order.
 */
export async function openGuest(sources: readonly string[], options: OpenGuestOptions = {}): Promise<InspectableGuest> {
  if (sources.length === 0) throw new InspectError("INSPECT_NOT_FOUND", "nothing to inspect: name disk images, a directory, or ssh://user@host");
  const first = sources[0] as string;
  if (first.startsWith("ssh://")) {
    if (sources.length > 1) throw new InspectError("INSPECT_UNSUPPORTED", "inspect one live host at a time");
    if (options.identity === undefined && options.privateKey === undefined) throw new InspectError("INSPECT_SSH", "an ssh:// source needs a private key: give --identity KEY");
    return openSshGuest(first, options);
  }
  if (sources.length === 1) {
    let isDir = false;
    try {
      isDir = (await stat(first)).isDirectory();
    } catch (err) {
      throw new InspectError("INSPECT_NOT_FOUND", `${first} does not exist`, { path: first, cause: err });
    }
    if (isDir) return openDirectoryGuest(first);
  }
  return openImageGuest(sources, options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {});
}
