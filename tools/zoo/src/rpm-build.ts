// Real RPM packages for the zoo, made by rpmbuild from generated spec files (one rpmbuild run for
// the whole catalog, cached), and their installed headers, taken from a real rpm database.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cached, recipeHash } from "./cache.js";
import { ZooError } from "./errors.js";
import { run } from "./run.js";

/** One package to build: the NEVRA and summary an rpm database will hold for it. */
export interface RpmPackageSpec {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: "x86_64" | "noarch";
  summary: string;
  license: string;
  /** Guest paths the package owns (placeholder content); the guest tree holds the same paths. */
  files?: string[];
}

export function nevra(p: RpmPackageSpec): string {
  return `${p.name}-${p.epoch > 0 ? `${p.epoch}:` : ""}${p.version}-${p.release}.${p.arch}`;
}

export function rpmFileName(p: RpmPackageSpec): string {
  return `${p.name}-${p.version}-${p.release}.${p.arch}.rpm`;
}

const safeField = /^[A-Za-z0-9._+~:/ (),'-]+$/;

function specText(p: RpmPackageSpec): string {
  for (const value of [p.name, p.version, p.release, p.summary, p.license, ...(p.files ?? [])]) {
    // The catalog is ours, but a stray % or newline would silently change what rpmbuild makes.
    if (!safeField.test(value)) throw new ZooError("ZOO_BAD_INPUT", `rpm catalog: '${value}' has characters a spec file cannot hold as-is`);
  }
  const files = p.files ?? [];
  const install = files.map((f) => `mkdir -p "%{buildroot}$(dirname '${f}')"\necho 'placeholder for ${f}' > "%{buildroot}${f}"`);
  return [
    `Name: ${p.name}`,
    ...(p.epoch > 0 ? [`Epoch: ${p.epoch}`] : []),
    `Version: ${p.version}`,
    `Release: ${p.release}`,
    `Summary: ${p.summary}`,
    `License: ${p.license}`,
    ...(p.arch === "noarch" ? ["BuildArch: noarch"] : []),
    "",
    "%description",
    `${p.summary}.`,
    "",
    "%install",
    ...install,
    "",
    "%files",
    ...files,
    "",
  ].join("\n");
}

/**
 * Builds every package of the catalog with one rpmbuild run; returns the folder holding the
 * .rpm files (named by rpmFileName). Cached by the zoo's recipe hash.
 */
export async function buildRpms(catalog: RpmPackageSpec[]): Promise<string> {
  const key = `rpms-${recipeHash()}`;
  return cached(key, (dir) => {
    const top = join(dir, "top");
    const specs = join(dir, "specs");
    mkdirSync(specs, { recursive: true });
    const specFiles = catalog.map((p, i) => {
      const file = join(specs, `${String(i).padStart(3, "0")}-${p.name}.spec`);
      writeFileSync(file, specText(p));
      return file;
    });
    const defines = {
      _topdir: top,
      _rpmdir: dir,
      _build_name_fmt: "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
      _buildhost: "buildhost.example.com",
      // The payload compression CentOS used; nothing here needs debuginfo or the brp scripts.
      _binary_payload: "w9.gzdio",
      debug_package: "%{nil}",
      __os_install_post: "%{nil}",
      use_source_date_epoch_as_buildtime: "1",
    };
    const args = ["--quiet", "-bb", "--target", "x86_64"];
    for (const [k, v] of Object.entries(defines)) args.push("--define", `${k} ${v}`);
    run("rpmbuild", [...args, ...specFiles], { env: { SOURCE_DATE_EPOCH: "1552387267" } });
    rmSync(top, { recursive: true, force: true });
    const made = new Set(readdirSync(dir));
    for (const p of catalog) {
      if (!made.has(rpmFileName(p))) throw new ZooError("ZOO_TOOL_FAILED", `rpmbuild did not make ${rpmFileName(p)}`);
    }
  });
}

/**
 * Installs the packages' headers (rpm -i --justdb --nodeps, no files, no scripts) into a new
 * sqlite rpm database at `dbPath`, with the real rpm — the way an el9 guest's rpmdb.sqlite is made.
 */
export function installIntoSqliteDb(dbPath: string, rpmFiles: string[]): void {
  mkdirSync(dbPath, { recursive: true });
  const common = ["--dbpath", dbPath, "--define", "_db_backend sqlite"];
  run("rpm", ["--initdb", ...common]);
  run("rpm", ["-i", "--justdb", "--nodeps", "--noscripts", "--notriggers", "--ignorearch", "--ignoreos", "--force-debian", ...common, ...rpmFiles]);
}

const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);

/**
 * Splits a stream of headers, each with its 8-byte magic (what `rpmdb --exportdb` writes), into
 * header blobs without the magic — the form rpm's BDB `Packages` values take. Bounded: a stream
 * that lies about a length is refused, never over-read.
 */
export function splitHeaderStream(stream: Buffer): Buffer[] {
  const headers: Buffer[] = [];
  let at = 0;
  while (at < stream.length) {
    if (at + 16 > stream.length || !stream.subarray(at, at + 8).equals(HEADER_MAGIC)) {
      throw new ZooError("ZOO_TOOL_FAILED", `rpm header stream: no header magic at byte ${at}`);
    }
    const indexCount = stream.readUInt32BE(at + 8);
    const dataLength = stream.readUInt32BE(at + 12);
    const end = at + 16 + indexCount * 16 + dataLength;
    if (indexCount > 100_000 || dataLength > 64 * 1024 * 1024 || end > stream.length) {
      throw new ZooError("ZOO_TOOL_FAILED", `rpm header stream: the header at byte ${at} runs past the end`);
    }
    headers.push(Buffer.from(stream.subarray(at + 8, end)));
    at = end;
  }
  return headers;
}

/** The installed headers of a database, in install order. */
export function exportHeaders(dbPath: string): Buffer[] {
  return splitHeaderStream(run("rpmdb", ["--exportdb", "--dbpath", dbPath]));
}
