import { LibvirtXmlError } from "./errors.js";
import { vmwareCpu, type Bus, type Firmware, type GuestSource, type Hypervisor, type SourceDisk, type SourceNic, type SourceRemovable } from "./guest-source.js";
import { attr, childElements, findPath, firstChild, localName, parseXml, textOf, type XmlElement } from "./xml.js";

/**
 * OVF descriptors (DMTF DSP0243) as VMware and VirtualBox export them. The hardware is a list of
 * `Item`s told apart by their CIM `rasd:ResourceType`; devices point at their controller with
 * `rasd:Parent` (the controller's `rasd:InstanceID`) and sit at `rasd:AddressOnParent` on it.
 */

/** CIM_ResourceAllocationSettingData resource types this reader uses. */
export const ResourceType = {
  other: 1,
  processor: 3,
  memory: 4,
  ideController: 5,
  scsiController: 6,
  ethernetAdapter: 10,
  floppyDrive: 14,
  cdDrive: 15,
  dvdDrive: 16,
  disk: 17,
  otherStorageDevice: 20,
} as const;

/** One file the descriptor references (`References/File`). */
export interface OvfFile {
  id: string;
  /** Relative path of the file beside the descriptor (inside the OVA). Checked not to escape. */
  href: string;
  size: number | undefined;
  /** `gzip` when the exporter compressed the file (ovf:compression). */
  compression: string | undefined;
}

export interface OvfDescriptor {
  source: GuestSource;
  files: OvfFile[];
  /** For each source disk (same order), the referenced file, when the disk has one. */
  diskFiles: (OvfFile | undefined)[];
  /** Each disk's capacity in bytes (DiskSection), when given. */
  diskCapacities: (number | undefined)[];
}

export interface ReadOvfOptions {
  /** Directory of the .ovf: disk paths become `baseDir/href`. Without it they stay as the href. */
  baseDir?: string;
}

/** Reads an OVF descriptor into the normalized GuestSource. */
export function readOvf(text: string, options: ReadOvfOptions = {}): GuestSource {
  return parseOvf(text, options).source;
}

/** Reads an OVF descriptor: the GuestSource plus the files it references (for OVA checks). */
export function parseOvf(text: string, options: ReadOvfOptions = {}): OvfDescriptor {
  const doc = parseXml(text);
  const envelope = doc.root;
  if (localName(envelope.name) !== "Envelope") {
    throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `this is not an OVF descriptor (its root element is <${envelope.name.slice(0, 64)}>, not <Envelope>)`);
  }
  const system = firstChild(envelope, "VirtualSystem") ?? findPath(envelope, "VirtualSystemCollection", "VirtualSystem");
  if (!system) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "the OVF has no <VirtualSystem>; an OVF describing no VM cannot be converted");
  const hardware = firstChild(system, "VirtualHardwareSection");
  if (!hardware) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "the OVF's VirtualSystem has no <VirtualHardwareSection>");

  const files = readReferences(envelope);
  const disksById = readDiskSection(envelope, files);
  const items = [...childElements(hardware, "Item"), ...childElements(hardware, "StorageItem"), ...childElements(hardware, "EthernetPortItem")].map(readItem);
  const byInstance = new Map(items.filter((i) => i.instanceId !== undefined).map((i) => [i.instanceId!, i]));
  const vbox = findVirtualBoxMachine(system);

  const name = textOf(firstChild(system, "Name")) || attr(system, "id") || textOf(findPath(hardware, "System", "VirtualSystemIdentifier"));
  if (!name) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "the OVF's VirtualSystem has no <Name> and no ovf:id; add one so the VM can be named");

  const cpuItem = items.find((i) => i.resourceType === ResourceType.processor);
  const vcpus = cpuItem ? count(cpuItem.quantity, "the processor count", 1, 16_384) : 1;
  const coresPerSocketText = cpuItem ? textOf(firstChild(cpuItem.element, "CoresPerSocket")) : undefined;
  const coresPerSocket = coresPerSocketText ? count(coresPerSocketText, "CoresPerSocket", 1, 16_384) : undefined;
  const memoryItem = items.find((i) => i.resourceType === ResourceType.memory);
  // The OVF default unit for memory is MiB (what every exporter writes anyway).
  const memoryBytes = memoryItem ? quantityBytes(memoryItem.quantity, memoryItem.units ?? "byte * 2^20", "the memory size") : 1024 ** 3;

  const disks: SourceDisk[] = [];
  const diskFiles: (OvfFile | undefined)[] = [];
  const diskCapacities: (number | undefined)[] = [];
  const removables: SourceRemovable[] = [];
  const nics: SourceNic[] = [];
  for (const item of items) {
    const parent = item.parent === undefined ? undefined : byInstance.get(item.parent);
    const bus = parent ? controllerBus(parent) : undefined;
    if (item.resourceType === ResourceType.disk) {
      const ref = diskReference(item.hostResource, disksById, files);
      const file = ref?.file;
      disks.push({
        path: file === undefined ? undefined : options.baseDir === undefined ? file.href : `${options.baseDir.replace(/\/+$/, "")}/${file.href}`,
        format: ref?.format,
        bus,
        targetDev: undefined,
        controller: parent ? smallNumber(parent.address) : undefined,
        slot: smallNumber(item.addressOnParent),
      });
      diskFiles.push(file);
      diskCapacities.push(ref?.capacity);
    } else if (item.resourceType === ResourceType.cdDrive || item.resourceType === ResourceType.dvdDrive) {
      removables.push({ type: "cdrom", bus, slot: smallNumber(item.addressOnParent), path: undefined });
    } else if (item.resourceType === ResourceType.floppyDrive) {
      removables.push({ type: "floppy", bus: "fdc", slot: smallNumber(item.addressOnParent), path: undefined });
    } else if (item.resourceType === ResourceType.ethernetAdapter) {
      const subtype = item.subtype?.toLowerCase();
      nics.push({
        // Like virt-v2v: the OVF only names the host network the NIC was connected to.
        kind: "bridge",
        name: item.connection,
        mac: item.address !== undefined && /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(item.address) ? item.address.toLowerCase().replace(/-/g, ":") : undefined,
        model: subtype === undefined || subtype === "" ? undefined : subtype,
      });
    }
  }

  const { firmware, secureBoot } = readFirmware(hardware, vbox);
  const hypervisor: Hypervisor = vbox || /virtualbox/i.test(textOf(findPath(hardware, "System", "VirtualSystemType")) ?? "") ? "vbox" : "vmware";
  return {
    source: {
      name,
      hypervisor,
      genid: undefined,
      memoryBytes,
      vcpus,
      cpu: vmwareCpu(vcpus, coresPerSocket),
      features: [],
      firmware,
      secureBoot,
      display: undefined,
      sound: undefined,
      disks,
      removables,
      nics,
      guestOs: guestOs(firstChild(system, "OperatingSystemSection")),
    },
    files: [...files.values()],
    diskFiles,
    diskCapacities,
  };
}

interface Item {
  element: XmlElement;
  instanceId: string | undefined;
  resourceType: number | undefined;
  subtype: string | undefined;
  quantity: string | undefined;
  units: string | undefined;
  parent: string | undefined;
  address: string | undefined;
  addressOnParent: string | undefined;
  hostResource: string | undefined;
  connection: string | undefined;
}

function readItem(element: XmlElement): Item {
  const field = (local: string) => textOf(firstChild(element, local)) || undefined;
  const type = field("ResourceType");
  return {
    element,
    instanceId: field("InstanceID") ?? field("InstanceId"),
    resourceType: type !== undefined && /^\d{1,5}$/.test(type) ? Number(type) : undefined,
    subtype: field("ResourceSubType"),
    quantity: field("VirtualQuantity"),
    units: field("AllocationUnits") ?? field("VirtualQuantityUnits"),
    parent: field("Parent"),
    address: field("Address"),
    addressOnParent: field("AddressOnParent"),
    hostResource: field("HostResource"),
    connection: field("Connection"),
  };
}

/** IDE (5) and SCSI (6) controllers; "other storage" (20) is SATA/AHCI, or NVMe when it says so. */
function controllerBus(controller: Item): Bus | undefined {
  const subtype = controller.subtype?.toLowerCase() ?? "";
  if (controller.resourceType === ResourceType.ideController) return "ide";
  if (controller.resourceType === ResourceType.scsiController) return "scsi";
  if (controller.resourceType === ResourceType.otherStorageDevice) return subtype.includes("nvme") ? "nvme" : "sata";
  return undefined;
}

function readReferences(envelope: XmlElement): Map<string, OvfFile> {
  const files = new Map<string, OvfFile>();
  for (const file of childElements(firstChild(envelope, "References") ?? emptyElement, "File")) {
    const id = attr(file, "id");
    const href = attr(file, "href");
    if (id === undefined || href === undefined) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "an OVF <File> lacks ovf:id or ovf:href");
    const size = attr(file, "size");
    files.set(id, {
      id,
      href: confineHref(href),
      size: size !== undefined && /^\d{1,16}$/.test(size) ? Number(size) : undefined,
      compression: attr(file, "compression")?.toLowerCase() || undefined,
    });
  }
  return files;
}

/**
 * A file reference must name a file beside the descriptor: no absolute path, no `..`, no URL.
 * Otherwise a hostile OVA could make a converter read (or write) anywhere on the host.
 */
export function confineHref(href: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(href)) {
    throw new LibvirtXmlError("LIBVIRT_XML_UNSUPPORTED", `the OVF references a remote file (${href.slice(0, 100)}); download it beside the .ovf and change the href to its file name`);
  }
  const parts = href.replace(/\\/g, "/").split("/");
  if (href.startsWith("/") || href.startsWith("\\") || /^[A-Za-z]:/.test(href) || parts.includes("..") || href.includes("\0")) {
    throw new LibvirtXmlError("LIBVIRT_XML_PATH_ESCAPE", `the OVF references ${JSON.stringify(href.slice(0, 100))}, outside its own directory; refusing to follow it`);
  }
  return parts.filter((p) => p !== "" && p !== ".").join("/");
}

interface DiskRef {
  file: OvfFile | undefined;
  format: string | undefined;
  capacity: number | undefined;
}

function readDiskSection(envelope: XmlElement, files: Map<string, OvfFile>): Map<string, DiskRef> {
  const disks = new Map<string, DiskRef>();
  const section = firstChild(envelope, "DiskSection") ?? firstChild(envelope, "VirtualDiskDesc");
  for (const disk of childElements(section ?? emptyElement, "Disk")) {
    const id = attr(disk, "diskId");
    if (id === undefined) continue;
    const fileRef = attr(disk, "fileRef");
    const capacity = attr(disk, "capacity");
    const file = fileRef === undefined ? undefined : files.get(fileRef);
    disks.set(id, {
      file,
      // Without ovf:format, the file name is the only hint.
      format: formatFromUri(attr(disk, "format"), file?.href.replace(/\.gz$/i, "")),
      capacity: capacity === undefined ? undefined : quantityBytes(capacity, attr(disk, "capacityAllocationUnits") ?? "byte", "a disk capacity"),
    });
  }
  return disks;
}

/** `ovf:/disk/vmdisk1` names a DiskSection disk; `ovf:/file/file1` a referenced file directly. */
function diskReference(hostResource: string | undefined, disks: Map<string, DiskRef>, files: Map<string, OvfFile>): DiskRef | undefined {
  if (hostResource === undefined) return undefined;
  const m = /^(?:ovf:)?\/?(disk|file)\/(.+)$/.exec(hostResource);
  if (!m) return undefined;
  if (m[1] === "disk") return disks.get(m[2]!);
  const file = files.get(m[2]!);
  return file ? { file, format: formatFromUri(undefined, file.href), capacity: undefined } : undefined;
}

/** The disk format from the OVF format URI (VMware, VirtualBox and qemu spellings) or the file name. */
function formatFromUri(uri: string | undefined, href?: string): string | undefined {
  const s = (uri ?? href ?? "").toLowerCase();
  if (s.includes("vmdk")) return "vmdk";
  if (s.includes("qcow")) return "qcow2";
  if (s.includes("vhdx")) return "vhdx";
  if (s.includes("vhd")) return "vpc";
  if (s.includes("vdi")) return "vdi";
  if (s.includes("raw") || s.endsWith(".img")) return "raw";
  return undefined;
}

/**
 * Programmatic units (DSP0004): `byte`, `byte * 2^20`, `byte * 10^9`, `KiloBytes`, `MegaBytes`,
 * `GigaBytes`, and the shorthand some exporters use (`MB`, `GB`).
 */
export function unitBytes(units: string): number | undefined {
  const u = units.trim().replace(/\s+/g, " ");
  const named: Record<string, number> = {
    byte: 1, bytes: 1, b: 1,
    kilobytes: 1024, kb: 1024, kib: 1024,
    megabytes: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
    gigabytes: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
    terabytes: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
  };
  const direct = named[u.toLowerCase()];
  if (direct !== undefined) return direct;
  const m = /^(?:byte|bytes)(?: ?\* ?(\d{1,2}) ?\^ ?(-?\d{1,2}))?(?: ?\* ?(\d{1,6}))?$/i.exec(u);
  if (!m) return undefined;
  const power = m[1] === undefined ? 1 : Number(m[1]) ** Number(m[2]);
  const factor = m[3] === undefined ? 1 : Number(m[3]);
  const total = power * factor;
  return Number.isSafeInteger(total) && total > 0 ? total : undefined;
}

function quantityBytes(quantity: string | undefined, units: string, what: string): number {
  const factor = unitBytes(units);
  if (factor === undefined) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF gives ${what} in '${units.slice(0, 40)}', a unit this reader does not know (expected e.g. 'byte * 2^20')`);
  if (quantity === undefined || !/^\d{1,16}$/.test(quantity.trim())) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF's ${what} '${(quantity ?? "").slice(0, 40)}' is not a whole number`);
  const bytes = Number(quantity.trim()) * factor;
  if (!Number.isSafeInteger(bytes)) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF's ${what} (${quantity} × ${units}) is too large to be real`);
  return bytes;
}

function count(text: string | undefined, what: string, min: number, max: number): number {
  if (text === undefined || !/^\d{1,9}$/.test(text.trim())) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF's ${what} '${(text ?? "").slice(0, 40)}' is not a whole number`);
  const n = Number(text.trim());
  if (n < min || n > max) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF's ${what} ${n} is out of range (${min}…${max})`);
  return n;
}

function smallNumber(text: string | undefined): number | undefined {
  return text !== undefined && /^\d{1,6}$/.test(text) ? Number(text) : undefined;
}

/** VMware's vmw:osType, else VirtualBox's vbox:OSType, else the section's description. */
function guestOs(section: XmlElement | undefined): string | undefined {
  if (!section) return undefined;
  return attr(section, "osType") || textOf(firstChild(section, "OSType")) || textOf(firstChild(section, "Description")) || undefined;
}

/** VirtualBox puts its own machine settings in `<vbox:Machine>` inside the VirtualSystem. */
function findVirtualBoxMachine(system: XmlElement): XmlElement | undefined {
  return childElements(system).find((c) => localName(c.name) === "Machine" && c.name.includes(":"));
}

/**
 * VMware: `<vmw:Config vmw:key="firmware" vmw:value="efi"/>` and `uefi.secureBoot.enabled`.
 * VirtualBox: `<Hardware><Firmware type="EFI"/>` in its machine settings.
 */
function readFirmware(hardware: XmlElement, vbox: XmlElement | undefined): { firmware: Firmware; secureBoot: boolean } {
  const config = new Map<string, string>();
  for (const c of childElements(hardware, "Config")) {
    const key = attr(c, "key");
    const value = attr(c, "value");
    if (key !== undefined && value !== undefined) config.set(key, value);
  }
  let firmware: Firmware = "bios";
  const vmware = config.get("firmware")?.toLowerCase();
  if (vmware === "efi") firmware = "uefi";
  const vboxFirmware = attr(findPath(vbox, "Hardware", "Firmware"), "type");
  if (vboxFirmware !== undefined && /^efi/i.test(vboxFirmware)) firmware = "uefi";
  const secureBoot = firmware === "uefi" && /^true$/i.test(config.get("uefi.secureBoot.enabled") ?? "");
  return { firmware, secureBoot };
}

const emptyElement: XmlElement = { type: "element", name: "", attributes: new Map(), children: [] };
