// The virt-v2v corpus (../shared/corpus/virt-v2v: virt-v2v's own test inputs with what it printed
// for each) as a test oracle: its --print-source text read back into facts, compared with leapp's.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./cache.js";

/** Where the corpus is, when the shared test data sits beside the repository (tests skip without it). */
export const virtV2vCorpusDir = join(repoRoot, "..", "shared", "corpus", "virt-v2v");
export const haveVirtV2vCorpus = existsSync(virtV2vCorpusDir);

/** A bus as leapp names it (libvirt's names): what @leapp/libvirt-xml's `Bus` holds. */
export type Bus = "ide" | "sata" | "scsi" | "virtio" | "xen" | "usb" | "fdc" | "nvme" | "sd";

/**
 * The facts `virt-v2v --print-source` prints, read back from its text. leapp's own `source` output
 * is checked against virt-v2v's with it, fact by fact.
 */
export interface PrintedSource {
  name: string | undefined;
  hypervisor: string | undefined;
  genid: string | undefined;
  memoryBytes: number | undefined;
  vcpus: number | undefined;
  cpuVendor: string | undefined;
  cpuModel: string | undefined;
  topology: { sockets: number; cores: number; threads: number } | undefined;
  features: string[];
  firmware: string | undefined;
  /** Older virt-v2v versions do not print the secure boot line. */
  secureBoot: boolean | undefined;
  disks: { label: string; format: string | undefined; bus: Bus | undefined }[];
  removables: { type: "cdrom" | "floppy"; bus: Bus | undefined; slot: number | undefined }[];
  nics: { kind: "network" | "bridge" | "user"; name: string | undefined; mac: string | undefined; model: string | undefined }[];
}

/** virt-v2v names buses by the device it will create; leapp by libvirt's bus names. */
const busNames: Record<string, Bus> = {
  "virtio-blk": "virtio",
  virtio: "virtio",
  "virtio-scsi": "scsi",
  ide: "ide",
  scsi: "scsi",
  sata: "sata",
  nvme: "nvme",
  xen: "xen",
  usb: "usb",
  fdc: "fdc",
};

/** Parses virt-v2v's "Source guest information (--print-source option)" block. */
export function parsePrintSource(text: string): PrintedSource {
  const facts: PrintedSource = {
    name: undefined,
    hypervisor: undefined,
    genid: undefined,
    memoryBytes: undefined,
    vcpus: undefined,
    cpuVendor: undefined,
    cpuModel: undefined,
    topology: undefined,
    features: [],
    firmware: undefined,
    secureBoot: undefined,
    disks: [],
    removables: [],
    nics: [],
  };
  let section: "head" | "disks" | "removables" | "nics" = "head";
  for (const line of text.split(/\r?\n/)) {
    if (/^disks:\s*$/.test(line)) section = "disks";
    else if (/^removable media:\s*$/.test(line)) section = "removables";
    else if (/^NICs:\s*$/.test(line)) section = "nics";
    else if (section === "head") readHeadLine(line, facts);
    else if (line.trim() !== "") {
      const item = line.trim();
      if (section === "disks") facts.disks.push(readDisk(item));
      else if (section === "removables") facts.removables.push(readRemovable(item));
      else facts.nics.push(readNic(item));
    }
  }
  return facts;
}

function readHeadLine(line: string, facts: PrintedSource): void {
  const m = /^\s*([A-Za-z][A-Za-z ]*?):\s?(.*)$/.exec(line);
  if (!m) return;
  const value = m[2]!.trim();
  const optional = value === "" ? undefined : value;
  switch (m[1]) {
    case "source name":
      facts.name = value;
      break;
    case "hypervisor type":
      facts.hypervisor = value;
      break;
    case "VM genid":
      facts.genid = optional;
      break;
    case "memory":
      facts.memoryBytes = Number(/^(\d+)/.exec(value)?.[1]);
      break;
    case "nr vCPUs":
      facts.vcpus = Number(value);
      break;
    case "CPU vendor":
      facts.cpuVendor = optional;
      break;
    case "CPU model":
      facts.cpuModel = optional;
      break;
    case "CPU topology": {
      const t = /sockets: (\d+) cores\/socket: (\d+) threads\/core: (\d+)/.exec(value);
      facts.topology = t ? { sockets: Number(t[1]), cores: Number(t[2]), threads: Number(t[3]) } : undefined;
      break;
    }
    case "CPU features":
      facts.features = value === "" ? [] : value.split(",");
      break;
    case "firmware":
      facts.firmware = value;
      break;
    case "UEFI secureboot":
      facts.secureBoot = value === "true";
      break;
  }
}

/** `0 [scsi]`, `/path/disk.img (raw) [virtio-blk]`, `json:{…} (vmdk) [scsi]`. */
function readDisk(item: string): PrintedSource["disks"][number] {
  const m = /^(.*?)(?: \(([\w-]+)\))?(?: \[([\w-]+)\])?$/.exec(item)!;
  return { label: m[1]!, format: m[2], bus: m[3] === undefined ? undefined : busNames[m[3]] };
}

/** `CD-ROM [ide] in slot 2`, `Floppy`. */
function readRemovable(item: string): PrintedSource["removables"][number] {
  const m = /^(CD-ROM|Floppy)(?: \[([\w-]+)\])?(?: in slot (\d+))?$/.exec(item);
  if (!m) throw new Error(`unrecognised removable media line: ${item}`);
  return { type: m[1] === "CD-ROM" ? "cdrom" : "floppy", bus: m[2] === undefined ? undefined : busNames[m[2]], slot: m[3] === undefined ? undefined : Number(m[3]) };
}

/** `Network "VM Network" mac: 00:0c:29:36:ef:31 [vmxnet3]`, `Bridge "br0" [e1000]`, `User`. */
function readNic(item: string): PrintedSource["nics"][number] {
  const m = /^(Network|Bridge|User)(?: "((?:[^"\\]|\\.)*)")?(?: mac: ([0-9a-fA-F:]+))?(?: \[([\w-]+)\])?$/.exec(item);
  if (!m) throw new Error(`unrecognised NIC line: ${item}`);
  return {
    kind: m[1] === "Network" ? "network" : m[1] === "Bridge" ? "bridge" : "user",
    name: m[2],
    mac: m[3]?.toLowerCase(),
    model: m[4],
  };
}

/** The facts leapp reports, in the shape of `leapp source --json` (null or absent where unknown). */
export interface ReportedSource {
  name: string;
  hypervisor: string;
  memoryBytes: number;
  vcpus: number;
  firmware: string;
  secureBoot: boolean;
  genid?: string | null | undefined;
  cpu?: { vendor?: string | undefined; model?: string | undefined; sockets?: number | undefined; cores?: number | undefined; threads?: number | undefined };
  features?: string[];
  disks: { bus?: string | null | undefined }[];
  removables: { type: string; bus?: string | null | undefined; slot?: number | null | undefined }[];
  nics: { kind: string; name?: string | null | undefined; mac?: string | null | undefined; model?: string | null | undefined }[];
}

export interface FactComparison {
  /** How many individual facts were compared. */
  checked: number;
  /** One line per fact that differs: `what: expected X, got Y`. */
  mismatches: string[];
}

/**
 * Compares every fact virt-v2v printed with leapp's: name, hypervisor, memory, vCPUs, firmware,
 * secure boot (when printed), genid (when both sides have the field), each disk's bus, each
 * removable's type, bus and slot, each NIC's kind, name, MAC and model, and the counts.
 */
export function compareFacts(expected: PrintedSource, actual: ReportedSource): FactComparison {
  const result: FactComparison = { checked: 0, mismatches: [] };
  const check = (what: string, want: unknown, got: unknown) => {
    result.checked++;
    if ((want ?? null) !== (got ?? null)) result.mismatches.push(`${what}: expected ${JSON.stringify(want ?? null)}, got ${JSON.stringify(got ?? null)}`);
  };
  check("name", expected.name, actual.name);
  check("hypervisor", expected.hypervisor, actual.hypervisor);
  check("memory", expected.memoryBytes, actual.memoryBytes);
  check("vCPUs", expected.vcpus, actual.vcpus);
  check("firmware", expected.firmware, actual.firmware);
  if (expected.secureBoot !== undefined) check("secure boot", expected.secureBoot, actual.secureBoot);
  if ("genid" in actual) check("genid", expected.genid, actual.genid);
  if (actual.cpu !== undefined) {
    check("CPU vendor", expected.cpuVendor, actual.cpu.vendor);
    check("CPU model", expected.cpuModel, actual.cpu.model);
    const t = actual.cpu;
    const topology = t.sockets === undefined && t.cores === undefined && t.threads === undefined ? undefined : `${t.sockets}/${t.cores}/${t.threads}`;
    check("CPU topology", expected.topology && `${expected.topology.sockets}/${expected.topology.cores}/${expected.topology.threads}`, topology);
  }
  if (actual.features !== undefined) check("CPU features", expected.features.join(","), actual.features.join(","));
  check("disk count", expected.disks.length, actual.disks.length);
  expected.disks.forEach((d, i) => check(`disk ${i} bus`, d.bus, actual.disks[i]?.bus));
  check("removable count", expected.removables.length, actual.removables.length);
  expected.removables.forEach((r, i) => {
    check(`removable ${i} type`, r.type, actual.removables[i]?.type);
    check(`removable ${i} bus`, r.bus, actual.removables[i]?.bus);
    check(`removable ${i} slot`, r.slot, actual.removables[i]?.slot);
  });
  check("NIC count", expected.nics.length, actual.nics.length);
  expected.nics.forEach((n, i) => {
    check(`NIC ${i} kind`, n.kind, actual.nics[i]?.kind);
    check(`NIC ${i} name`, n.name, actual.nics[i]?.name);
    check(`NIC ${i} MAC`, n.mac, actual.nics[i]?.mac);
    check(`NIC ${i} model`, n.model, actual.nics[i]?.model);
  });
  return result;
}

/** One virt-v2v test input with the facts it expects. */
export interface CorpusCase {
  /** `test-i-vmx-1`. */
  name: string;
  input: string;
  expected: string;
  format: "vmx" | "ovf" | "libvirt";
}

/**
 * Which kind of `.expected` this is: virt-v2v's --print-source block, or the `<disk>` part of the
 * domain virt-v2v wrote (whose removables keep the source's on-bus slots).
 */
export function expectedForm(text: string): "print-source" | "target-disks" {
  return /^\s*source name:/m.test(text) ? "print-source" : "target-disks";
}

/** Every input of the corpus directory that has an `.expected` beside it, sorted by name. */
export function listCorpusCases(files: readonly string[], dir: string): CorpusCase[] {
  const present = new Set(files);
  const cases: CorpusCase[] = [];
  for (const file of [...files].sort()) {
    if (!file.endsWith(".expected")) continue;
    const name = file.slice(0, -".expected".length);
    const input = [`${name}.vmx`, `${name}.ovf`, `${name}.xml.in`, `${name}.xml`].find((f) => present.has(f));
    if (input === undefined) throw new Error(`${file} has no input beside it`);
    const format = input.endsWith(".vmx") ? "vmx" : input.endsWith(".ovf") ? "ovf" : "libvirt";
    cases.push({ name, input: `${dir}/${input}`, expected: `${dir}/${file}`, format });
  }
  return cases;
}

/** The `<disk>` elements of a target snippet: how many disks, and each removable's type and target dev. */
export function parseTargetDisks(text: string): { disks: number; removables: { type: "cdrom" | "floppy"; dev: string }[] } {
  let disks = 0;
  const removables: { type: "cdrom" | "floppy"; dev: string }[] = [];
  for (const m of text.matchAll(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g)) {
    const device = /device=['"](\w+)['"]/.exec(m[1]!)?.[1] ?? "disk";
    const dev = /<target\b[^>]*\bdev=['"](\w+)['"]/.exec(m[2]!)?.[1] ?? "";
    if (device === "cdrom" || device === "floppy") removables.push({ type: device, dev });
    else disks++;
  }
  return { disks, removables };
}
