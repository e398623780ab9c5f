export { InspectError, type InspectErrorCode } from "./errors.js";
export type { FileType, Filesystem, GuestFS, GuestStat, ReadFileOptions } from "./guestfs.js";
