export { LibvirtXmlError, type LibvirtXmlErrorCode } from "./errors.js";
export type { Bus, Firmware, GuestSource, Hypervisor, SourceCpu, SourceDisk, SourceNic, SourceRemovable } from "./guest-source.js";
