// kmod's binary indexes (modules.dep.bin, modules.alias.bin), which modprobe reads instead of the
// text files: a radix trie of keys, each node holding a prefix, child offsets by next byte and
// values sorted by priority, big-endian, behind magic 0xB007F457 and version 2.1 — the layout
// depmod writes. An initramfs leapp amends needs them to load the modules it adds.
import { GuestOSError } from "../errors.js";

const MAGIC = 0xb007f457;
const VERSION = 0x00020001;
const FLAG_PREFIX = 0x80000000;
const FLAG_VALUES = 0x40000000;
const FLAG_CHILDS = 0x20000000;

interface TrieNode {
  prefix: string;
  children: Map<number, TrieNode>;
  values: { value: string; priority: number }[];
}

const newNode = (prefix: string): TrieNode => ({ prefix, children: new Map(), values: [] });

function checkString(s: string, what: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c >= 128) throw new GuestOSError("GUESTOS_BAD_INPUT", `module index ${what} '${s.slice(0, 80)}' holds a byte kmod's index cannot store`);
  }
}

function insert(root: TrieNode, key: string, value: string, priority: number): void {
  checkString(key, "key");
  checkString(value, "value");
  let node = root;
  let i = 0;
  for (;;) {
    let j = 0;
    for (; j < node.prefix.length; j++) {
      if (node.prefix[j] !== key[i + j]) {
        // Split: the node keeps prefix[0..j); a child at prefix[j] takes the rest and the contents.
        const rest: TrieNode = { prefix: node.prefix.slice(j + 1), children: node.children, values: node.values };
        const ch = node.prefix.charCodeAt(j);
        node.prefix = node.prefix.slice(0, j);
        node.children = new Map([[ch, rest]]);
        node.values = [];
        break;
      }
    }
    i += j;
    if (i === key.length) {
      // Before any value of equal or higher priority, as kmod inserts.
      const at = node.values.findIndex((v) => v.priority >= priority);
      node.values.splice(at < 0 ? node.values.length : at, 0, { value, priority });
      return;
    }
    const ch = key.charCodeAt(i);
    const next = node.children.get(ch);
    if (!next) {
      const leaf = newNode(key.slice(i + 1));
      leaf.values.push({ value, priority });
      node.children.set(ch, leaf);
      return;
    }
    node = next;
    i++;
  }
}

/** Serializes the trie children first, as depmod does, so every offset points backwards. */
function serialize(root: TrieNode): Uint8Array {
  // One growing buffer: indexes of thousands of aliases are too many nodes for a buffer each.
  let out = Buffer.allocUnsafe(64 * 1024);
  let length = 12;
  const reserve = (n: number) => {
    if (length + n <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * out.length, length + n));
    out.copy(bigger, 0, 0, length);
    out = bigger;
  };
  const string = (s: string) => {
    reserve(s.length + 1);
    length += out.write(s, length, "latin1");
    out[length++] = 0;
  };
  const u32 = (v: number) => {
    reserve(4);
    length = out.writeUInt32BE(v >>> 0, length);
  };
  const write = (node: TrieNode): number => {
    const keys = [...node.children.keys()].sort((a, b) => a - b);
    const first = keys[0] ?? 0;
    const last = keys[keys.length - 1] ?? 0;
    const childOffsets: number[] = [];
    if (keys.length > 0) for (let c = first; c <= last; c++) childOffsets.push(node.children.has(c) ? write(node.children.get(c) as TrieNode) : 0);
    let offset = length;
    if (node.prefix !== "") {
      string(node.prefix);
      offset |= FLAG_PREFIX;
    }
    if (keys.length > 0) {
      reserve(2);
      out[length++] = first;
      out[length++] = last;
      for (const o of childOffsets) u32(o);
      offset |= FLAG_CHILDS;
    }
    if (node.values.length > 0) {
      u32(node.values.length);
      for (const v of node.values) {
        u32(v.priority);
        string(v.value);
      }
      offset |= FLAG_VALUES;
    }
    if (length > 0x0fffffff) throw new GuestOSError("GUESTOS_BAD_INPUT", "module index larger than kmod's 256 MiB offsets allow");
    return offset >>> 0;
  };
  const rootOffset = write(root);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(VERSION, 4);
  out.writeUInt32BE(rootOffset, 8);
  return out.subarray(0, length);
}

/** A kmod index of `entries` (key, value, priority), in the order given. */
export function writeKmodIndex(entries: Iterable<{ key: string; value: string; priority: number }>): Uint8Array {
  const root = newNode("");
  for (const e of entries) insert(root, e.key, e.value, e.priority);
  return serialize(root);
}

/** Reads every key → values of a kmod index back (for checks, and to read a guest's own). */
export function readKmodIndex(buf: Uint8Array): Map<string, { value: string; priority: number }[]> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 12 || view.getUint32(0) !== MAGIC) throw new GuestOSError("GUESTOS_CORRUPT", "not a kmod index (bad magic)");
  if (view.getUint32(4) >>> 16 !== 2) throw new GuestOSError("GUESTOS_CORRUPT", `kmod index version ${view.getUint32(4).toString(16)} is not 2.x`);
  const out = new Map<string, { value: string; priority: number }[]>();
  const cstring = (at: number): [string, number] => {
    const end = buf.indexOf(0, at);
    if (end < 0) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index string runs past the end");
    return [Buffer.from(buf.subarray(at, end)).toString("latin1"), end + 1];
  };
  let visited = 0;
  const walk = (offset: number, key: string, depth: number): void => {
    if (++visited > 10_000_000 || depth > 4096) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index is too deep or loops");
    let p = offset & 0x0fffffff;
    if (p < 12 || p > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", `kmod index node offset ${p} is outside the file`);
    if (offset & FLAG_PREFIX) {
      const [prefix, next] = cstring(p);
      key += prefix;
      p = next;
    }
    const children: [number, number][] = [];
    if (offset & FLAG_CHILDS) {
      if (p + 2 > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index node is cut short");
      const first = buf[p] as number;
      const last = buf[p + 1] as number;
      if (last < first || p + 2 + 4 * (last - first + 1) > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index child table is cut short");
      for (let c = first; c <= last; c++) {
        const o = view.getUint32(p + 2 + 4 * (c - first));
        // Offsets point backwards (children are written first): anything else would loop.
        if (o !== 0 && (o & 0x0fffffff) >= (offset & 0x0fffffff)) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index child offset does not point backwards");
        if (o !== 0) children.push([c, o]);
      }
      p += 2 + 4 * (last - first + 1);
    }
    if (offset & FLAG_VALUES) {
      if (p + 4 > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index values are cut short");
      const count = view.getUint32(p);
      p += 4;
      const values: { value: string; priority: number }[] = [];
      for (let i = 0; i < count; i++) {
        if (p + 4 > buf.length) throw new GuestOSError("GUESTOS_CORRUPT", "kmod index values are cut short");
        const priority = view.getUint32(p);
        const [value, next] = cstring(p + 4);
        values.push({ value, priority });
        p = next;
      }
      out.set(key, values);
    }
    for (const [c, o] of children) walk(o, key + String.fromCharCode(c), depth + 1);
  };
  walk(view.getUint32(8), "", 0);
  return out;
}
