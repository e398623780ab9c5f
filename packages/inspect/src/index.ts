export { InspectError, type InspectErrorCode } from "./errors.js";
export type { GuestFS, ListedEntry, ListOptions, WritableGuestFS } from "./guestfs/guestfs.js";
export type {
  FileType,
  Filesystem,
  FilesystemDriver,
  FilesystemUsage,
  GuestFile,
  GuestStat,
  NodeAttributes,
  OpenFilesystemOptions,
  ReadFileOptions,
  WritableFilesystem,
  WriteOptions,
} from "./fs/filesystem.js";
export type { GuestContext, GuestVolume, InspectableGuest } from "./guestfs/guest-source.js";
export { openDirectoryGuest } from "./guestfs/directory-guest.js";
export { openImageGuest, type OpenImageOptions } from "./guestfs/image-guest.js";
export { openSshGuest, type SshGuestOptions } from "./guestfs/ssh-guest.js";
export { openGuest, type OpenGuestOptions } from "./guestfs/open-guest.js";
export { writableGuestFS, type GuestMount, type WritableGuest } from "./guestfs/writable-guest.js";
export { customize, type CustomizeOptions, type CustomizeOutput, type CustomizeResult } from "./customize/customize.js";
export { applyOperations, checkOperations, type ApplyOptions, type ApplyResult } from "./customize/apply.js";
export type { CustomizeOperation, CustomizeOperationName, OperationReport } from "./customize/operations.js";
export { customizeOptionNames, parseCustomizeOption, type ParsedOption } from "./customize/syntax.js";
export { compareVersions, inspect, inspectSources, type InspectOptions } from "./os/inspect.js";
export type { BootConfiguration, EnabledService, HypervisorTool, InitSystem, InspectionReport, InstalledKernel, OperatingSystem } from "./report/report.js";
export type { Application } from "./os/application.js";
export type { BootEntry } from "./os/boot-config.js";
export type { NetworkInterfaceConfig } from "./os/network-config.js";
export type { ListeningPort } from "./guestfs/listening-ports.js";
export type { Distro } from "./os/os-release.js";
export { toVirtInspectorXml } from "./report/virt-inspector-xml.js";
export { scanDisks } from "./block/scan.js";
export { diskName, type DiskRange, type Volume } from "./block/volumes.js";
export { openFilesystem } from "./fs/drivers.js";
export { readPartitionTable, type Partition, type PartitionTable } from "./block/partitions.js";
export { identify, type FsType, type Identity } from "./block/identify.js";
