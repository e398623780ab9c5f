import { LibvirtXmlError } from "./errors.js";
import type { Bus, Firmware, GuestSource, Hypervisor, SourceDisk, SourceNic, SourceRemovable } from "./guest-source.js";
import { attr, childElements, findPath, firstChild, localName, parseXml, serializeXml, textOf, type XmlDocument, type XmlElement, type XmlLimits } from "./xml.js";

/**
 * A libvirt domain document, kept whole: every element, attribute, comment and namespace the
 * input had, in order. `domain` points at the `<domain>` element (the root, or the first domain
 * inside a libvirt test-driver `<node>` file).
 */
export interface DomainDocument {
  xml: XmlDocument;
  domain: XmlElement;
}

/** Parses libvirt domain XML losslessly. Throws LibvirtXmlError (MALFORMED, ENTITY, TOO_LARGE, INVALID). */
export function parseDomainXml(text: string, limits?: XmlLimits): DomainDocument {
  const xml = parseXml(text, limits);
  const root = xml.root;
  let domain: XmlElement | undefined;
  if (localName(root.name) === "domain") domain = root;
  else if (localName(root.name) === "node") domain = firstChild(root, "domain");
  if (!domain) {
    throw new LibvirtXmlError(
      "LIBVIRT_XML_INVALID",
      `This XML is not a libvirt domain (its root element is <${root.name.slice(0, 64)}>); give the output of 'virsh dumpxml'.`,
    );
  }
  return { xml, domain };
}

/** Writes the document back; parse → serialize gives a document equal after canonicalization. */
export function serializeDomainXml(doc: DomainDocument): string {
  return serializeXml(doc.xml);
}

const hypervisors: ReadonlySet<string> = new Set<Hypervisor>([
  "kvm", "qemu", "xen", "vmware", "vbox", "hyperv", "lxc", "uml", "openvz", "bhyve", "test",
]);
const buses: ReadonlySet<string> = new Set<Bus>(["ide", "sata", "scsi", "virtio", "xen", "usb", "fdc", "nvme", "sd"]);

/** Most vCPUs we believe; libvirt's own ceiling is in the thousands. */
const MAX_VCPUS = 16_384;

/** Reads a libvirt domain (text or parsed document) into the normalized GuestSource, as virt-v2v does. */
export function readDomainXml(input: string | DomainDocument): GuestSource {
  const { domain } = typeof input === "string" ? parseDomainXml(input) : input;
  const type = attr(domain, "type") ?? "";
  const hypervisor: Hypervisor = hypervisors.has(type) ? (type as Hypervisor) : "unknown";
  const name = textOf(firstChild(domain, "name"));
  if (!name) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "The libvirt domain has no <name>; every domain needs one.");

  const cpuEl = firstChild(domain, "cpu");
  const topology = firstChild(cpuEl, "topology");
  const cpu = {
    vendor: textOf(firstChild(cpuEl, "vendor")) || undefined,
    model: textOf(firstChild(cpuEl, "model")) || undefined,
    sockets: optionalCount(attr(topology, "sockets"), "cpu topology sockets"),
    cores: optionalCount(attr(topology, "cores"), "cpu topology cores"),
    threads: optionalCount(attr(topology, "threads"), "cpu topology threads"),
  };
  // Like virt-v2v: <vcpu> if present, else the topology's product, else 1.
  let vcpus = optionalCount(textOf(firstChild(domain, "vcpu")), "vcpu");
  if (vcpus === undefined) {
    vcpus = cpu.sockets === undefined && cpu.cores === undefined && cpu.threads === undefined ? 1 : (cpu.sockets ?? 1) * (cpu.cores ?? 1) * (cpu.threads ?? 1);
  }
  if (vcpus > MAX_VCPUS) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `The domain claims ${vcpus} vCPUs, more than ${MAX_VCPUS}; fix <vcpu> or <cpu><topology>.`);

  const os = firstChild(domain, "os");
  const osTypeEl = firstChild(os, "type");
  const devices = firstChild(domain, "devices");
  const graphics = firstChild(devices, "graphics");
  const { firmware, secureBoot } = readFirmware(os);

  const disks: SourceDisk[] = [];
  const removables: SourceRemovable[] = [];
  const nics: SourceNic[] = [];
  let interfaceIndex = 0;
  for (const dev of devices ? childElements(devices) : []) {
    const kind = localName(dev.name);
    if (kind === "disk") {
      const device = attr(dev, "device") ?? "disk";
      if (device === "cdrom" || device === "floppy") removables.push(readRemovable(dev, device));
      else {
        // Like virt-v2v, a disk with nothing behind it (no source) is not a disk to convert.
        const disk = readDisk(dev);
        if (disk.path !== undefined) disks.push(disk);
      }
    } else if (kind === "interface") {
      const nic = readNic(dev, interfaceIndex++);
      if (nic) nics.push(nic);
    }
  }

  return {
    name,
    hypervisor,
    genid: textOf(firstChild(domain, "genid")) || undefined,
    memoryBytes: readMemory(firstChild(domain, "memory")),
    vcpus,
    cpu,
    features: childElements(firstChild(domain, "features") ?? emptyElement).map((f) => localName(f.name)),
    firmware,
    secureBoot,
    display: graphics ? readDisplay(graphics) : undefined,
    sound: attr(firstChild(devices, "sound"), "model"),
    disks,
    removables,
    nics,
    osType: textOf(osTypeEl) || undefined,
    arch: attr(osTypeEl, "arch"),
    machine: attr(osTypeEl, "machine"),
    bootloader: textOf(firstChild(domain, "bootloader")) || undefined,
    kernel: textOf(firstChild(os, "kernel")) || undefined,
    initrd: textOf(firstChild(os, "initrd")) || undefined,
    cmdline: textOf(firstChild(os, "cmdline")) || undefined,
    video: attr(findPath(devices, "video", "model"), "type"),
  };
}

const emptyElement: XmlElement = { type: "element", name: "", attributes: new Map(), children: [] };

function optionalCount(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^\d{1,9}$/.test(text)) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `The domain's ${what} is '${text.slice(0, 32)}', not a whole number.`);
  return Number(text);
}

/** libvirt's memory units; a bare number is KiB. */
const memoryUnits: Record<string, number> = {
  b: 1, bytes: 1,
  kb: 1e3, k: 1024, kib: 1024,
  mb: 1e6, m: 1024 ** 2, mib: 1024 ** 2,
  gb: 1e9, g: 1024 ** 3, gib: 1024 ** 3,
  tb: 1e12, t: 1024 ** 4, tib: 1024 ** 4,
  pb: 1e15, p: 1024 ** 5, pib: 1024 ** 5,
  eb: 1e18, e: 1024 ** 6, eib: 1024 ** 6,
};

function readMemory(el: XmlElement | undefined): number {
  // virt-v2v assumes 1 GiB when the domain does not say.
  if (!el) return 1024 ** 3;
  const text = textOf(el) ?? "";
  const unit = (attr(el, "unit") ?? "KiB").toLowerCase();
  const factor = memoryUnits[unit];
  if (factor === undefined) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `The domain's memory unit '${unit.slice(0, 16)}' is not one libvirt knows (KiB, MiB, GiB…).`);
  if (!/^\d{1,16}$/.test(text)) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `The domain's memory '${text.slice(0, 32)}' is not a whole number.`);
  const bytes = Number(text) * factor;
  if (!Number.isSafeInteger(bytes)) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `The domain's memory (${text} ${unit}) is too large to be real.`);
  return bytes;
}

function readFirmware(os: XmlElement | undefined): { firmware: Firmware; secureBoot: boolean } {
  const loader = firstChild(os, "loader");
  let firmware: Firmware = "unknown";
  const declared = attr(os, "firmware");
  if (declared === "efi") firmware = "uefi";
  else if (declared === "bios") firmware = "bios";
  else if (loader) {
    const type = attr(loader, "type");
    const path = textOf(loader) ?? "";
    if (type === "pflash" || /ovmf|aavmf|edk2|efi/i.test(path)) firmware = "uefi";
    else if (type === "rom") firmware = "bios";
  } else if (firstChild(os, "nvram")) {
    // UEFI variable store without an explicit loader: libvirt picks the UEFI firmware.
    firmware = "uefi";
  }
  let secureBoot = attr(loader, "secure") === "yes";
  for (const feature of childElements(firstChild(os, "firmware") ?? emptyElement, "feature")) {
    if (attr(feature, "name") === "secure-boot") secureBoot = attr(feature, "enabled") === "yes";
  }
  return { firmware, secureBoot };
}

function readDisplay(graphics: XmlElement): GuestSource["display"] {
  const port = Number(attr(graphics, "port") ?? "-1");
  // The first <listen> child wins over the legacy listen attribute, as in libvirt.
  const listenEl = firstChild(graphics, "listen");
  const listen = listenEl ? (attr(listenEl, "address") ?? attr(listenEl, "network") ?? attr(listenEl, "socket")) : attr(graphics, "listen");
  return {
    type: attr(graphics, "type") ?? "unknown",
    listen,
    // autoport (port='-1') means no fixed port.
    port: attr(graphics, "autoport") !== "yes" && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined,
  };
}

function diskPath(dev: XmlElement): string | undefined {
  const source = firstChild(dev, "source");
  if (!source) return undefined;
  const file = attr(source, "file") ?? attr(source, "dev") ?? attr(source, "dir");
  if (file !== undefined) return file;
  const volume = attr(source, "volume");
  if (volume !== undefined) return `${attr(source, "pool") ?? ""}/${volume}`;
  return attr(source, "name");
}

function readBus(dev: XmlElement): Bus | undefined {
  const bus = attr(firstChild(dev, "target"), "bus");
  return bus !== undefined && buses.has(bus) ? (bus as Bus) : undefined;
}

function readDisk(dev: XmlElement): SourceDisk {
  const address = firstChild(dev, "address");
  const isDrive = attr(address, "type") === "drive";
  return {
    path: diskPath(dev),
    format: diskFormat(dev),
    bus: readBus(dev),
    targetDev: attr(firstChild(dev, "target"), "dev"),
    controller: isDrive ? smallNumber(attr(address, "controller")) : undefined,
    slot: isDrive ? smallNumber(attr(address, "unit")) : undefined,
    sourceType: attr(dev, "type"),
    readonly: firstChild(dev, "readonly") !== undefined,
  };
}

function diskFormat(dev: XmlElement): string | undefined {
  const type = attr(firstChild(dev, "driver"), "type");
  // Xen's blktap driver calls raw images "aio".
  return type === "aio" ? "raw" : type;
}

function readRemovable(dev: XmlElement, type: "cdrom" | "floppy"): SourceRemovable {
  const address = firstChild(dev, "address");
  const targetDev = attr(firstChild(dev, "target"), "dev");
  // virt-v2v derives the slot from the target device name (hdc → 2); the drive address is the fallback.
  let slot = targetDev !== undefined ? slotFromDeviceName(targetDev) : undefined;
  if (slot === undefined && attr(address, "type") === "drive") {
    const unit = smallNumber(attr(address, "unit"));
    const bus = smallNumber(attr(address, "bus")) ?? 0;
    slot = unit === undefined ? undefined : readBus(dev) === "ide" ? bus * 2 + unit : unit;
  }
  return { type, bus: readBus(dev), slot, path: diskPath(dev) };
}

function smallNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,6}$/.test(text)) return undefined;
  return Number(text);
}

/** `hdc` → 2, `sdaa` → 26, `sr1` → 1, as libvirt and virt-v2v number drives. */
export function slotFromDeviceName(dev: string): number | undefined {
  const sr = /^sr(\d{1,4})$/.exec(dev);
  if (sr?.[1] !== undefined) return Number(sr[1]);
  const m = /^(?:hd|sd|vd|xvd|fd)([a-z]{1,4})$/.exec(dev);
  if (!m || m[1] === undefined) return undefined;
  let n = 0;
  for (const ch of m[1]) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

/** Inverse of slotFromDeviceName: 0 → `a`, 26 → `aa`. */
export function deviceLetters(index: number): string {
  let n = index + 1;
  let s = "";
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(97 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function readNic(dev: XmlElement, index: number): SourceNic | undefined {
  const type = attr(dev, "type");
  const source = firstChild(dev, "source");
  let kind: SourceNic["kind"];
  let name: string | undefined;
  if (type === "network" || type === "bridge") {
    kind = type;
    name = attr(source, type);
    // Without a source there is nothing to reconnect (virt-v2v skips it); libvirt's VMware driver
    // writes bridge='' for unnamed port groups, which virt-v2v names ethN.
    if (name === undefined) return undefined;
    if (name === "") name = `eth${index}`;
  } else if (type === "user") {
    kind = "user";
  } else {
    // direct, ethernet, vhostuser, hostdev…: nothing a target could reconnect, as in virt-v2v.
    return undefined;
  }
  let mac = attr(firstChild(dev, "mac"), "address");
  // VMware writes all-zero MACs for "generate one".
  if (mac === "00:00:00:00:00:00") mac = undefined;
  return { kind, name, mac, model: attr(firstChild(dev, "model"), "type") };
}
