/**
 * One change to a guest, as virt-customize's option of the same name makes it. Guest paths are
 * absolute and resolved in the guest (its symlinks, its mounts); host paths are read on this host.
 */
export type CustomizeOperation =
  /** Creates or replaces a file's content (following a symlink at `path`, as open(2) does). */
  | { op: "write"; path: string; content: string | Uint8Array }
  /** Appends a line, in the file's own line ending; creates the file if missing. */
  | { op: "append-line"; path: string; line: string }
  /** Copies one host file in (to `path`, or into it when it is a directory), with its mode and owner. */
  | { op: "upload"; hostFile: string; path: string }
  /** Copies a host file or tree into the existing guest directory `guestDir`, as tar would. */
  | { op: "copy-in"; hostPath: string; guestDir: string }
  /** mkdir -p. */
  | { op: "mkdir"; path: string }
  /** Creates an empty file, or updates an existing file's times. */
  | { op: "touch"; path: string }
  /** Truncates an existing file to zero bytes. */
  | { op: "truncate"; path: string }
  /** rm -rf of every name the glob `path` matches (`*`, `?`, `[…]`); nothing matched is no error. */
  | { op: "delete"; path: string }
  /** mv: into `to` when it is a directory; across filesystems by copy and delete. */
  | { op: "move"; from: string; to: string }
  /** ln -sf `target` for each of `links`. */
  | { op: "link"; target: string; links: string[] }
  | { op: "chmod"; mode: number; path: string }
  | { op: "chown"; uid: number; gid: number; path: string }
  /** The files the guest's distribution keeps its hostname in. */
  | { op: "hostname"; hostname: string }
  /** /etc/localtime → /usr/share/zoneinfo/ZONE, and the distribution's own record of it. */
  | { op: "timezone"; timezone: string }
  /** A Perl-style substitution applied to each line: `s/REGEX/REPLACEMENT/[gi]` (JavaScript regex). */
  | { op: "edit"; path: string; expression: string }
  /** Appends a public key to the user's ~/.ssh/authorized_keys (made with the right owner and modes). */
  | { op: "ssh-inject"; user: string; key: string }
  /** Sets root's password (hashed as the guest's libc expects), or disables it (null). */
  | { op: "root-password"; password: string | null };

export type CustomizeOperationName = CustomizeOperation["op"];

/** What one operation did — or, in a dry run, would do — and where. */
export interface OperationReport {
  op: CustomizeOperationName | "selinux-relabel";
  /** The guest path the operation names (its destination, for move and upload). */
  path: string;
  /** The volume of the filesystem that path lands on (/dev/sda1, /dev/VG/LV). */
  filesystem: string;
  mountpoint: string;
  /** Every guest path it changes (or would), each with its filesystem. */
  targets: Array<{ path: string; filesystem: string; mountpoint: string }>;
  /** In a dry run: why the change would be refused (a filesystem leapp cannot write). */
  refused?: string;
}

/** The guest path an operation is about, for reports. */
export function primaryPath(operation: CustomizeOperation): string {
  switch (operation.op) {
    case "copy-in":
      return operation.guestDir;
    case "move":
      return operation.to;
    case "link":
      return operation.links[0] ?? "/";
    case "hostname":
      return "/etc/hostname";
    case "timezone":
      return "/etc/localtime";
    case "ssh-inject":
      return `~${operation.user}/.ssh/authorized_keys`;
    case "root-password":
      return "/etc/shadow";
    default:
      return operation.path;
  }
}
