export { LibvirtXmlError, type LibvirtXmlErrorCode } from "./errors.js";
export type { Bus, Firmware, GuestSource, Hypervisor, SourceCpu, SourceDisk, SourceNic, SourceRemovable } from "./guest-source.js";
export {
  attr,
  childElements,
  element,
  findPath,
  formatXml,
  firstChild,
  localName,
  parseXml,
  serializeElement,
  serializeXml,
  textOf,
  type XmlCData,
  type XmlComment,
  type XmlDocument,
  type XmlElement,
  type XmlLimits,
  type XmlNode,
  type XmlProcessingInstruction,
  type XmlText,
} from "./xml.js";
export { parseDomainXml, readDomainXml, serializeDomainXml, slotFromDeviceName, type DomainDocument } from "./domain-xml.js";
export { buildDomain, writeDomainXml, type TargetDisk, type WriteDomainOptions } from "./write-domain.js";
export { parseVmx, decodeVmx, readVmx, VMX_LIMITS, type ReadVmxOptions, type VmxFile } from "./vmx.js";
export { parseXenConfig, readXenConfig, XEN_CONFIG_LIMITS, type XenConfig, type XenValue } from "./xen-config.js";
export { confineHref, parseOvf, readOvf, ResourceType, unitBytes, type OvfDescriptor, type OvfFile, type ReadOvfOptions } from "./ovf.js";
export { OVA_LIMITS, readOva, readOvaDirectory, type OvaDisk, type OvaEntry, type OvaSource } from "./ova.js";
export { detectFormat, MAX_METADATA_BYTES, readSource, readSourceBytes, type SourceFormat, type SourceRead } from "./read-source.js";
export { compareFacts, expectedForm, listCorpusCases, parsePrintSource, parseTargetDisks, type CorpusCase, type FactComparison, type PrintedSource, type ReportedSource } from "./corpus.js";
export { buildNetwork, formatIpv4, parseIpv4, parseNetworksYaml, writeNetworkXml, type NetworkHost, type NetworkMode, type NetworkSpec } from "./network.js";
export { writeDnsmasqConfig, writeDnsmasqHosts, type DnsmasqPaths } from "./dnsmasq.js";
