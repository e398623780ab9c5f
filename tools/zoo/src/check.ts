// Reading a built guest back with the real tools: what the zoo's tests (and anyone doubting a
// fixture) use to prove an image is what its recipe says.
import { readFileSync } from "node:fs";
import { getPackages, getPackagesSqlite } from "@snyk/rpm-parser";
import type { ZooApplication } from "./expected.js";
import { byNameVersionRelease } from "./nevra.js";
import { run, runText } from "./run.js";

export interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  bootable?: boolean;
}
export interface SfdiskTable {
  label: "dos" | "gpt";
  id: string;
  partitions: SfdiskPartition[];
}

export function readPartitionTable(disk: string): SfdiskTable {
  return (JSON.parse(runText("sfdisk", ["--json", disk])) as { partitiontable: SfdiskTable }).partitiontable;
}

/** The byte range of a partition: to hand to e2fsck/xfs_repair as an image file, cut it out. */
export function extractPartition(disk: string, part: SfdiskPartition, out: string): void {
  run("dd", [`if=${disk}`, `of=${out}`, "bs=512", `skip=${part.start}`, `count=${part.size}`, "conv=sparse", "status=none"]);
}

export interface ApplicationNevra {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
}

function nevraSort(a: ApplicationNevra[]): ApplicationNevra[] {
  return a.sort(byNameVersionRelease);
}

export function nevraOf(apps: ZooApplication[]): ApplicationNevra[] {
  return nevraSort(apps.map(({ name, epoch, version, release, arch }) => ({ name, epoch, version, release, arch })));
}

/** Packages of an rpm database file (BDB Packages or rpmdb.sqlite), read by @snyk/rpm-parser. */
export async function rpmParserPackages(file: string): Promise<ApplicationNevra[]> {
  const data = readFileSync(file);
  const result = file.endsWith(".sqlite") ? await getPackagesSqlite(data) : await getPackages(data);
  if (result.error) throw result.error;
  return nevraSort(result.response.map((p) => ({ name: p.name, epoch: p.epoch ?? 0, version: p.version, release: p.release, arch: p.arch ?? "" })));
}

/** Packages of an rpm database folder, read by the real rpm (bdb_ro reads BDB Packages without libdb). */
export function rpmQueryPackages(dbPath: string, backend: "sqlite" | "bdb_ro"): Array<ApplicationNevra & { summary: string }> {
  const out = runText("rpm", ["-qa", "--dbpath", dbPath, "--define", `_db_backend ${backend}`, "--qf", "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SUMMARY}\\n"]);
  const rows = out.trim().split("\n").filter((l) => l !== "");
  return nevraSort(
    rows.map((l) => {
      const [name = "", epoch = "0", version = "", release = "", arch = "", summary = ""] = l.split("\t");
      return { name, epoch: Number(epoch), version, release, arch, summary };
    }),
  ) as Array<ApplicationNevra & { summary: string }>;
}

/** Attaches `length` bytes of `file` from `offset` to a read-only loop device for the duration of `use`. */
export async function withLoopDevice<T>(file: string, offset: number, length: number, use: (device: string) => Promise<T> | T): Promise<T> {
  const device = runText("losetup", ["--find", "--show", "--read-only", "--offset", String(offset), "--sizelimit", String(length), file]).trim();
  try {
    return await use(device);
  } finally {
    run("losetup", ["--detach", device]);
  }
}

/** A report of the real lvm2 tools (pvs, vgs, lvs) run on one device only, as JSON rows. */
export function lvmReport(tool: "pvs" | "vgs" | "lvs", device: string, fields: string, extra: string[] = []): Array<Record<string, string>> {
  const out = runText(tool, ["--devices", device, "--readonly", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields, ...extra]);
  const report = (JSON.parse(out) as { report: Array<Record<string, Array<Record<string, string>>>> }).report[0] ?? {};
  const rows = Object.values(report)[0];
  return rows ?? [];
}
