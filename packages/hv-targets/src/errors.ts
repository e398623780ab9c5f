/** What went wrong, as a stable string scripts can match on. */
export type HvTargetsErrorCode =
  /** The command or call is wrong: a missing output directory, an input kind that is not the file's. */
  | "HV_BAD_INPUT"
  /** No operating system was found and `requireOs` asked for one. */
  | "HV_NO_OS"
  /** An output (disk, domain XML, script, libvirt domain) exists already. */
  | "HV_EXISTS"
  /** A source disk the metadata names is missing or cannot be used. */
  | "HV_SOURCE_DISK"
  /** Something leapp does not convert (a compressed OVA disk, a snapshot of a device…). */
  | "HV_UNSUPPORTED"
  /** libvirt refused or could not be reached. */
  | "HV_LIBVIRT";

/** Every error @leapp/hv-targets throws on purpose. `message` says what to do about it. */
export class HvTargetsError extends Error {
  readonly package = "@leapp/hv-targets";
  readonly path: string | undefined;
  constructor(
    readonly code: HvTargetsErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HvTargetsError";
    this.path = options.path;
  }
}
