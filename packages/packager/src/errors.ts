/** What went wrong, as a stable string scripts can match on. */
export type PackagerErrorCode =
  | "PACKAGER_BAD_INPUT"
  | "PACKAGER_UNSUPPORTED"
  | "PACKAGER_TOO_LARGE"
  | "PACKAGER_TARGET_EXISTS"
  | "PACKAGER_NOT_SEEKABLE"
  | "PACKAGER_SOURCE_CHANGED"
  // A container host (leapp migrate-machine): no working runtime, the wrong architecture, a
  // runtime command that failed, a container name or host port already in use.
  | "PACKAGER_NO_RUNTIME"
  | "PACKAGER_TARGET_UNSUITABLE"
  | "PACKAGER_TARGET_FAILED"
  | "PACKAGER_NAME_TAKEN"
  | "PACKAGER_PORT_TAKEN"
  | "PACKAGER_NO_FREE_PORT";

/** Every error @leapp/packager throws on purpose. `message` says what to do about it. */
export class PackagerError extends Error {
  readonly package = "@leapp/packager";
  readonly path: string | undefined;
  constructor(
    readonly code: PackagerErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PackagerError";
    this.path = options.path;
  }
}
