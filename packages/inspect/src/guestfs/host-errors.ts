import { InspectError, type InspectErrorCode } from "../errors.js";

/** What each errno of a host call means for the guest file it was about. */
const meanings: Record<string, { code: InspectErrorCode; say: (path: string) => string }> = {
  ENOENT: { code: "INSPECT_NOT_FOUND", say: (p) => `${p} does not exist in the guest` },
  ENOTDIR: { code: "INSPECT_NOT_A_DIRECTORY", say: (p) => `a component of ${p} is not a directory in the guest` },
  EISDIR: { code: "INSPECT_IS_A_DIRECTORY", say: (p) => `${p} is a directory in the guest, not a file` },
  ENAMETOOLONG: { code: "INSPECT_NOT_FOUND", say: (p) => `a name in ${p} is longer than the host allows` },
  ELOOP: { code: "INSPECT_CHANGED", say: (p) => `${p} changed into a symbolic link while it was read; inspect a guest that is not being modified, or try again` },
  EACCES: { code: "INSPECT_PERMISSION_DENIED", say: (p) => `permission denied reading ${p}; run as a user who can read the whole guest tree` },
  EPERM: { code: "INSPECT_PERMISSION_DENIED", say: (p) => `${p} may not be read (operation not permitted); run as a user who can read the whole guest tree` },
  EMFILE: { code: "INSPECT_IO", say: (p) => `too many open files while reading ${p}; raise the open-file limit (ulimit -n)` },
  ENFILE: { code: "INSPECT_IO", say: (p) => `the host's file table is full while reading ${p}; close other programs and try again` },
  ENOMEM: { code: "INSPECT_IO", say: (p) => `the host ran out of memory while reading ${p}` },
  EIO: { code: "INSPECT_IO", say: (p) => `an I/O error on the host's disk while reading ${p}; check the disk (dmesg)` },
  ESTALE: { code: "INSPECT_CHANGED", say: (p) => `${p} went away on the (network) filesystem while it was read; try again` },
  ENXIO: { code: "INSPECT_UNSUPPORTED", say: (p) => `${p} is a device or socket without a driver on this host; it cannot be read as a file` },
  ENODEV: { code: "INSPECT_UNSUPPORTED", say: (p) => `${p} is a device without a driver on this host; it cannot be read as a file` },
  EOVERFLOW: { code: "INSPECT_TOO_LARGE", say: (p) => `${p} is too large for this host's calls` },
  EFBIG: { code: "INSPECT_TOO_LARGE", say: (p) => `${p} is too large for this host's calls` },
  EINVAL: { code: "INSPECT_CHANGED", say: (p) => `${p} is not what it was a moment ago (a symbolic link replaced?); inspect a guest that is not being modified, or try again` },
  EAGAIN: { code: "INSPECT_IO", say: (p) => `${p} is busy (locked or not ready); try again` },
  EBUSY: { code: "INSPECT_IO", say: (p) => `${p} is busy; try again` },
  ETXTBSY: { code: "INSPECT_IO", say: (p) => `${p} is busy; try again` },
  EINTR: { code: "INSPECT_IO", say: (p) => `reading ${p} was interrupted; try again` },
  EBADF: { code: "INSPECT_CLOSED", say: (p) => `the guest was closed while ${p} was read` },
};

/**
 * A host call's error (the directory source) as the InspectError it means for the guest: every
 * errno gets a code and a sentence; none escapes raw. Not an errno at all is returned as it is.
 */
export function hostErrorToInspect(err: unknown, path: string): unknown {
  if (err instanceof InspectError) return err;
  const errno = (err as { code?: unknown } | null)?.code;
  if (typeof errno !== "string" || !/^E[A-Z0-9]+$/.test(errno)) return err;
  const meaning = meanings[errno];
  if (meaning) return new InspectError(meaning.code, meaning.say(path), { path, cause: err });
  return new InspectError("INSPECT_IO", `the host failed to read ${path} (${errno}: ${(err as Error).message})`, { path, cause: err });
}
