import { posix } from "node:path";
import { deviceLetters } from "./domain-xml.js";
import { LibvirtXmlError } from "./errors.js";
import type { Bus, GuestSource, SourceDisk, SourceNic, SourceRemovable } from "./guest-source.js";
import { element, formatXml, isXmlSafe, type XmlElement } from "./xml.js";

/** Where a converted disk lives on the target, overriding what the source metadata said. */
export interface TargetDisk {
  path: string;
  /** qcow2, raw… (default: the source's format, else raw). */
  format?: string;
}

export interface WriteDomainOptions {
  /** libvirt domain type: `kvm` (default) or `qemu` (TCG, no KVM needed). */
  type?: "kvm" | "qemu";
  /** Machine type: `q35` (default) or `pc` (i440fx). */
  machine?: "q35" | "pc";
  arch?: string;
  /** Firmware; default: UEFI when the source booted UEFI, else BIOS. */
  firmware?: "bios" | "uefi";
  /** UEFI secure boot; default: what the source had. Implies UEFI. */
  secureBoot?: boolean;
  /** Disk bus: `virtio` (default) or `keep` (the source's bus where KVM has it); `ide` is SATA on q35. */
  diskBus?: "virtio" | "keep" | "sata" | "scsi" | "ide";
  /**
   * Transitional virtio devices (disks, NICs, balloon, RNG), which also speak the legacy
   * interface: for kernels older than virtio 1.0 (Linux < 4.0, RHEL 5 and 6), which find no
   * modern-only device on q35. Default false.
   */
  virtioTransitional?: boolean;
  /**
   * Virtio memory balloon and RNG devices: default true. False for a guest whose kernel has no
   * driver for them; the balloon is then `model='none'`, or libvirt would add a virtio one.
   */
  balloon?: boolean;
  rng?: boolean;
  /** NIC model: `virtio` (default) or `keep` (the source's model where QEMU has it). */
  nicModel?: "virtio" | "keep" | "e1000" | "e1000e" | "rtl8139";
  /** Bus for CD-ROMs; default sata on q35, ide on pc. */
  cdromBus?: "sata" | "ide" | "scsi";
  /** Converted disks: by source disk index (an array) or by source disk path (a record). */
  disks?: readonly (TargetDisk | undefined)[] | Readonly<Record<string, TargetDisk>>;
  /** Graphics: `vnc` (default, or the source's vnc/spice), `spice` or `none`. */
  graphics?: "vnc" | "spice" | "none";
  /** Address graphics listen on (default 127.0.0.1). */
  listen?: string;
  /** Override the name, memory or vCPUs of the source. */
  name?: string;
  memoryBytes?: number;
  vcpus?: number;
  uuid?: string;
  /** Source network or bridge name → where the NIC goes on the target (e.g. "VM Network" → bridge br0). */
  networks?: Readonly<Record<string, { kind: "network" | "bridge"; name: string }>>;
  /** Relative source paths are resolved against this directory (default: refused). */
  baseDir?: string;
}

const diskBusPrefix: Partial<Record<Bus, string>> = { virtio: "vd", sata: "sd", scsi: "sd", usb: "sd", ide: "hd", fdc: "fd" };
/** Disk buses a KVM guest can have; anything else (xen, nvme, sd) becomes virtio. */
const kvmDiskBuses: ReadonlySet<Bus> = new Set<Bus>(["virtio", "sata", "scsi", "ide", "usb"]);
const qemuNicModels = new Set(["virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet", "vmxnet3", "i82559er"]);
const qemuSoundModels = new Set(["ich9", "ich6", "ich7", "ac97", "es1370", "sb16", "usb"]);
const qemuVideoModels = new Set(["vga", "qxl", "virtio", "cirrus", "bochs", "vmvga"]);
/** Disk formats libvirt's schema names for a QEMU disk driver (no vhdx: convert those first). */
const diskFormats = new Set(["raw", "qcow2", "qcow", "vmdk", "vdi", "vpc", "qed", "luks", "iso", "dmg", "bochs", "cloop"]);
/** libvirt's schema for `<source bridge=…>` (VMware port groups such as "VM Network" fit). */
const bridgeNamePattern = /^[a-zA-Z0-9_.\-\\:/ ]+$/;
const macPattern = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;
const uuidPattern = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

/**
 * Writes a libvirt domain for a KVM target from a GuestSource: virtio disks and NICs unless told
 * otherwise, q35 or i440fx, BIOS or UEFI (with secure boot), a serial console, graphics, the
 * source's MACs. The result validates against libvirt's schema (`virt-xml-validate … domain`).
 */
export function writeDomainXml(source: GuestSource, options: WriteDomainOptions = {}): string {
  return formatXml(buildDomain(source, options));
}

function invalid(message: string): never {
  throw new LibvirtXmlError("LIBVIRT_XML_INVALID", message);
}

/** Every string from the source ends up in XML: refuse what XML cannot carry. */
function safe(value: string, what: string): string {
  if (!isXmlSafe(value)) invalid(`The ${what} contains control characters XML cannot carry; fix it or override it in the options.`);
  return value;
}

export function buildDomain(source: GuestSource, options: WriteDomainOptions = {}): XmlElement {
  const machine = options.machine ?? "q35";
  const secureBoot = options.secureBoot ?? (source.secureBoot && (options.firmware ?? "uefi") === "uefi");
  const firmware = secureBoot ? "uefi" : (options.firmware ?? (source.firmware === "uefi" ? "uefi" : "bios"));
  if (secureBoot && machine !== "q35") invalid("UEFI secure boot needs the q35 machine type (SMM); drop machine: 'pc' or turn secure boot off.");

  const name = safe(options.name ?? source.name, "VM name");
  if (name === "" || name.includes("/") || name.length > 1024) invalid(`'${name.slice(0, 64)}' cannot be a libvirt domain name (empty, too long or with '/'); pass a name in the options.`);

  const memoryBytes = options.memoryBytes ?? source.memoryBytes;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 1024 * 1024) invalid(`Memory of ${memoryBytes} bytes is not usable for a VM; pass memoryBytes in the options.`);
  const vcpus = options.vcpus ?? source.vcpus;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 4096) invalid(`${vcpus} vCPUs is not usable for a KVM guest; pass vcpus in the options.`);

  const children: XmlElement[] = [element("name", {}, [name])];
  const uuid = options.uuid;
  if (uuid !== undefined) {
    if (!uuidPattern.test(uuid)) invalid(`'${uuid.slice(0, 40)}' is not a UUID.`);
    children.push(element("uuid", {}, [uuid]));
  }
  if (source.genid !== undefined && uuidPattern.test(source.genid)) children.push(element("genid", {}, [source.genid]));
  children.push(element("memory", { unit: "KiB" }, [String(Math.ceil(memoryBytes / 1024))]));
  children.push(element("vcpu", {}, [String(vcpus)]));

  const osChildren: XmlElement[] = [element("type", { arch: options.arch ?? "x86_64", machine }, ["hvm"])];
  if (firmware === "uefi") {
    const features = [element("feature", { enabled: secureBoot ? "yes" : "no", name: "secure-boot" })];
    if (secureBoot) features.push(element("feature", { enabled: "yes", name: "enrolled-keys" }));
    osChildren.push(element("firmware", {}, features));
  }
  osChildren.push(element("boot", { dev: "hd" }));
  children.push(element("os", { firmware: firmware === "uefi" ? "efi" : "bios" }, osChildren));

  const features = [element("acpi"), element("apic")];
  if (source.features.includes("pae")) features.push(element("pae"));
  if (secureBoot) features.push(element("smm", { state: "on" }));
  children.push(element("features", {}, features));

  const cpu = buildCpu(source, vcpus);
  children.push(cpu);
  children.push(element("clock", { offset: "utc" }));
  children.push(element("on_poweroff", {}, ["destroy"]), element("on_reboot", {}, ["restart"]), element("on_crash", {}, ["destroy"]));
  children.push(element("devices", {}, buildDevices(source, options, machine)));
  return element("domain", { type: options.type ?? "kvm" }, children);
}

function buildCpu(source: GuestSource, vcpus: number): XmlElement {
  const { sockets, cores, threads } = source.cpu;
  const topology =
    sockets !== undefined || cores !== undefined || threads !== undefined
      ? { sockets: sockets ?? 1, dies: 1, cores: cores ?? 1, threads: threads ?? 1 }
      : undefined;
  // libvirt refuses a topology whose product is not the vCPU count; then let it choose.
  const topologyEl =
    topology && topology.sockets * topology.cores * topology.threads === vcpus
      ? [element("topology", { sockets: topology.sockets, dies: 1, cores: topology.cores, threads: topology.threads })]
      : [];
  return element("cpu", { mode: "host-model", check: "partial" }, topologyEl);
}

function buildDevices(source: GuestSource, options: WriteDomainOptions, machine: "q35" | "pc"): XmlElement[] {
  const devices: XmlElement[] = [];
  const used = new Set<string>();
  let needScsi = false;
  const claim = (prefix: string, wanted: number | undefined): string => {
    for (let i = wanted ?? 0; ; i++) {
      const dev = prefix + deviceLetters(i);
      if (!used.has(dev)) {
        used.add(dev);
        return dev;
      }
    }
  };
  const fixIde = (bus: Bus): Bus => (bus === "ide" && machine === "q35" ? "sata" : bus);

  source.disks.forEach((disk, index) => {
    let bus: Bus = "virtio";
    if (options.diskBus === "keep") bus = disk.bus && kvmDiskBuses.has(disk.bus) ? fixIde(disk.bus) : "virtio";
    else if (options.diskBus) bus = fixIde(options.diskBus);
    if (bus === "scsi") needScsi = true;
    const dev = claim(diskBusPrefix[bus] ?? "vd", undefined);
    devices.push(buildDisk(disk, index, options, bus, dev));
  });

  for (const removable of source.removables) {
    if (removable.type === "floppy") {
      devices.push(buildRemovable(removable, options, "fdc", claim("fd", removable.slot)));
      continue;
    }
    const bus: Bus = options.cdromBus ?? (machine === "q35" ? "sata" : "ide");
    if (bus === "ide" && machine === "q35") invalid("The q35 machine type has no IDE bus; use cdromBus 'sata'.");
    if (bus === "scsi") needScsi = true;
    // Keep the CD-ROM's slot on its bus (hdc stays the third drive), as virt-v2v does.
    devices.push(buildRemovable(removable, options, bus, claim(diskBusPrefix[bus] ?? "sd", removable.slot)));
  }
  if (needScsi) devices.push(element("controller", { type: "scsi", index: 0, model: "virtio-scsi" }));

  source.nics.forEach((nic, index) => devices.push(buildNic(nic, index, options)));
  const virtioModel = options.virtioTransitional ? "virtio-transitional" : "virtio";

  devices.push(element("serial", { type: "pty" }, [element("target", { port: 0 })]));
  devices.push(element("console", { type: "pty" }, [element("target", { type: "serial", port: 0 })]));

  const graphics = options.graphics ?? (source.display?.type === "spice" ? "spice" : "vnc");
  if (graphics !== "none") {
    const listen = safe(options.listen ?? "127.0.0.1", "graphics listen address");
    devices.push(element("input", { type: "tablet", bus: "usb" }));
    devices.push(element("graphics", { type: graphics, autoport: "yes", listen }, [element("listen", { type: "address", address: listen })]));
    const video = source.video !== undefined && qemuVideoModels.has(source.video) ? source.video : graphics === "spice" ? "qxl" : "vga";
    devices.push(element("video", {}, [element("model", { type: video })]));
  }
  if (source.sound !== undefined) devices.push(element("sound", { model: qemuSoundModels.has(source.sound) ? source.sound : "ich9" }));
  devices.push(element("memballoon", { model: options.balloon === false ? "none" : virtioModel }));
  if (options.rng !== false) devices.push(element("rng", { model: virtioModel }, [element("backend", { model: "random" }, ["/dev/urandom"])]));
  return devices;
}

/** libvirt wants absolute host paths; a relative one is resolved against baseDir or refused. */
function hostPath(path: string, what: string, options: WriteDomainOptions): string {
  safe(path, what);
  if (path.startsWith("/")) return posix.normalize(path);
  if (options.baseDir !== undefined && options.baseDir.startsWith("/")) return posix.join(options.baseDir, path);
  invalid(`The ${what} '${path.slice(0, 200)}' is not an absolute host path; pass its converted location in options.disks or a baseDir.`);
}

function sourceElement(path: string): XmlElement {
  return path.startsWith("/dev/") ? element("source", { dev: path }) : element("source", { file: path });
}

function buildDisk(disk: SourceDisk, index: number, options: WriteDomainOptions, bus: Bus, dev: string): XmlElement {
  const target = targetDisk(options.disks, disk, index);
  const given = target?.path ?? disk.path;
  if (given === undefined || given === "") {
    invalid(`Source disk ${index} has no path; give its converted location in options.disks[${index}].`);
  }
  const path = hostPath(given, `path of disk ${index}`, options);
  const format = target?.format ?? disk.format ?? "raw";
  if (!diskFormats.has(format)) invalid(`Disk ${index} has format '${format.slice(0, 32)}', which a libvirt QEMU disk cannot name; convert it (qcow2 or raw) and pass the converted disk in options.disks.`);
  const children = [element("driver", { name: "qemu", type: format }), sourceElement(path), element("target", { dev, bus })];
  if (disk.readonly) children.push(element("readonly"));
  const model = bus === "virtio" && options.virtioTransitional ? { model: "virtio-transitional" } : {};
  return element("disk", { type: path.startsWith("/dev/") ? "block" : "file", device: "disk", ...model }, children);
}

function targetDisk(disks: WriteDomainOptions["disks"], disk: SourceDisk, index: number): TargetDisk | undefined {
  if (disks === undefined) return undefined;
  if (Array.isArray(disks)) return (disks as readonly (TargetDisk | undefined)[])[index];
  const byPath = disks as Readonly<Record<string, TargetDisk>>;
  return disk.path !== undefined && Object.hasOwn(byPath, disk.path) ? byPath[disk.path] : undefined;
}

function buildRemovable(removable: SourceRemovable, options: WriteDomainOptions, bus: Bus, dev: string): XmlElement {
  const children: XmlElement[] = [element("driver", { name: "qemu", type: "raw" })];
  const path = removable.path ? hostPath(removable.path, `${removable.type} image path`, options) : "";
  if (path) children.push(sourceElement(path));
  children.push(element("target", { dev, bus }), element("readonly"));
  return element("disk", { type: path.startsWith("/dev/") ? "block" : "file", device: removable.type }, children);
}

function buildNic(nic: SourceNic, index: number, options: WriteDomainOptions): XmlElement {
  const children: XmlElement[] = [];
  if (nic.mac !== undefined) {
    if (!macPattern.test(nic.mac)) invalid(`NIC ${index} has MAC '${nic.mac.slice(0, 32)}', which is not a MAC address; fix the source metadata.`);
    // libvirt refuses multicast MACs (lowest bit of the first octet).
    if (parseInt(nic.mac.slice(0, 2), 16) & 1) invalid(`NIC ${index} has the multicast MAC ${nic.mac}; a NIC needs a unicast one.`);
    children.push(element("mac", { address: nic.mac.toLowerCase() }));
  }
  // The source's network or bridge, or where options.networks maps it on the target host.
  const mapped = nic.name !== undefined && options.networks && Object.hasOwn(options.networks, nic.name) ? options.networks[nic.name] : undefined;
  const kind = mapped?.kind ?? nic.kind;
  if (kind !== "user") {
    const name = mapped?.name ?? nic.name ?? (kind === "network" ? "default" : undefined);
    if (!name) invalid(`NIC ${index} is on a bridge with no name; map it with options.networks or name the bridge in the source metadata.`);
    safe(name, `NIC ${index} ${kind} name`);
    if (kind === "bridge" && !bridgeNamePattern.test(name)) {
      invalid(`NIC ${index} is on bridge '${name.slice(0, 64)}', a name libvirt does not accept; map it to a host bridge with options.networks.`);
    }
    children.push(element("source", kind === "network" ? { network: name } : { bridge: name }));
  }
  let model = "virtio";
  if (options.nicModel === "keep") model = nic.model !== undefined && qemuNicModels.has(nic.model) ? nic.model : "virtio";
  else if (options.nicModel) model = options.nicModel;
  if (model === "virtio" && options.virtioTransitional) model = "virtio-transitional";
  children.push(element("model", { type: model }));
  return element("interface", { type: kind }, children);
}
