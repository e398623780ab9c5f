export { StorageError, type StorageErrorCode } from "./errors.js";
export {
  checkRange,
  sliceDevice,
  type BlockDevice,
  type DiskFormat,
  type Extent,
  type ExtentKind,
  type FormatDetails,
  type FormatDriver,
  type OpenContext,
} from "./block-device.js";
export { detectFormat, driverFor, formatDrivers, PROBE_BYTES } from "./formats.js";
export { openDisk, DEFAULT_MAX_CHAIN_LENGTH, type OpenDiskOptions } from "./open-disk.js";
export { rawDriver } from "./raw.js";
export { qcow2Driver } from "./qcow2.js";
export { vmdkDriver } from "./vmdk.js";
export { vdiDriver } from "./vdi.js";
export { vhdxDriver } from "./vhdx.js";
export { vpcDriver } from "./vpc.js";
