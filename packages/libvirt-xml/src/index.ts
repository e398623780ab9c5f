export { LibvirtXmlError, type LibvirtXmlErrorCode } from "./errors.js";
export type { Bus, Firmware, GuestSource, Hypervisor, SourceCpu, SourceDisk, SourceNic, SourceRemovable } from "./guest-source.js";
export {
  attr,
  childElements,
  element,
  findPath,
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
