export { StorageError, type StorageErrorCode } from "./errors.js";
export { isAbortError, type OperationOptions, type ProgressEvent, type ProgressListener } from "./progress.js";
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
export { qcow2Driver, Qcow2Device } from "./qcow2.js";
export { createQcow2, type CreateQcow2Options } from "./qcow2-create.js";
export { diskInfo, type DiskInfo } from "./info.js";
export { convertDisk, type ConvertOptions, type ConvertResult } from "./convert.js";
export { createOverlay, type OverlayOptions } from "./overlay.js";
export { compareDisks, type CompareResult } from "./compare.js";
export { planStorage, type MappedDisk, type StoragePlanOptions, type StorageStrategy } from "./strategy.js";
export { vmdkDriver } from "./vmdk.js";
export { vdiDriver } from "./vdi.js";
export { vhdxDriver } from "./vhdx.js";
export { vpcDriver } from "./vpc.js";
