// Exit codes are part of the CLI's contract (documented in README.md); scripts rely on them.
export const ExitCode = {
  ok: 0,
  /** The command ran and its answer is "no" (e.g. `storage compare`: the images differ). */
  negative: 1,
  /** The command line itself is wrong: unknown command or option, missing argument. */
  usage: 2,
  /** The input cannot be used: a typed leapp error (bad or unsupported image, XML…) or a host I/O error. */
  input: 3,
  /** A bug in leapp: an error nobody expected. Rerun with --debug and report it. */
  internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A wrong command line, detected after commander's own parsing. */
export class UsageError extends Error {
  readonly code = "LEAPP_USAGE";
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A typed error of the command itself (not of a package it runs): exit 3, one line. */
export class CliError extends Error {
  readonly package = "@leapp/cli";
  constructor(
    readonly code: "LEAPP_OUTPUT_NOT_A_FILE",
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CliError";
  }
}

/** What the CLI makes of any thrown value: the text for the user, the JSON for scripts, the exit code. */
export interface ErrorReport {
  exitCode: ExitCode;
  code: string;
  message: string;
  package?: string;
}

/** Host errors by errno code: what happened, and what the user can do about it. */
const hostErrors: Record<string, [what: string, todo: string]> = {
  ENOENT: ["no such file or directory", "check the path"],
  EACCES: ["permission denied", "check its permissions, or run leapp as a user who may use it"],
  EPERM: ["operation not permitted", "check its permissions and attributes"],
  EISDIR: ["is a directory", "name a file"],
  ENOTDIR: ["a part of the path is not a directory", "check the path"],
  EEXIST: ["already exists", "choose another name or remove it first"],
  ENOTEMPTY: ["directory not empty", "choose another name or empty it first"],
  ENOSPC: ["no space left on the device", "free some space or write elsewhere"],
  EPIPE: ["the command reading the output stopped before its end (a broken pipe)", "let the reader take all of it (not | head), or write to a file"],
  EDQUOT: ["disk quota exceeded", "free some space or write elsewhere"],
  EFBIG: ["file too large for its filesystem", "write elsewhere"],
  EROFS: ["read-only filesystem", "write elsewhere"],
  EXDEV: ["cannot be moved across filesystems", "write the output on the same filesystem"],
  EBUSY: ["busy", "try again when nothing else is using it"],
  EMFILE: ["too many open files", "raise the limit (ulimit -n)"],
  ENFILE: ["too many open files on this host", "close other programs or raise fs.file-max"],
  EIO: ["input/output error", "check the device (dmesg) or work on a copy of the file"],
  ELOOP: ["too many levels of symbolic links, or a symbolic link where a file must be", "check the path"],
  ENAMETOOLONG: ["file name too long", "choose a shorter path"],
  ECONNREFUSED: ["connection refused", "check the host and port, and that the server is running"],
  ECONNRESET: ["connection reset by the peer", "try again, and check the server's logs"],
  ETIMEDOUT: ["timed out", "check that the host is up and reachable"],
  EHOSTUNREACH: ["host unreachable", "check the address and the network"],
  ENETUNREACH: ["network unreachable", "check the address and the network"],
  ENOTFOUND: ["host name not found", "check the host name"],
};

/** What a host error is about: the path(s), the address or the host name Node attached to it. */
function hostSubject(err: Record<string, unknown>): string | undefined {
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const path = str(err.path);
  const dest = str(err.dest);
  if (path !== undefined) return dest !== undefined ? `${path} -> ${dest}` : path;
  const address = str(err.address);
  if (address !== undefined) return typeof err.port === "number" ? `${address}:${err.port}` : address;
  return str(err.hostname);
}

export function describeError(err: unknown): ErrorReport {
  if (err instanceof UsageError) return { exitCode: ExitCode.usage, code: err.code, message: err.message };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const pkg = (err as { package?: unknown }).package;
    if (typeof code === "string" && typeof pkg === "string" && pkg.startsWith("@leapp/")) {
      return { exitCode: ExitCode.input, code, message: err.message, package: pkg };
    }
    const host = typeof code === "string" ? hostErrors[code] : undefined;
    if (typeof code === "string" && host !== undefined) {
      const subject = hostSubject(err as unknown as Record<string, unknown>);
      const [what, todo] = host;
      return { exitCode: ExitCode.input, code, message: `${subject === undefined ? "" : `${subject}: `}${what}; ${todo}` };
    }
    return { exitCode: ExitCode.internal, code: "LEAPP_INTERNAL", message: `internal error: ${err.message} (rerun with --debug and report this)` };
  }
  return { exitCode: ExitCode.internal, code: "LEAPP_INTERNAL", message: `internal error: ${String(err)} (rerun with --debug and report this)` };
}
