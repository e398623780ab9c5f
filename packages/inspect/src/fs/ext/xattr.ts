// ext2/3/4 extended attributes: the entries stored in the inode body (after i_extra_isize) and in
// one attribute block (i_file_acl, shared between inodes by reference count), their names'
// namespace indexes, hashes and value layout, and POSIX ACLs in ext4's compact on-disk form.
import { InspectError } from "../../errors.js";
import { corrupt, view } from "../../block/volumes-io.js";

export const XATTR_MAGIC = 0xea020000;
/** Header of an attribute block; entries follow it. */
export const XATTR_BLOCK_HEADER = 32;
const ENTRY_HEADER = 16;
const INDEX_ACL_ACCESS = 2;
const INDEX_ACL_DEFAULT = 3;
export const INDEX_SYSTEM = 7;

/** One attribute as stored: namespace index, the name after its prefix, and the raw value. */
export interface XattrEntry {
  index: number;
  name: Uint8Array;
  value: Uint8Array;
}

const PREFIXES: ReadonlyArray<[number, string]> = [
  [INDEX_ACL_ACCESS, "system.posix_acl_access"],
  [INDEX_ACL_DEFAULT, "system.posix_acl_default"],
  [8, "system.richacl"],
  [1, "user."],
  [4, "trusted."],
  [6, "security."],
  [INDEX_SYSTEM, "system."],
];
/** Indexes whose attribute has no name of its own (the prefix is the whole name). */
const WHOLE_NAMES = new Set([INDEX_ACL_ACCESS, INDEX_ACL_DEFAULT, 8]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const entrySize = (nameLength: number): number => (ENTRY_HEADER + nameLength + 3) & ~3;
export const valueSize = (length: number): number => (length + 3) & ~3;

/** The full name ("user.foo") of an entry; undefined for an index leapp does not know. */
export function fullName(entry: XattrEntry): string | undefined {
  const prefix = PREFIXES.find(([index]) => index === entry.index)?.[1];
  if (prefix === undefined) return undefined;
  return WHOLE_NAMES.has(entry.index) ? prefix : prefix + decoder.decode(entry.name);
}

/** Whether this is the inline-data attribute (system.data), which is file content, not an xattr. */
export function isInlineData(entry: XattrEntry): boolean {
  return entry.index === INDEX_SYSTEM && entry.name.length === 4 && decoder.decode(entry.name) === "data";
}

/** Splits a full attribute name into its stored index and name, refusing names ext cannot hold. */
export function splitName(name: string, path: string): { index: number; name: Uint8Array } {
  for (const [index, prefix] of PREFIXES) {
    if (WHOLE_NAMES.has(index) ? name !== prefix : !name.startsWith(prefix)) continue;
    if (index === 8) break;
    if (index === INDEX_SYSTEM) {
      throw new InspectError("INSPECT_UNSUPPORTED", `${path}: ${name} is not an attribute ext lets anyone set (of system.*, only system.posix_acl_access and system.posix_acl_default)`, { path });
    }
    const rest = WHOLE_NAMES.has(index) ? new Uint8Array(0) : encoder.encode(name.slice(prefix.length));
    if (!WHOLE_NAMES.has(index) && rest.length === 0) throw new InspectError("INSPECT_INVALID_NAME", `${path}: the attribute name ${name} is only a prefix`, { path });
    if (rest.length > 255 || rest.includes(0)) throw new InspectError("INSPECT_INVALID_NAME", `${path}: the attribute name ${name} is longer than 255 bytes or holds a NUL`, { path });
    return { index, name: rest };
  }
  throw new InspectError("INSPECT_UNSUPPORTED", `${path}: ext stores only user., trusted., security. and system.posix_acl_* attributes, not ${name}`, { path });
}

const sameName = (a: XattrEntry, b: { index: number; name: Uint8Array }) => a.index === b.index && a.name.length === b.name.length && a.name.every((c, i) => c === b.name[i]);
export const findEntry = (entries: readonly XattrEntry[], key: { index: number; name: Uint8Array }): number => entries.findIndex((e) => sameName(e, key));

/** The hash of one entry, as ext4 keeps it (e_hash). */
export function entryHash(entry: XattrEntry): number {
  let hash = 0;
  for (const c of entry.name) hash = ((hash << 5) ^ (hash >>> 27) ^ c) >>> 0;
  const padded = new Uint8Array(valueSize(entry.value.length));
  padded.set(entry.value);
  const dv = view(padded);
  for (let at = 0; at < padded.length; at += 4) hash = ((hash << 16) ^ (hash >>> 16) ^ dv.getUint32(at, true)) >>> 0;
  return hash;
}

/**
 * Parses the entries of a region: `entries` is where the first entry starts, `valueBase` what
 * value offsets count from, `end` the region's end. Every offset and size is checked against it.
 */
export function parseEntries(region: Uint8Array, entries: number, valueBase: number, end: number, what: string): XattrEntry[] {
  const dv = view(region);
  const out: XattrEntry[] = [];
  let at = entries;
  while (at + 4 <= end && dv.getUint32(at, true) !== 0) {
    if (at + ENTRY_HEADER > end) throw corrupt(`${what}: an attribute entry runs past its end`);
    const nameLength = region[at]!;
    const index = region[at + 1]!;
    const valueOffset = dv.getUint16(at + 2, true);
    const valueInode = dv.getUint32(at + 4, true);
    const size = dv.getUint32(at + 8, true);
    if (at + entrySize(nameLength) > end) throw corrupt(`${what}: an attribute name runs past its end`);
    if (valueInode !== 0) throw new InspectError("INSPECT_UNSUPPORTED", `${what}: an attribute value stored in its own inode (ea_inode) is not supported`);
    if (valueBase + valueOffset + size > end) throw corrupt(`${what}: an attribute value runs past its end`);
    out.push({ index, name: region.slice(at + ENTRY_HEADER, at + ENTRY_HEADER + nameLength), value: region.slice(valueBase + valueOffset, valueBase + valueOffset + size) });
    at += entrySize(nameLength);
  }
  return out;
}

/** Bytes the entries take in a region: entry headers and names, the 4-byte end mark, padded values. */
export function spaceNeeded(entries: readonly XattrEntry[]): number {
  let total = 4;
  for (const e of entries) total += entrySize(e.name.length) + valueSize(e.value.length);
  return total;
}

/**
 * Lays entries out in a region (zeroed first): entries from `entries` on, values packed down from
 * `end`, offsets counted from `valueBase`. `hashes` fills e_hash (attribute blocks need it).
 */
export function writeEntries(region: Uint8Array, entries: number, valueBase: number, end: number, list: readonly XattrEntry[], hashes: boolean): void {
  region.fill(0, entries, end);
  const dv = view(region);
  let at = entries;
  let valueAt = end;
  for (const e of list) {
    valueAt -= valueSize(e.value.length);
    region[at] = e.name.length;
    region[at + 1] = e.index;
    dv.setUint16(at + 2, e.value.length === 0 ? 0 : valueAt - valueBase, true);
    dv.setUint32(at + 4, 0, true);
    dv.setUint32(at + 8, e.value.length, true);
    dv.setUint32(at + 12, hashes ? entryHash(e) : 0, true);
    region.set(e.name, at + ENTRY_HEADER);
    region.set(e.value, valueAt);
    at += entrySize(e.name.length);
  }
  if (at + 4 > valueAt) throw new Error("writeEntries: the attributes do not fit their region");
}

/** Sorts entries as ext4 keeps them in a block: by index, name length, name. */
export function sortForBlock(entries: XattrEntry[]): XattrEntry[] {
  return entries.sort((a, b) => a.index - b.index || a.name.length - b.name.length || compareBytes(a.name, b.name));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** The block's h_hash: a mix of its entries' hashes (0 when any entry has none). */
export function blockHash(block: Uint8Array): number {
  const dv = view(block);
  let hash = 0;
  for (let at = XATTR_BLOCK_HEADER; at + ENTRY_HEADER <= block.length && dv.getUint32(at, true) !== 0; at += entrySize(block[at]!)) {
    const entry = dv.getUint32(at + 12, true);
    if (entry === 0) return 0;
    hash = ((hash << 16) ^ (hash >>> 16) ^ entry) >>> 0;
  }
  return hash;
}

// POSIX ACLs: the kernel's getxattr form (version 2, 8-byte entries) and ext4's on-disk form
// (version 1; 4-byte entries for the owner, group, mask and other, 8-byte ones for named users and groups).
const ACL_USER = 0x02;
const ACL_GROUP = 0x08;
const ACL_XATTR_VERSION = 2;
const ACL_EXT4_VERSION = 1;
const UNDEFINED_ID = 0xffffffff;

export const isAcl = (index: number) => index === INDEX_ACL_ACCESS || index === INDEX_ACL_DEFAULT;

/** ext4's stored ACL → the value getxattr returns. */
export function aclFromDisk(value: Uint8Array, what: string): Uint8Array {
  const dv = view(value);
  if (value.length < 4 || dv.getUint32(0, true) !== ACL_EXT4_VERSION) throw corrupt(`${what}: a POSIX ACL with a bad header`);
  const entries: Array<[number, number, number]> = [];
  for (let at = 4; at < value.length; ) {
    if (at + 4 > value.length) throw corrupt(`${what}: a POSIX ACL entry runs past its end`);
    const tag = dv.getUint16(at, true);
    const perm = dv.getUint16(at + 2, true);
    if (tag === ACL_USER || tag === ACL_GROUP) {
      if (at + 8 > value.length) throw corrupt(`${what}: a POSIX ACL entry runs past its end`);
      entries.push([tag, perm, dv.getUint32(at + 4, true)]);
      at += 8;
    } else {
      entries.push([tag, perm, UNDEFINED_ID]);
      at += 4;
    }
  }
  const out = new Uint8Array(4 + entries.length * 8);
  const ov = view(out);
  ov.setUint32(0, ACL_XATTR_VERSION, true);
  entries.forEach(([tag, perm, id], i) => {
    ov.setUint16(4 + i * 8, tag, true);
    ov.setUint16(6 + i * 8, perm, true);
    ov.setUint32(8 + i * 8, id, true);
  });
  return out;
}

/** A getxattr-form ACL → ext4's stored form. */
export function aclToDisk(value: Uint8Array, path: string): Uint8Array {
  const dv = view(value);
  if (value.length < 4 || (value.length - 4) % 8 !== 0 || dv.getUint32(0, true) !== ACL_XATTR_VERSION) {
    throw new InspectError("INSPECT_INVALID", `${path}: a POSIX ACL value must be in the kernel's xattr form (version 2, 8-byte entries)`, { path });
  }
  const parts: number[] = [];
  const out: Uint8Array[] = [];
  const header = new Uint8Array(4);
  view(header).setUint32(0, ACL_EXT4_VERSION, true);
  out.push(header);
  for (let at = 4; at < value.length; at += 8) {
    const tag = dv.getUint16(at, true);
    const long = tag === ACL_USER || tag === ACL_GROUP;
    const entry = new Uint8Array(long ? 8 : 4);
    view(entry).setUint16(0, tag, true);
    view(entry).setUint16(2, dv.getUint16(at + 2, true), true);
    if (long) view(entry).setUint32(4, dv.getUint32(at + 4, true), true);
    out.push(entry);
    parts.push(entry.length);
  }
  const joined = new Uint8Array(out.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of out) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}
