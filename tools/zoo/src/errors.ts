/** What went wrong, as a stable string scripts can match on. */
export type ZooErrorCode = "ZOO_TOOL_MISSING" | "ZOO_TOOL_FAILED" | "ZOO_UNKNOWN_GUEST" | "ZOO_BAD_INPUT";

/** Every error @leapp/zoo throws on purpose. `message` says what to do about it. */
export class ZooError extends Error {
  readonly package = "@leapp/zoo";
  constructor(
    readonly code: ZooErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ZooError";
  }
}
