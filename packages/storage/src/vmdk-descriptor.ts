// The VMDK text descriptor: `key=value` lines, extent lines (`RW 2048 SPARSE "disk-s001.vmdk"`,
// `RW 4192256 FLAT "disk-flat.vmdk" 0`, `RW 100 ZERO`) and a `ddb.*` database. It is either a
// small file of its own or embedded in a sparse extent.
import { StorageError } from "./errors.js";

/** Descriptors larger than this are refused (real ones are a few hundred bytes). */
export const MAX_DESCRIPTOR_BYTES = 1024 * 1024;
/** More extents than this is not a disk anyone made (2 TiB in 2 GiB pieces is 1024). */
export const MAX_EXTENTS = 16384;

export type VmdkExtentType = "SPARSE" | "FLAT" | "ZERO" | "VMFS" | "VMFSSPARSE" | "VMFSRDM" | "VMFSRAW" | "SESPARSE";

export interface VmdkExtentLine {
  access: "RW" | "RDONLY" | "NOACCESS";
  /** Size of the extent in 512-byte sectors. */
  sectors: number;
  type: VmdkExtentType;
  /** The extent's file name as written (relative to the descriptor, usually); absent for ZERO. */
  file?: string;
  /** For FLAT extents: where the extent's data starts in its file, in sectors. */
  offsetSectors: number;
}

export interface VmdkDescriptor {
  createType: string | undefined;
  parentCid: string | undefined;
  parentFileNameHint: string | undefined;
  extents: VmdkExtentLine[];
}

const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/;
const KEY_VALUE = /^([A-Za-z][\w.]*)\s*=\s*(.*)$/;
const EXTENT_TYPES = new Set<string>(["SPARSE", "FLAT", "ZERO", "VMFS", "VMFSSPARSE", "VMFSRDM", "VMFSRAW", "SESPARSE"]);

function unquote(value: string): string {
  const trimmed = value.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1) : trimmed;
}

/**
 * Whether the first bytes of a file look like a VMDK text descriptor: after comments and blank
 * lines, a `version=` line, as VMware and qemu write it.
 */
export function looksLikeDescriptor(head: Uint8Array): boolean {
  const text = Buffer.from(head.buffer, head.byteOffset, Math.min(head.length, 4096)).toString("latin1");
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    return /^version\s*=\s*[1-3]$/.test(line);
  }
  return false;
}

/** Parses a descriptor's text; `path` names it in errors. */
export function parseDescriptor(text: string, path: string): VmdkDescriptor {
  if (text.length > MAX_DESCRIPTOR_BYTES) {
    throw new StorageError("STORAGE_CORRUPT", `${path}: the VMDK descriptor is ${text.length} bytes, far larger than any real one`, { path });
  }
  const descriptor: VmdkDescriptor = { createType: undefined, parentCid: undefined, parentFileNameHint: undefined, extents: [] };
  // The embedded descriptor is padded with NULs to whole sectors.
  const end = text.indexOf("\0");
  for (const raw of (end === -1 ? text : text.slice(0, end)).split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const extent = EXTENT_LINE.exec(line);
    if (extent) {
      const [, access, sectors, type, file, offset] = extent;
      if (!EXTENT_TYPES.has(type!)) {
        throw new StorageError("STORAGE_UNSUPPORTED", `${path}: unknown VMDK extent type ${type}`, { path });
      }
      if (type !== "ZERO" && file === undefined) {
        throw new StorageError("STORAGE_CORRUPT", `${path}: the VMDK extent line "${line}" names no file`, { path });
      }
      const parsed: VmdkExtentLine = {
        access: access as VmdkExtentLine["access"],
        sectors: Number(sectors),
        type: type as VmdkExtentType,
        offsetSectors: offset === undefined ? 0 : Number(offset),
      };
      if (file !== undefined) parsed.file = file;
      if (!Number.isSafeInteger(parsed.sectors) || !Number.isSafeInteger(parsed.offsetSectors) || parsed.sectors > Number.MAX_SAFE_INTEGER / 512) {
        throw new StorageError("STORAGE_CORRUPT", `${path}: the VMDK extent line "${line}" has absurd numbers`, { path });
      }
      descriptor.extents.push(parsed);
      if (descriptor.extents.length > MAX_EXTENTS) {
        throw new StorageError("STORAGE_CORRUPT", `${path}: the VMDK descriptor lists more than ${MAX_EXTENTS} extents`, { path });
      }
      continue;
    }
    const pair = KEY_VALUE.exec(line);
    if (!pair) continue; // Unknown lines are ignored, as VMware and qemu do.
    const [, key, value] = pair;
    if (key === "createType") descriptor.createType = unquote(value!);
    else if (key === "parentCID") descriptor.parentCid = unquote(value!);
    else if (key === "parentFileNameHint") descriptor.parentFileNameHint = unquote(value!);
  }
  return descriptor;
}
