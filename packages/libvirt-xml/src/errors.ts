/** What went wrong, as a stable string scripts can match on. */
export type LibvirtXmlErrorCode =
  | "LIBVIRT_XML_MALFORMED"
  | "LIBVIRT_XML_UNKNOWN_FORMAT"
  | "LIBVIRT_XML_INVALID"
  | "LIBVIRT_XML_UNSUPPORTED"
  | "LIBVIRT_XML_TOO_LARGE"
  | "LIBVIRT_XML_ENTITY"
  | "LIBVIRT_XML_PATH_ESCAPE"
  | "LIBVIRT_XML_CHECKSUM";

/** Every error @leapp/libvirt-xml throws on purpose. `message` says what to do about it. */
export class LibvirtXmlError extends Error {
  readonly package = "@leapp/libvirt-xml";
  constructor(
    readonly code: LibvirtXmlErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LibvirtXmlError";
  }
}
