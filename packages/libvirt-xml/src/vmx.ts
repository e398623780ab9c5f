import { TextDecoder } from "node:util";
import { LibvirtXmlError } from "./errors.js";
import { vmwareCpu, type Bus, type GuestSource, type SourceDisk, type SourceNic, type SourceRemovable } from "./guest-source.js";

/**
 * VMware .vmx files: `key = "value"` lines. Keys are case-insensitive (VMware itself writes
 * `memSize` and `memsize` interchangeably), so they are stored lowercased.
 *
 * Repeated keys: a key given twice with the SAME value is accepted; with different values it is
 * an error (LIBVIRT_XML_INVALID). VMware never writes such a file, and which value the hypervisor
 * would use is not documented, so guessing could convert the wrong disk or NIC.
 */
export type VmxFile = ReadonlyMap<string, string>;

/** Sizes beyond anything VMware writes; a file past them is not a real .vmx. */
export const VMX_LIMITS = { maxBytes: 4 * 1024 * 1024, maxLines: 100_000, maxKeyLength: 512, maxValueLength: 65_536 } as const;

export interface ReadVmxOptions {
  /** Directory the .vmx lives in: relative disk file names are resolved against it. */
  baseDir?: string;
  /** Fallback name (e.g. the file name) when the .vmx has no displayName. */
  fallbackName?: string;
}

const keyPattern = /^[A-Za-z0-9_.:-]+$/;

/** Parses a .vmx (bytes or already-decoded text) into a lowercased key → value map. */
export function parseVmx(input: Uint8Array | string): VmxFile {
  const text = typeof input === "string" ? input : decodeVmx(input);
  if (text.length > VMX_LIMITS.maxBytes) throw tooLarge(`${text.length} characters`);
  const lines = text.split(/\r?\n|\r/);
  if (lines.length > VMX_LIMITS.maxLines) throw tooLarge(`${lines.length} lines`);
  const values = new Map<string, string>();
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    // Control characters (NUL, escape, …) never occur in a text .vmx: this is a binary file.
    if (hasControlCharacter(line)) {
      throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo} contains binary data: this is not a VMware .vmx text file`);
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo}: expected 'key = "value"', got ${quote(line)}`);
    const key = line.slice(0, eq).trim();
    if (key.length > VMX_LIMITS.maxKeyLength || !keyPattern.test(key)) {
      throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo}: ${quote(key)} is not a VMX key (letters, digits, '.', ':', '_', '-')`);
    }
    const value = parseValue(line.slice(eq + 1).trim(), lineNo);
    if (value.length > VMX_LIMITS.maxValueLength) throw tooLarge(`a value of ${value.length} characters on line ${lineNo}`);
    const lower = key.toLowerCase();
    const previous = values.get(lower);
    if (previous !== undefined && previous !== value) {
      throw new LibvirtXmlError(
        "LIBVIRT_XML_INVALID",
        `VMX key ${quote(key)} is given twice with different values (line ${lineNo}); remove one of them so it is clear which the VM uses`,
      );
    }
    values.set(lower, value);
  });
  return values;
}

/** True when `s` holds a C0 control character other than tab, or DEL. */
export function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** A value: `"quoted"` (with `|XX` hex escapes) or a bare word, optionally followed by a `#` comment. */
function parseValue(rest: string, lineNo: number): string {
  if (!rest.startsWith('"')) {
    const bare = rest.replace(/\s+#.*$/, "").trim();
    if (/[\s"]/.test(bare)) throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo}: unquoted value ${quote(bare)} contains spaces or quotes`);
    return unescape(bare, lineNo);
  }
  const close = rest.indexOf('"', 1);
  if (close < 0) throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo}: the value's closing quote is missing`);
  const after = rest.slice(close + 1).trim();
  if (after !== "" && !after.startsWith("#")) {
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo}: unexpected ${quote(after)} after the quoted value`);
  }
  return unescape(rest.slice(1, close), lineNo);
}

/** VMware writes characters that would break the syntax (`"`, `#`, `|`) as `|` + two hex digits. */
function unescape(value: string, lineNo: number): string {
  if (!value.includes("|")) return value;
  return value.replace(/\|(..?)/g, (match, hex: string) => {
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `VMX line ${lineNo}: ${quote(match)} is not a '|XX' hex escape`);
    return String.fromCharCode(Number.parseInt(hex, 16));
  });
}

/**
 * Decodes .vmx bytes using the file's own `.encoding` line (UTF-8 when absent). The line is
 * ASCII in every encoding VMware writes, so it can be found before decoding.
 */
export function decodeVmx(bytes: Uint8Array): string {
  if (bytes.length > VMX_LIMITS.maxBytes) throw tooLarge(`${bytes.length} bytes`);
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  const head = Buffer.from(bytes.subarray(start, Math.min(bytes.length, start + 65_536))).toString("latin1");
  const match = /^[ \t]*\.encoding[ \t]*=[ \t]*"?([A-Za-z0-9_.:-]{1,40})"?/im.exec(head);
  const label = match?.[1] ?? "UTF-8";
  if (windows1252Labels.has(label.toLowerCase())) return decodeWindows1252(bytes.subarray(start));
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label, { fatal: true });
  } catch {
    throw new LibvirtXmlError("LIBVIRT_XML_UNSUPPORTED", `the .vmx says .encoding = "${label}", which this system cannot decode; convert the file to UTF-8 (e.g. with iconv) and set .encoding = "UTF-8"`);
  }
  try {
    return decoder.decode(bytes.subarray(start));
  } catch (err) {
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `the .vmx is not valid ${label} text (binary data or a wrong .encoding line)`, { cause: err });
  }
}

// Node's TextDecoder decodes "windows-1252" as ISO-8859-1 (0x80–0x9F become control characters),
// so the encoding VMware writes on Western Windows hosts is decoded here, per the WHATWG table.
const windows1252Labels = new Set(["windows-1252", "cp1252", "x-cp1252", "latin1", "iso-8859-1", "iso8859-1", "us-ascii", "ascii"]);
const windows1252High = "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178";

function decodeWindows1252(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    const chunk = bytes.subarray(i, i + 8192);
    out += String.fromCharCode(...Array.from(chunk, (b) => (b >= 0x80 && b <= 0x9f ? windows1252High.charCodeAt(b - 0x80) : b)));
  }
  return out;
}

/** Reads a .vmx (bytes or text) into the normalized GuestSource, with virt-v2v's semantics. */
export function readVmx(input: Uint8Array | string, options: ReadVmxOptions = {}): GuestSource {
  const vmx = parseVmx(input);
  const get = (key: string) => vmx.get(key.toLowerCase());
  const name = get("displayName") ?? options.fallbackName;
  if (name === undefined || name === "") {
    throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "the .vmx has no displayName; add displayName = \"NAME\" so the VM can be named");
  }
  // VMware's own default when memSize is absent is 32 MiB.
  const memoryMiB = integer(vmx, "memSize", 32, 1, 64 * 1024 * 1024);
  const vcpus = integer(vmx, "numvcpus", 1, 1, 4096);
  const coresPerSocket = optionalInteger(vmx, "cpuid.coresPerSocket", 1, 4096);
  const firmware = get("firmware")?.toLowerCase() === "efi" ? "uefi" : "bios";
  return {
    name,
    hypervisor: "vmware",
    genid: generationId(vmx),
    memoryBytes: memoryMiB * 1024 * 1024,
    vcpus,
    cpu: vmwareCpu(vcpus, coresPerSocket),
    features: [],
    firmware,
    secureBoot: firmware === "uefi" && isTrue(get("uefi.secureBoot.enabled")),
    display: undefined,
    sound: get("sound.present") !== undefined && isTrue(get("sound.present")) ? (get("sound.virtualDev") ?? "es1371") : undefined,
    disks: findDisks(vmx, options.baseDir),
    removables: findRemovables(vmx),
    nics: findNics(vmx),
    guestOs: get("guestOS"),
  };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(true|yes|1)$/i.test(value.trim());
}

function integer(vmx: VmxFile, key: string, fallback: number, min: number, max: number): number {
  return optionalInteger(vmx, key, min, max) ?? fallback;
}

function optionalInteger(vmx: VmxFile, key: string, min: number, max: number): number | undefined {
  const value = vmx.get(key.toLowerCase());
  if (value === undefined) return undefined;
  if (!/^\s*\d{1,15}\s*$/.test(value)) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `VMX key ${key} = "${value}" is not a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `VMX key ${key} = ${n} is out of range (${min}…${max})`);
  return n;
}

/**
 * VMware stores the Windows VM generation id as two signed 64-bit decimals (vm.genid, vm.genidX);
 * the GUID the guest sees is their hex digits in this order (as virt-v2v and Hyper-V show it).
 */
function generationId(vmx: VmxFile): string | undefined {
  const lo = vmx.get("vm.genid");
  const hi = vmx.get("vm.genidx");
  if (lo === undefined || hi === undefined) return undefined;
  if (!/^-?\d{1,20}$/.test(lo) || !/^-?\d{1,20}$/.test(hi)) return undefined;
  const hex = (v: string) => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, "0");
  const s = hex(lo) + hex(hi);
  const at = (i: number, n: number) => s.slice(i, i + n);
  return [
    at(8, 8),
    at(4, 4),
    at(0, 4),
    at(30, 2) + at(28, 2),
    at(26, 2) + at(24, 2) + at(22, 2) + at(20, 2) + at(18, 2) + at(16, 2),
  ].join("-");
}

interface Device {
  bus: Bus;
  controller: number;
  unit: number;
  prefix: string;
}

/**
 * Every `busN:M` device namespace of the file, sorted by controller then unit. As in virt-v2v, a
 * namespace counts unless its `present` says "FALSE": a device without the key is there.
 */
function devices(vmx: VmxFile, bus: "scsi" | "sata" | "ide" | "nvme"): Device[] {
  const found = new Map<string, Device>();
  const pattern = new RegExp(`^(${bus})(\\d{1,3}):(\\d{1,3})\\.`);
  for (const key of vmx.keys()) {
    const m = pattern.exec(key);
    if (!m) continue;
    const prefix = `${m[1]}${m[2]}:${m[3]}`;
    if (!found.has(prefix)) found.set(prefix, { bus, controller: Number(m[2]), unit: Number(m[3]), prefix });
  }
  return [...found.values()]
    .filter((d) => vmx.get(`${d.prefix}.present`)?.toLowerCase() !== "false")
    .sort((a, b) => a.controller - b.controller || a.unit - b.unit);
}

// The deviceType values (lowercased; undefined: the key is absent) virt-v2v takes for a hard disk
// on each bus. An IDE disk must say so; an NVMe disk must not say anything.
const diskTypes: Record<"scsi" | "sata" | "ide" | "nvme", ReadonlySet<string | undefined>> = {
  scsi: new Set(["disk", "plaindisk", "rawdisk", "scsi-harddisk", undefined]),
  nvme: new Set([undefined]),
  sata: new Set(["disk", undefined]),
  ide: new Set(["ata-harddisk"]),
};

/** Disks in virt-v2v's order: SCSI, then NVMe, SATA and IDE, each by controller and unit. */
function findDisks(vmx: VmxFile, baseDir: string | undefined): SourceDisk[] {
  const disks: SourceDisk[] = [];
  for (const bus of ["scsi", "nvme", "sata", "ide"] as const) {
    for (const d of devices(vmx, bus)) {
      const type = vmx.get(`${d.prefix}.devicetype`)?.toLowerCase();
      const file = vmx.get(`${d.prefix}.filename`);
      if (file === undefined || !diskTypes[bus].has(type)) continue;
      disks.push({
        path: resolvePath(file, baseDir),
        format: /\.vmdk$/i.test(file) ? "vmdk" : undefined,
        bus: d.bus,
        targetDev: undefined,
        controller: d.controller,
        slot: d.unit,
      });
    }
  }
  return disks;
}

const cdromTypes = new Set(["atapi-cdrom", "cdrom-image", "cdrom-raw"]);

/**
 * Removable media as virt-v2v sees them: CD-ROMs on IDE only (slot = controller * 2 + unit, the
 * hda…hdd index), and floppies that are present.
 */
function findRemovables(vmx: VmxFile): SourceRemovable[] {
  const removables: SourceRemovable[] = [];
  for (const d of devices(vmx, "ide")) {
    const type = vmx.get(`${d.prefix}.devicetype`)?.toLowerCase();
    if (type === undefined || !cdromTypes.has(type)) continue;
    const file = vmx.get(`${d.prefix}.filename`);
    removables.push({ type: "cdrom", bus: "ide", slot: d.controller * 2 + d.unit, path: type === "cdrom-image" ? file : undefined });
  }
  const floppies = [...new Set([...vmx.keys()].map((k) => /^floppy(\d{1,2})\./.exec(k)?.[1]).filter((n) => n !== undefined))].map(Number).sort((a, b) => a - b);
  for (const n of floppies) {
    if (!isTrue(vmx.get(`floppy${n}.present`))) continue;
    const file = vmx.get(`floppy${n}.filename`);
    removables.push({ type: "floppy", bus: "fdc", slot: n, path: vmx.get(`floppy${n}.filetype`) === "file" ? file : undefined });
  }
  return removables;
}

/** NICs `ethernetN`: a named network when networkName is set, else a bridge named after the NIC. */
function findNics(vmx: VmxFile): SourceNic[] {
  const indexes = [...new Set([...vmx.keys()].map((k) => /^ethernet(\d{1,3})\./.exec(k)?.[1]).filter((n) => n !== undefined))].map(Number).sort((a, b) => a - b);
  const nics: SourceNic[] = [];
  for (const n of indexes) {
    const ns = `ethernet${n}`;
    if (!isTrue(vmx.get(`${ns}.present`))) continue;
    const addressType = vmx.get(`${ns}.addresstype`)?.toLowerCase();
    const mac =
      addressType === "generated" || addressType === "vpx"
        ? vmx.get(`${ns}.generatedaddress`)
        : addressType === "static"
          ? vmx.get(`${ns}.address`)
          : undefined;
    const network = vmx.get(`${ns}.networkname`);
    nics.push({
      kind: network === undefined ? "bridge" : "network",
      name: network ?? ns,
      mac: mac === undefined || mac === "" ? undefined : mac.toLowerCase(),
      model: vmx.get(`${ns}.virtualdev`)?.toLowerCase(),
    });
  }
  return nics;
}

/** A relative file name is relative to the .vmx's own directory; VMware datastore paths stay as written. */
function resolvePath(file: string, baseDir: string | undefined): string {
  if (baseDir === undefined || file.startsWith("/") || /^[A-Za-z]:[\\/]/.test(file)) return file;
  return `${baseDir.replace(/\/+$/, "")}/${file}`;
}

function tooLarge(what: string): LibvirtXmlError {
  return new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `the .vmx is too large (${what}); a real .vmx is a few kilobytes — check that this is the right file`);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? s.slice(0, 60) + "…" : s);
}
