/** What went wrong, as a stable string scripts can match on. */
export type GuestOSErrorCode =
  | "GUESTOS_UNSUPPORTED_OS"
  | "GUESTOS_NO_KERNEL"
  | "GUESTOS_XEN_ONLY_KERNEL"
  | "GUESTOS_NO_BOOT_CONFIG"
  | "GUESTOS_INITRAMFS"
  | "GUESTOS_NO_SPACE"
  | "GUESTOS_STALE_PLAN"
  | "GUESTOS_BAD_INPUT"
  | "GUESTOS_CORRUPT";

/** Every error @leapp/guestos throws on purpose. `message` says what to do about it. */
export class GuestOSError extends Error {
  readonly package = "@leapp/guestos";
  readonly path: string | undefined;
  constructor(
    readonly code: GuestOSErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GuestOSError";
    this.path = options.path;
  }
}

/** Rejects with the signal's reason when it is aborted (the OperationOptions contract). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}
