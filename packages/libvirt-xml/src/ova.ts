import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, realpath } from "node:fs/promises";
import { basename, join, posix, relative, sep } from "node:path";
import { LibvirtXmlError } from "./errors.js";
import type { GuestSource } from "./guest-source.js";
import { parseOvf, type OvfDescriptor } from "./ovf.js";

/**
 * OVA: an OVF descriptor, an optional `.mf` manifest of checksums and the disk images, in a tar
 * (files at the top or in one subfolder), or the same files unpacked in a directory. Disks are
 * streamed through the hashes, never held in memory; only the descriptor and manifest are read.
 */

export const OVA_LIMITS = {
  /** Largest .ovf or .mf accepted. */
  maxDescriptorBytes: 16 * 1024 * 1024,
  /** Most entries in the archive. */
  maxEntries: 10_000,
} as const;

export interface OvaEntry {
  /** Path inside the archive (or relative to the directory), `/`-separated. */
  name: string;
  size: number;
  /** Where the entry's data starts in the tar (undefined for a directory): a reader can open it in place. */
  offset: number | undefined;
  /** The entry starts with the gzip magic bytes. */
  gzip: boolean;
}

export interface OvaDisk {
  /** The disk's entry, as the OVF references it (relative to the OVA root). */
  entry: string;
  size: number;
  /** Where the disk's data starts in the tar, undefined for a directory. */
  offset: number | undefined;
  /** `gzip` when the OVF says the file is compressed. */
  compression: string | undefined;
  capacityBytes: number | undefined;
}

export interface OvaSource {
  source: GuestSource;
  /** The descriptor's entry name. */
  ovf: string;
  /** The manifest's entry name, when there is one. */
  manifest: string | undefined;
  /** How many manifest checksums were checked (all matched, or reading failed). */
  checksumsVerified: number;
  /** The source's disks, in order, as entries of the archive. */
  disks: OvaDisk[];
  entries: OvaEntry[];
}

type Algorithm = "sha1" | "sha256" | "sha512";
const algorithms: Algorithm[] = ["sha1", "sha256", "sha512"];

interface Collected {
  entries: Map<string, OvaEntry & { digests: Partial<Record<Algorithm, string>> }>;
  texts: Map<string, string>;
  /**
   * Once a manifest has been read: which digests each later entry needs. Exporters put the
   * manifest before the disks, so multi-gigabyte disks are hashed once, with the listed algorithm.
   */
  wanted?: Map<string, Set<Algorithm>>;
}

/** Reads an .ova tar file: finds the .ovf, verifies the manifest, checks every disk is there. */
export async function readOva(path: string): Promise<OvaSource> {
  const collected = await collectTar(path);
  return finish(collected, (entry) => entry);
}

/** Reads an unpacked OVA: a directory holding the .ovf, the .mf and the disks. */
export async function readOvaDirectory(dir: string): Promise<OvaSource> {
  const root = await realpath(dir);
  const collected: Collected = { entries: new Map(), texts: new Map() };
  const names = await listFiles(root, "", 0);
  for (const name of names) {
    const full = join(root, ...name.split("/"));
    // A symlink that leads out of the directory would make the "OVA" read host files.
    const real = await realpath(full);
    if (relative(root, real).startsWith("..") || relative(root, real).startsWith(sep)) {
      throw new LibvirtXmlError("LIBVIRT_XML_PATH_ESCAPE", `${name} in the OVA directory is a link to ${real}, outside it; refusing to read it`);
    }
    await addEntry(collected, name, (await lstat(real)).size, createReadStream(real), undefined);
  }
  return finish(collected, (entry) => join(root, ...entry.split("/")));
}

async function listFiles(root: string, prefix: string, depth: number): Promise<string[]> {
  if (depth > 2) return [];
  const out: string[] = [];
  for (const dirent of await readdir(join(root, prefix), { withFileTypes: true })) {
    const name = prefix === "" ? dirent.name : `${prefix}/${dirent.name}`;
    if (dirent.isDirectory()) out.push(...(await listFiles(root, name, depth + 1)));
    else if (dirent.isFile() || dirent.isSymbolicLink()) out.push(name);
    if (out.length > OVA_LIMITS.maxEntries) throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `the OVA directory holds more than ${OVA_LIMITS.maxEntries} files`);
  }
  return out.sort();
}

async function collectTar(path: string): Promise<Collected> {
  const collected: Collected = { entries: new Map(), texts: new Map() };
  // tar-stream is loaded only when an OVA file is read.
  const { extract } = await import("tar-stream");
  const tar = extract();
  const input = createReadStream(path);
  input.on("error", (err) => tar.destroy(err));
  input.pipe(tar);
  let count = 0;
  try {
    for await (const entry of tar) {
      const header = entry.header;
      if (++count > OVA_LIMITS.maxEntries) throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `the OVA has more than ${OVA_LIMITS.maxEntries} entries; it is not a VM export`);
      const name = confineEntryName(header.name);
      if (header.type === "symlink" || header.type === "link") {
        confineEntryName(header.linkname ?? "", posix.dirname(name), header.name);
        entry.resume();
        continue;
      }
      if (header.type !== "file" && header.type !== "contiguous-file") {
        entry.resume();
        continue;
      }
      if (name === "") {
        entry.resume();
        continue;
      }
      // The data follows the entry's 512-byte header.
      await addEntry(collected, name, header.size ?? 0, entry as AsyncIterable<Buffer>, entry.offset + 512);
    }
  } catch (err) {
    input.destroy();
    if (err instanceof LibvirtXmlError) throw err;
    if ((err as { code?: unknown }).code === "ENOENT" || (err as { code?: unknown }).code === "EACCES") throw err;
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `${basename(path)} is not a readable tar archive (${(err as Error).message}); an OVA must be a tar file`, { cause: err });
  }
  return collected;
}

/**
 * Entry names are relative paths inside the archive. Absolute names and `..` components would
 * point a consumer unpacking the OVA outside its target directory: refused, whatever they are for.
 */
function confineEntryName(raw: string, base = "", linkOf?: string): string {
  const name = raw.replace(/\\/g, "/");
  const joined = base === "" || base === "." || name.startsWith("/") ? name : `${base}/${name}`;
  const parts = joined.split("/");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name) || parts.includes("..") || name.includes("\0")) {
    const what = linkOf === undefined ? `an entry ${JSON.stringify(raw.slice(0, 200))}` : `${JSON.stringify(linkOf.slice(0, 200))}, a link to ${JSON.stringify(raw.slice(0, 200))},`;
    throw new LibvirtXmlError("LIBVIRT_XML_PATH_ESCAPE", `the OVA holds ${what} that points outside the archive; refusing to read it`);
  }
  return parts.filter((p) => p !== "" && p !== ".").join("/");
}

async function addEntry(collected: Collected, name: string, size: number, stream: AsyncIterable<Buffer | Uint8Array>, offset: number | undefined): Promise<void> {
  const lower = name.toLowerCase();
  const isText = lower.endsWith(".ovf") || lower.endsWith(".mf");
  if (isText && size > OVA_LIMITS.maxDescriptorBytes) {
    throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `${name} is ${size} bytes; an OVF descriptor or manifest is never that large`);
  }
  const needed = isText || collected.wanted === undefined ? algorithms : [...(collected.wanted.get(name) ?? [])];
  const hashes = needed.map((a) => [a, createHash(a)] as [Algorithm, Hash]);
  const kept: Buffer[] = [];
  let head = Buffer.alloc(0);
  let seen = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    seen += buf.length;
    if (head.length < 2) head = Buffer.concat([head, buf.subarray(0, 2 - head.length)]);
    for (const [, h] of hashes) h.update(buf);
    if (isText) {
      if (seen > OVA_LIMITS.maxDescriptorBytes) throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `${name} is larger than an OVF descriptor or manifest ever is`);
      kept.push(buf);
    }
  }
  if (collected.entries.has(name)) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVA holds ${name} twice; which copy is meant is ambiguous`);
  collected.entries.set(name, {
    name,
    size: seen,
    offset,
    gzip: head[0] === 0x1f && head[1] === 0x8b,
    digests: Object.fromEntries(hashes.map(([a, h]) => [a, h.digest("hex")])),
  });
  if (!isText) return;
  const text = Buffer.concat(kept).toString("utf8");
  collected.texts.set(name, text);
  if (lower.endsWith(".mf")) {
    collected.wanted ??= new Map();
    for (const line of manifestLines(name, text)) {
      const set = collected.wanted.get(line.entry) ?? new Set<Algorithm>();
      set.add(line.algorithm);
      collected.wanted.set(line.entry, set);
    }
  }
}

function finish(collected: Collected, diskPath: (entry: string) => string): OvaSource {
  const ovfs = [...collected.texts.keys()].filter((n) => n.toLowerCase().endsWith(".ovf"));
  if (ovfs.length === 0) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", "the OVA holds no .ovf descriptor; it is not a VM export (or was packed without it)");
  if (ovfs.length > 1) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVA holds ${ovfs.length} .ovf descriptors (${ovfs.slice(0, 4).join(", ")}); export one VM per OVA`);
  const ovfName = ovfs[0]!;
  const folder = posix.dirname(ovfName) === "." ? "" : posix.dirname(ovfName);
  const inFolder = (href: string) => (folder === "" ? href : `${folder}/${href}`);

  const manifests = [...collected.texts.keys()].filter((n) => n.toLowerCase().endsWith(".mf"));
  const manifest = manifests.find((m) => posix.dirname(m) === posix.dirname(ovfName)) ?? manifests[0];
  let checksumsVerified = 0;
  if (manifest !== undefined) checksumsVerified = verifyManifest(manifest, collected.texts.get(manifest)!, collected);

  const descriptor: OvfDescriptor = parseOvf(collected.texts.get(ovfName)!);
  const disks: OvaDisk[] = [];
  descriptor.source.disks.forEach((disk, i) => {
    const file = descriptor.diskFiles[i];
    if (!file) return;
    const entryName = inFolder(file.href);
    const entry = collected.entries.get(entryName);
    if (!entry) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF references ${file.href}, which is not in the OVA; the archive is incomplete`);
    if (file.compression !== undefined && file.compression !== "identity") {
      if (file.compression !== "gzip") throw new LibvirtXmlError("LIBVIRT_XML_UNSUPPORTED", `${file.href} is compressed with ${file.compression}; only gzip is supported`);
      if (!entry.gzip) throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `the OVF says ${file.href} is gzip-compressed, but it does not start with the gzip header`);
    }
    disk.path = diskPath(entryName);
    disks.push({ entry: entryName, size: entry.size, offset: entry.offset, compression: file.compression ?? (entry.gzip ? "gzip" : undefined), capacityBytes: descriptor.diskCapacities[i] });
  });
  return {
    source: descriptor.source,
    ovf: ovfName,
    manifest,
    checksumsVerified,
    disks,
    entries: [...collected.entries.values()].map(({ name, size, offset, gzip }) => ({ name, size, offset, gzip })),
  };
}

/**
 * `.mf` lines are `SHA1(file)= hex` (also SHA256, SHA512; spaces around `=` vary by exporter).
 * Every listed file must be in the archive with that digest; lines in other shapes are ignored,
 * as virt-v2v and ovftool do.
 */
function verifyManifest(manifestName: string, text: string, collected: Collected): number {
  let verified = 0;
  for (const line of manifestLines(manifestName, text)) {
    const entry = collected.entries.get(line.entry);
    if (!entry) throw new LibvirtXmlError("LIBVIRT_XML_CHECKSUM", `the manifest ${manifestName} lists ${line.listed}, which is not in the OVA; the archive is incomplete or was repacked`);
    const digest = entry.digests[line.algorithm];
    if (digest === undefined) {
      throw new LibvirtXmlError("LIBVIRT_XML_CHECKSUM", `${line.entry} is listed by a second manifest with another algorithm; keep one manifest per OVA`);
    }
    if (digest !== line.hex) {
      throw new LibvirtXmlError(
        "LIBVIRT_XML_CHECKSUM",
        `${line.entry} does not match its ${line.algorithm.toUpperCase()} checksum in ${manifestName}; the OVA is corrupt or was modified — download or export it again`,
      );
    }
    verified++;
  }
  return verified;
}

interface ManifestLine {
  algorithm: Algorithm;
  /** The name as the manifest writes it, and the entry it means (relative to the manifest). */
  listed: string;
  entry: string;
  hex: string;
}

function manifestLines(manifestName: string, text: string): ManifestLine[] {
  const folder = posix.dirname(manifestName) === "." ? "" : posix.dirname(manifestName);
  const lines: ManifestLine[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(SHA1|SHA256|SHA512)\s*\((.{1,4096})\)\s*=\s*([0-9a-fA-F]+)\s*$/.exec(line);
    if (!m) continue;
    lines.push({ algorithm: m[1]!.toLowerCase() as Algorithm, listed: m[2]!, entry: confineEntryName(m[2]!, folder), hex: m[3]!.toLowerCase() });
  }
  return lines;
}
