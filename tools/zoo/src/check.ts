// Reading a built guest back with the real tools: what the zoo's tests (and anyone doubting a
// fixture) use to prove an image is what its recipe says.
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
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

/** A report of the real lvm2 tools (pvs, vgs, lvs) run on the given devices only, as JSON rows. */
export function lvmReport(tool: "pvs" | "vgs" | "lvs", devices: string[], fields: string, extra: string[] = []): Array<Record<string, string>> {
  const out = runText(tool, ["--devices", devices.join(","), "--readonly", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields, ...extra]);
  const report = (JSON.parse(out) as { report: Array<Record<string, Array<Record<string, string>>>> }).report[0] ?? {};
  const rows = Object.values(report)[0];
  return rows ?? [];
}

/**
 * Copies an LV out of its PVs into one image file, following `lvs --segments -o
 * seg_start_pe,stripe_size,seg_pe_ranges` rows (in LV order): linear and striped segments.
 */
export function assembleLv(segments: Array<Record<string, string>>, extentSize: number, out: string): void {
  const fd = openSync(out, "w");
  try {
    let lvOffset = 0;
    for (const seg of segments) {
      const ranges = (seg.seg_pe_ranges ?? "").split(" ").map((r) => {
        const m = /^(.*):(\d+)-(\d+)$/.exec(r);
        if (!m) throw new Error(`cannot read the PE range '${r}'`);
        return { device: m[1]!, first: Number(m[2]), last: Number(m[3]) };
      });
      const peStart = Number(seg.pe_start);
      const chunk = ranges.length === 1 ? extentSize : Number(seg.stripe_size);
      const segBytes = ranges.reduce((n, r) => n + (r.last - r.first + 1) * extentSize, 0);
      const buf = Buffer.alloc(chunk);
      for (let k = 0; k * chunk < segBytes; k++) {
        const range = ranges[k % ranges.length]!;
        const row = Math.floor(k / ranges.length);
        const src = openSync(range.device, "r");
        try {
          const n = readSync(src, buf, 0, chunk, peStart + range.first * extentSize + row * chunk);
          writeSync(fd, buf, 0, n, lvOffset + k * chunk);
        } finally {
          closeSync(src);
        }
      }
      lvOffset += segBytes;
    }
  } finally {
    closeSync(fd);
  }
}
