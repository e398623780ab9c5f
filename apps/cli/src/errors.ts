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

/** What the CLI makes of any thrown value: the text for the user, the JSON for scripts, the exit code. */
export interface ErrorReport {
  exitCode: ExitCode;
  code: string;
  message: string;
  package?: string;
}

const hostErrnoCodes = new Set(["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "EEXIST", "ENOSPC", "EROFS", "EBUSY", "EMFILE", "EIO", "ELOOP", "ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH"]);

export function describeError(err: unknown): ErrorReport {
  if (err instanceof UsageError) return { exitCode: ExitCode.usage, code: err.code, message: err.message };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const pkg = (err as { package?: unknown }).package;
    if (typeof code === "string" && typeof pkg === "string" && pkg.startsWith("@leapp/")) {
      return { exitCode: ExitCode.input, code, message: err.message, package: pkg };
    }
    if (typeof code === "string" && hostErrnoCodes.has(code)) {
      return { exitCode: ExitCode.input, code, message: err.message };
    }
    return { exitCode: ExitCode.internal, code: "LEAPP_INTERNAL", message: `internal error: ${err.message} (rerun with --debug and report this)` };
  }
  return { exitCode: ExitCode.internal, code: "LEAPP_INTERNAL", message: `internal error: ${String(err)} (rerun with --debug and report this)` };
}
