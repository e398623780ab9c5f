import { InspectError } from "./errors.js";

/** Default bound of GuestFS.readFile, as the interface documents. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Bound for a small configuration file (release files, fstab, grub.cfg…), as libguestfs's. */
export const SMALL_FILE_BYTES = 2 * 1000 * 1000;

/** Bound for a package database (rpmdb, dpkg status) read whole into memory. */
export const PACKAGE_DB_BYTES = 256 * 1024 * 1024;

/** A host I/O error (from the directory source) as the InspectError it means for the guest. */
export function hostErrorToInspect(err: unknown, path: string): unknown {
  if (err instanceof InspectError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ENOENT":
      return new InspectError("INSPECT_NOT_FOUND", `${path} does not exist in the guest`, { path, cause: err });
    case "ENOTDIR":
      return new InspectError("INSPECT_NOT_A_DIRECTORY", `a component of ${path} is not a directory in the guest`, { path, cause: err });
    case "EISDIR":
      return new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory in the guest, not a file`, { path, cause: err });
    case "ELOOP":
      return new InspectError("INSPECT_SYMLINK_LOOP", `${path} changed into a symbolic link while it was read; inspect a guest that is not being modified`, { path, cause: err });
    case "EACCES":
    case "EPERM":
      return new InspectError("INSPECT_UNSUPPORTED", `permission denied reading ${path}; run as a user who can read the whole guest tree`, { path, cause: err });
    default:
      return err;
  }
}
