export { StorageError, type StorageErrorCode } from "./errors.js";
export { checkRange, sliceDevice, type BlockDevice, type DiskFormat, type Extent, type ExtentKind, type FormatDriver, type OpenContext } from "./block-device.js";
