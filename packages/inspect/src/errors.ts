/** What went wrong, as a stable string scripts can match on. */
export type InspectErrorCode =
  | "INSPECT_NOT_FOUND"
  | "INSPECT_NOT_A_DIRECTORY"
  | "INSPECT_IS_A_DIRECTORY"
  | "INSPECT_SYMLINK_LOOP"
  | "INSPECT_TOO_LARGE"
  | "INSPECT_CORRUPT"
  | "INSPECT_UNSUPPORTED"
  | "INSPECT_NO_OS"
  | "INSPECT_SSH_HOST_KEY"
  | "INSPECT_SSH"
  | "INSPECT_CLOSED"
  | "INSPECT_EXISTS"
  | "INSPECT_NOT_EMPTY"
  | "INSPECT_NO_SPACE"
  | "INSPECT_INVALID_NAME"
  | "INSPECT_INVALID"
  | "INSPECT_READ_ONLY"
  | "INSPECT_CROSS_DEVICE"
  | "INSPECT_DIRTY"
  | "INSPECT_PERMISSION_DENIED"
  | "INSPECT_IO"
  | "INSPECT_CHANGED"
  | "INSPECT_TIMEOUT";

/** Every error @leapp/inspect throws on purpose. `message` says what to do about it. */
export class InspectError extends Error {
  readonly package = "@leapp/inspect";
  readonly path: string | undefined;
  constructor(
    readonly code: InspectErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "InspectError";
    this.path = options.path;
  }
}
