/** What went wrong, as a stable string scripts can match on. */
export type StorageErrorCode =
  | "STORAGE_UNKNOWN_FORMAT"
  | "STORAGE_CORRUPT"
  | "STORAGE_TRUNCATED"
  | "STORAGE_UNSUPPORTED"
  | "STORAGE_OUT_OF_RANGE"
  | "STORAGE_BACKING_LOOP"
  | "STORAGE_BACKING_DEPTH"
  | "STORAGE_BACKING_MISSING"
  | "STORAGE_BACKING_FORMAT"
  | "STORAGE_PATH_ESCAPE"
  | "STORAGE_NOT_A_FILE"
  | "STORAGE_FORMAT_MISMATCH"
  | "STORAGE_READ_ONLY"
  | "STORAGE_CLOSED"
  | "STORAGE_TARGET_EXISTS"
  | "STORAGE_SAME_FILE"
  | "STORAGE_CANNOT_WRITE"
  | "STORAGE_NO_SPACE"
  | "STORAGE_TOO_LARGE";

/** Every error @leapp/storage throws on purpose. `message` says what to do about it. */
export class StorageError extends Error {
  readonly package = "@leapp/storage";
  readonly path: string | undefined;
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StorageError";
    this.path = options.path;
  }
}
