import { open, stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { readDomainXml } from "./domain-xml.js";
import { LibvirtXmlError } from "./errors.js";
import type { GuestSource } from "./guest-source.js";
import { readOva, readOvaDirectory, type OvaSource } from "./ova.js";
import { readOvf } from "./ovf.js";
import { decodeVmx, hasControlCharacter, readVmx } from "./vmx.js";
import { readXenConfig } from "./xen-config.js";

export type SourceFormat = "libvirt" | "ovf" | "ova" | "vmx" | "xen";

export interface SourceRead {
  format: SourceFormat;
  source: GuestSource;
  /** For OVAs: the archive's descriptor, manifest, and which entry holds each disk. */
  ova?: OvaSource;
}

/** Metadata files (XML, VMX, Xen cfg) larger than this are refused before reading. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/**
 * Reads any VM description this package knows, detected by content (never by file name):
 * libvirt `<domain>`, OVF `<Envelope>`, OVA (a tar, or a directory holding an unpacked one),
 * VMware .vmx, Xen xl/xm cfg.
 */
export async function readSource(path: string): Promise<SourceRead> {
  const info = await stat(path);
  if (info.isDirectory()) {
    const ova = await readOvaDirectory(path);
    return { format: "ova", source: ova.source, ova };
  }
  if (!info.isFile()) throw new LibvirtXmlError("LIBVIRT_XML_UNKNOWN_FORMAT", `${path} is not a regular file; give the VM's metadata file (.xml, .ovf, .ova, .vmx, Xen cfg)`);
  const head = await readHead(path, 512);
  if (isTar(head)) {
    const ova = await readOva(path);
    return { format: "ova", source: ova.source, ova };
  }
  if (info.size > MAX_METADATA_BYTES) {
    throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `${path} is ${info.size} bytes and not a tar (OVA); VM metadata is never that large — is this a disk image?`);
  }
  const bytes = await readHead(path, MAX_METADATA_BYTES);
  return readSourceBytes(bytes, { path });
}

/** Same detection as readSource, for metadata already in memory (not OVAs). */
export function readSourceBytes(bytes: Uint8Array, options: { path?: string } = {}): SourceRead {
  const format = detectFormat(bytes);
  const baseDir = options.path === undefined ? undefined : dirname(resolve(options.path));
  switch (format) {
    case "libvirt":
      return { format, source: readDomainXml(utf8(bytes)) };
    case "ovf":
      return { format, source: readOvf(utf8(bytes), baseDir === undefined ? {} : { baseDir }) };
    case "vmx": {
      const fallbackName = options.path === undefined ? undefined : basename(options.path).replace(/\.vmx$/i, "");
      return { format, source: readVmx(decodeVmx(bytes), { ...(baseDir === undefined ? {} : { baseDir }), ...(fallbackName === undefined ? {} : { fallbackName }) }) };
    }
    case "xen":
      return { format, source: readXenConfig(utf8(bytes)) };
    case "ova":
      throw new LibvirtXmlError("LIBVIRT_XML_UNSUPPORTED", "an OVA must be read from a file (readSource), not from memory");
    default:
      throw new LibvirtXmlError(
        "LIBVIRT_XML_UNKNOWN_FORMAT",
        `${options.path ?? "the input"} is not VM metadata this reader knows: expected libvirt domain XML (virsh dumpxml), an OVF descriptor, an OVA (tar), a VMware .vmx or a Xen xl/xm configuration`,
      );
  }
}

/** What a file holds, by its first bytes and lines; undefined when it is none of the formats. */
export function detectFormat(bytes: Uint8Array): SourceFormat | undefined {
  if (isTar(bytes)) return "ova";
  const text = Buffer.from(bytes.subarray(0, 64 * 1024)).toString("latin1").replace(/^\uFEFF|^\u00ef\u00bb\u00bf/, "");
  const root = xmlRootName(text);
  if (root !== undefined) {
    const local = root.slice(root.indexOf(":") + 1);
    if (local === "domain" || (local === "node" && /<domain[\s>]/.test(text))) return "libvirt";
    if (local === "Envelope") return "ovf";
    return undefined;
  }
  if (hasControlCharacter(text)) return undefined;
  const settings = text.split(/\r?\n/).filter((l) => !/^\s*(#|$)/.test(l));
  // A .vmx has dotted keys with double-quoted values; VMware always writes .encoding or config.version.
  const vmxLines = settings.filter((l) => /^\s*[A-Za-z0-9_.:-]+\s*=\s*"[^"]*"\s*$/.test(l)).length;
  if (/^\s*(\.encoding|config\.version|virtualhw\.version|displayname)\s*=\s*"/im.test(text) && vmxLines >= settings.length / 2) return "vmx";
  // A Xen cfg: Python-style assignments with a name and at least one domain setting.
  if (/^\s*name\s*=\s*['"]/m.test(text) && /^\s*(memory|vcpus|disk|vif|builder|type|kernel|bootloader|maxmem)\s*=/m.test(text)) return "xen";
  return undefined;
}

/** The first element name after the prolog (declaration, comments, whitespace), if the text is XML. */
function xmlRootName(text: string): string | undefined {
  let s = text.trimStart();
  for (let guard = 0; guard < 64; guard++) {
    if (s.startsWith("<?")) {
      const end = s.indexOf("?>");
      if (end < 0) return undefined;
      s = s.slice(end + 2).trimStart();
    } else if (s.startsWith("<!--")) {
      const end = s.indexOf("-->");
      if (end < 0) return undefined;
      s = s.slice(end + 3).trimStart();
    } else if (s.startsWith("<!DOCTYPE")) {
      // Left for the XML reader, which refuses it with a clear error.
      const m = /^<!DOCTYPE\s+([A-Za-z_][\w.:-]*)/.exec(s);
      return m?.[1];
    } else break;
  }
  const m = /^<([A-Za-z_][\w.:-]*)[\s/>]/.exec(s);
  return m?.[1];
}

/** POSIX ustar and GNU tar both put "ustar" at offset 257 of the first header. */
function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 262 && Buffer.from(bytes.subarray(257, 262)).toString("latin1") === "ustar";
}

function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", "the metadata is not valid UTF-8 text", { cause: err });
  }
}

async function readHead(path: string, max: number): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(max <= 4096 ? max : Math.min(max, (await handle.stat()).size));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
