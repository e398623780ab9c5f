import { LibvirtXmlError } from "./errors.js";
import type { Bus, GuestSource, SourceDisk, SourceNic, SourceRemovable } from "./guest-source.js";

/**
 * Xen xl / xm domain configuration files. xm files were Python; xl kept the Python-like subset that
 * real files use: `key = value` where a value is a string ('…' or "…"), a number, or a list of
 * values (possibly nested, trailing comma allowed), with `#` comments and `;` or newlines between
 * settings. Anything else (expressions, function calls) is refused rather than guessed.
 */
export type XenValue = string | number | XenValue[];
export type XenConfig = ReadonlyMap<string, XenValue>;

export const XEN_CONFIG_LIMITS = { maxChars: 1024 * 1024, maxSettings: 10_000, maxListItems: 4096, maxDepth: 8 } as const;

/** Parses xl/xm cfg text into a key → value map. Repeated keys: the last wins, as in xl and Python. */
export function parseXenConfig(text: string): XenConfig {
  if (text.length > XEN_CONFIG_LIMITS.maxChars) {
    throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `the Xen configuration is ${text.length} characters; a real one is a few kilobytes — check that this is the right file`);
  }
  return new Parser(text).file();
}

class Parser {
  #pos = 0;
  constructor(readonly text: string) {}

  file(): Map<string, XenValue> {
    const values = new Map<string, XenValue>();
    for (;;) {
      this.#skip(true);
      if (this.#pos >= this.text.length) return values;
      if (this.text[this.#pos] === ";") {
        this.#pos++;
        continue;
      }
      const key = this.#identifier();
      this.#skip(false);
      this.#expect("=");
      this.#skip(false);
      const value = this.#value(0);
      this.#skip(false);
      const c = this.text[this.#pos];
      if (c !== undefined && c !== "\n" && c !== "\r" && c !== ";") this.#fail(`unexpected ${JSON.stringify(c)} after the value of ${key}`);
      if (values.size >= XEN_CONFIG_LIMITS.maxSettings) this.#fail("too many settings");
      values.delete(key);
      values.set(key, value);
    }
  }

  /** Whitespace and comments; newlines too inside lists (`multiline`). */
  #skip(multiline: boolean): void {
    while (this.#pos < this.text.length) {
      const c = this.text[this.#pos]!;
      if (c === " " || c === "\t" || c === "\f" || c === "\v" || (multiline && (c === "\n" || c === "\r"))) this.#pos++;
      else if (c === "\\" && (this.text[this.#pos + 1] === "\n" || this.text[this.#pos + 1] === "\r")) this.#pos += 2;
      else if (c === "#") while (this.#pos < this.text.length && this.text[this.#pos] !== "\n") this.#pos++;
      else return;
    }
  }

  #identifier(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_]{0,127}/.exec(this.text.slice(this.#pos, this.#pos + 128));
    if (!m) this.#fail("expected a setting name");
    this.#pos += m[0].length;
    return m[0];
  }

  #expect(c: string): void {
    if (this.text[this.#pos] !== c) this.#fail(`expected '${c}'`);
    this.#pos++;
  }

  #value(depth: number): XenValue {
    if (depth > XEN_CONFIG_LIMITS.maxDepth) this.#fail("lists nested too deeply");
    const c = this.text[this.#pos];
    if (c === "'" || c === '"') return this.#string();
    if (c === "[") return this.#list(depth);
    const m = /^[+-]?(0[xX][0-9a-fA-F]{1,16}|\d{1,20}(\.\d{1,20})?)(?![A-Za-z0-9_.])/.exec(this.text.slice(this.#pos, this.#pos + 64));
    if (m) {
      this.#pos += m[0].length;
      const negative = m[0].startsWith("-");
      const n = Number(m[0].replace(/^[+-]/, ""));
      if (!Number.isSafeInteger(n) && !(m[2] !== undefined && Number.isFinite(n))) this.#fail(`the number ${m[0]} is too large`);
      return negative ? -n : n;
    }
    return this.#fail("expected a string, a number or a list (other Python expressions are not supported)");
  }

  #list(depth: number): XenValue[] {
    this.#expect("[");
    const items: XenValue[] = [];
    for (;;) {
      this.#skip(true);
      if (this.text[this.#pos] === "]") {
        this.#pos++;
        return items;
      }
      if (items.length >= XEN_CONFIG_LIMITS.maxListItems) this.#fail("too many list items");
      items.push(this.#value(depth + 1));
      this.#skip(true);
      if (this.text[this.#pos] === ",") this.#pos++;
      else if (this.text[this.#pos] !== "]") this.#fail("expected ',' or ']' in a list");
    }
  }

  /** A Python string literal: the usual backslash escapes, triple quotes not used by real files. */
  #string(): string {
    const quote = this.text[this.#pos]!;
    this.#pos++;
    let out = "";
    for (;;) {
      if (this.#pos >= this.text.length) this.#fail("a string is not closed");
      const c = this.text[this.#pos]!;
      if (c === quote) {
        this.#pos++;
        return out;
      }
      if (c === "\n") this.#fail("a string runs past the end of the line");
      if (c === "\\") {
        const next = this.text[this.#pos + 1];
        const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0" };
        if (next !== undefined && next in escapes) {
          out += escapes[next];
          this.#pos += 2;
          continue;
        }
        if (next === "x" && /^[0-9a-fA-F]{2}$/.test(this.text.slice(this.#pos + 2, this.#pos + 4))) {
          out += String.fromCharCode(Number.parseInt(this.text.slice(this.#pos + 2, this.#pos + 4), 16));
          this.#pos += 4;
          continue;
        }
      }
      out += c;
      this.#pos++;
    }
  }

  #fail(message: string): never {
    const line = this.text.slice(0, this.#pos).split("\n").length;
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `Xen configuration line ${line}: ${message}`);
  }
}

/** Reads an xl/xm cfg into the normalized GuestSource. */
export function readXenConfig(text: string): GuestSource {
  const cfg = parseXenConfig(text);
  const name = str(cfg, "name");
  if (name === undefined || name === "") throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "the Xen configuration has no name = '…'; add one so the VM can be named");
  // xl's `type` replaced xm's `builder`; both say whether the guest is fully virtualized.
  const kind = (str(cfg, "type") ?? str(cfg, "builder") ?? "pv").toLowerCase();
  const hvm = kind === "hvm";
  const memoryMiB = num(cfg, "memory", 128, 1, 64 * 1024 * 1024);
  const vcpus = num(cfg, "vcpus", 1, 1, 4096);
  const bios = str(cfg, "bios")?.toLowerCase();
  const firmware = !hvm ? "unknown" : bios === "ovmf" ? "uefi" : "bios";
  // xl turns these on by default for HVM guests; PV guests have none of them.
  const features = hvm ? ["acpi", "apic", "pae"].filter((f) => num(cfg, f, 1, 0, 1) === 1) : [];
  const disks: SourceDisk[] = [];
  const removables: SourceRemovable[] = [];
  for (const spec of stringList(cfg, "disk")) {
    const disk = parseDiskSpec(spec, hvm);
    if (disk.cdrom) removables.push({ type: "cdrom", bus: disk.bus, slot: disk.slot, path: disk.path });
    else disks.push({ path: disk.path, format: disk.format, bus: disk.bus, targetDev: disk.vdev, controller: undefined, slot: disk.slot });
  }
  const nics = stringList(cfg, "vif").map((spec) => parseVifSpec(spec));
  return {
    name,
    hypervisor: "xen",
    genid: undefined,
    memoryBytes: memoryMiB * 1024 * 1024,
    vcpus,
    cpu: { vendor: undefined, model: undefined, sockets: undefined, cores: undefined, threads: undefined },
    features,
    firmware,
    secureBoot: false,
    display: display(cfg),
    sound: str(cfg, "soundhw"),
    disks,
    removables,
    nics,
    // libvirt's names: `hvm` for full virtualization, `xen` for paravirtualized guests.
    osType: hvm ? "hvm" : "xen",
    bootloader: str(cfg, "bootloader"),
    kernel: str(cfg, "kernel"),
    initrd: str(cfg, "ramdisk"),
    cmdline: kernelCommandLine(cfg),
  };
}

/** xm/xl build the PV kernel command line from `root` and `extra` (or take `cmdline` whole). */
function kernelCommandLine(cfg: XenConfig): string | undefined {
  const whole = str(cfg, "cmdline");
  if (whole !== undefined) return whole;
  const root = str(cfg, "root");
  const extra = str(cfg, "extra");
  const parts = [root === undefined ? undefined : `root=${root}`, extra].filter((p) => p !== undefined && p !== "");
  return parts.length === 0 ? undefined : parts.join(" ");
}

function str(cfg: XenConfig, key: string): string | undefined {
  const v = cfg.get(key);
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `Xen setting ${key} is a list; it should be a single value`);
}

function num(cfg: XenConfig, key: string, fallback: number, min: number, max: number): number {
  const v = cfg.get(key);
  if (v === undefined) return fallback;
  const n = typeof v === "string" && /^\s*\d{1,15}\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `Xen setting ${key} = ${JSON.stringify(v)} should be a whole number in ${min}…${max}`);
  }
  return n;
}

function stringList(cfg: XenConfig, key: string): string[] {
  const v = cfg.get(key);
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v : [v];
  return items.map((item) => {
    if (typeof item !== "string") throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `Xen setting ${key} should be a list of strings, found ${JSON.stringify(item)}`);
    return item;
  });
}

interface DiskSpec {
  path: string | undefined;
  format: string | undefined;
  vdev: string | undefined;
  bus: Bus | undefined;
  slot: number | undefined;
  cdrom: boolean;
}

/**
 * One `disk` entry, in either syntax xl accepts: keyword (`format=qcow2, vdev=xvdb, target=/x`,
 * where `target` comes last and may hold commas) or positional (`phy:/dev/vg/lv,xvda,w`,
 * `/x.img,qcow2,xvda,rw`), with xm's `prefix:` on the target and `:cdrom` on the vdev.
 */
export function parseDiskSpec(spec: string, hvm: boolean): DiskSpec {
  const keyed: Record<string, string> = {};
  const positional: string[] = [];
  let flags = new Set<string>();
  const parts = spec.split(",");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!.trim();
    const eq = part.indexOf("=");
    const key = eq > 0 ? part.slice(0, eq).trim().toLowerCase() : "";
    if (key === "target") {
      keyed.target = [part.slice(eq + 1), ...parts.slice(i + 1)].join(",").trim();
      break;
    }
    if (/^[a-z-]+$/.test(key)) keyed[key] = part.slice(eq + 1).trim();
    else if (/^(cdrom|devtype=cdrom|no-discard|discard|direct-io-safe)$/i.test(part)) flags = new Set([...flags, part.toLowerCase()]);
    else positional.push(part);
  }
  // Positional forms: 3 fields = target,vdev,access (xm); 4 = target,format,vdev,access (xl).
  let target = keyed.target;
  let format = keyed.format;
  let vdev = keyed.vdev;
  if (positional.length >= 4) [target, format, vdev] = [target ?? positional[0], format ?? positional[1], vdev ?? positional[2]];
  else if (positional.length >= 2) [target, vdev] = [target ?? positional[0], vdev ?? positional[1]];
  else if (positional.length === 1) {
    if (vdev === undefined) vdev = positional[0];
    else target ??= positional[0];
  }
  let cdrom = flags.has("cdrom") || keyed.devtype?.toLowerCase() === "cdrom";
  if (vdev?.toLowerCase().endsWith(":cdrom")) {
    cdrom = true;
    vdev = vdev.slice(0, -":cdrom".length);
  }
  if (vdev !== undefined && vdev.includes(":")) vdev = vdev.slice(0, vdev.indexOf(":"));
  // xm prefixes: phy:, file:, tap:aio:, tap:qcow2:, tap2:vhd:, qcow2:, raw:, vhd:.
  let path = target === undefined || target === "" ? undefined : target;
  if (path !== undefined) {
    const m = /^(?:(phy|file|tap2?|aio|raw|qcow2?|vhd|vmdk|qed):)(?:(aio|raw|qcow2?|vhd|vmdk|qed|tapdisk|ioemu):)?(.*)$/i.exec(path);
    if (m) {
      const outer = m[1]!.toLowerCase();
      const inner = m[2]?.toLowerCase();
      const kind = inner ?? outer;
      format ??= kind === "qcow" || kind === "qcow2" || kind === "qed" || kind === "vmdk" ? kind : kind === "vhd" ? "vpc" : "raw";
      path = m[3] === "" ? undefined : m[3];
    }
  }
  const { bus, slot } = busOf(vdev, hvm);
  return { path, format: format?.toLowerCase(), vdev, bus, slot, cdrom };
}

/** Bus and index from the guest device name: hdX → IDE, sdX → SCSI, xvdX → Xen PV. */
function busOf(vdev: string | undefined, hvm: boolean): { bus: Bus | undefined; slot: number | undefined } {
  const m = /^(hd|sd|xvd|vd)([a-z]{1,3})\d*$/.exec(vdev ?? "");
  if (!m) return { bus: hvm ? undefined : "xen", slot: undefined };
  const letters = m[2]!;
  let index = 0;
  for (const ch of letters) index = index * 26 + (ch.charCodeAt(0) - 96);
  const slot = index - 1;
  const bus: Bus = m[1] === "hd" ? "ide" : m[1] === "sd" ? "scsi" : m[1] === "vd" ? "virtio" : "xen";
  return { bus, slot };
}

/** One `vif` entry: `mac=…,bridge=…,model=…,type=ioemu`. Without a bridge xl uses xenbr0. */
function parseVifSpec(spec: string): SourceNic {
  const fields: Record<string, string> = {};
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  const mac = fields.mac?.toLowerCase();
  return {
    kind: "bridge",
    name: fields.bridge ?? "xenbr0",
    mac: mac !== undefined && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) ? mac : undefined,
    model: fields.model,
  };
}

function display(cfg: XenConfig): GuestSource["display"] {
  const on = (key: string) => {
    const v = cfg.get(key);
    return v === 1 || v === "1";
  };
  if (on("vnc")) {
    const unused = cfg.get("vncunused");
    const port = unused === 0 || unused === "0" ? 5900 + Number(cfg.get("vncdisplay") ?? 0) : undefined;
    return { type: "vnc", listen: str(cfg, "vnclisten"), port: Number.isFinite(port) ? port : undefined };
  }
  if (on("spice")) return { type: "spice", listen: str(cfg, "spicehost"), port: typeof cfg.get("spiceport") === "number" ? (cfg.get("spiceport") as number) : undefined };
  if (on("sdl")) return { type: "sdl", listen: undefined, port: undefined };
  return undefined;
}
