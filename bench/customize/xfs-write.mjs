#!/usr/bin/env node
// Writing a tree into XFS: leapp's writer (an empty image made by mkfs.xfs, then the tree written
// through @leapp/inspect's XFS driver, no mount, no root) against mkfs.xfs -p (the tree as a
// protofile at mkfs time, the fastest way xfsprogs has). Whole processes, median of N, ratio.
// Both outputs are checked with xfs_repair -n.
//
//   node bench/customize/xfs-write.mjs [--runs N] [--files N] [--json]
//
// Needs a build (pnpm turbo run build --filter @leapp/inspect) and xfsprogs.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, lstatSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, numberOption } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const runs = numberOption("--runs", 3);
const fileCount = numberOption("--files", 20_000);
const json = args.includes("--json");
if (!existsSync(join(repo, "packages/inspect/dist/index.js"))) {
  console.error("build @leapp/inspect first: pnpm turbo run build --filter @leapp/inspect");
  process.exit(2);
}
const cache = join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "customize-bench");
const tree = join(cache, `tree-${fileCount}`);
const image = join(cache, "bench.img");
const proto = join(cache, `tree-${fileCount}.proto`);
const times = join(cache, "times.txt");

/** 200 directories of files from 0 to 20 KiB (10 KiB on average): 200 MiB for 20,000 files. */
function buildTree() {
  if (existsSync(join(tree, ".complete"))) return;
  rmSync(tree, { recursive: true, force: true });
  let seed = 4242;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const perDir = Math.ceil(fileCount / 200);
  for (let i = 0; i < fileCount; i++) {
    const dir = join(tree, `dir-${Math.floor(i / perDir)}`);
    if (i % perDir === 0) mkdirSync(dir, { recursive: true });
    const size = Math.floor(random() * 20_480);
    const data = Buffer.alloc(size);
    for (let at = 0; at + 4 <= size; at += 4) data.writeUInt32LE((i * 2654435761 + at) >>> 0, at);
    writeFileSync(join(dir, `file-${i}.dat`), data);
  }
  writeFileSync(join(tree, ".complete"), "");
}

/** The tree as an mkfs.xfs protofile (see mkfs.xfs(8)). */
function buildProtofile() {
  const lines = ["/bench", "0 0", "d--755 0 0"];
  const walk = (dir, indent) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === ".complete") continue;
      const path = join(dir, name);
      const st = lstatSync(path);
      const mode = (st.mode & 0o777).toString(8).padStart(3, "0");
      if (st.isDirectory()) {
        lines.push(`${indent}${name} d--${mode} ${st.uid} ${st.gid}`);
        walk(path, `${indent} `);
        lines.push(`${indent}$`);
      } else lines.push(`${indent}${name} ---${mode} ${st.uid} ${st.gid} ${path}`);
    }
  };
  walk(tree, " ");
  lines.push("$", "");
  writeFileSync(proto, lines.join("\n"));
}

const sh = (command, commandArgs) => execFileSync(command, commandArgs, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const fresh = () => {
  rmSync(image, { force: true });
  sh("truncate", ["-s", "1G", image]);
};
/** Runs a command under bash's `time`: wall and CPU (user + system) milliseconds, and its output. */
const timedCommand = (command, commandArgs) => {
  const quoted = [command, ...commandArgs].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const result = spawnSync("bash", ["-c", `TIMEFORMAT='%R %U %S'; { time ${quoted} ; } 2> >(tail -n 1 > "$LEAPP_BENCH_TIMES")`], { encoding: "utf8", env: { ...process.env, LEAPP_BENCH_TIMES: times } });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  const [real, user, system] = readFileSync(times, "utf8").trim().split(/\s+/).map(Number);
  return { ms: real * 1000, cpuMs: (user + system) * 1000, stdout: result.stdout };
};

mkdirSync(cache, { recursive: true });
buildTree();
buildProtofile();
// Drop the host tree into the page cache once, so neither side pays for cold reads.
spawnSync("bash", ["-c", `cat ${tree}/*/* > /dev/null`]);

const results = { leappWrite: [], leappTotal: [], leappCpu: [], mkfsProto: [], mkfsCpu: [], rss: [] };
for (let r = 0; r < runs; r++) {
  fresh();
  const empty = timedCommand("mkfs.xfs", ["-q", "-f", image]);
  const write = timedCommand(process.execPath, [join(here, "xfs-write-child.mjs"), tree, image]);
  const report = JSON.parse(write.stdout.trim().split("\n").pop());
  if (report.files !== fileCount) throw new Error(`the writer wrote ${report.files} files, not ${fileCount}`);
  if (r === 0) sh("xfs_repair", ["-n", "-f", image]);
  results.leappWrite.push(write.ms);
  results.leappTotal.push(empty.ms + write.ms);
  results.leappCpu.push(empty.cpuMs + write.cpuMs);
  results.rss.push(report.maxRssMiB);
  fresh();
  const viaProto = timedCommand("mkfs.xfs", ["-q", "-f", "-p", proto, image]);
  if (r === 0) sh("xfs_repair", ["-n", "-f", image]);
  results.mkfsProto.push(viaProto.ms);
  results.mkfsCpu.push(viaProto.cpuMs);
}
rmSync(image, { force: true });
const summary = {
  files: fileCount,
  runs,
  leappWriteMs: Math.round(median(results.leappWrite)),
  leappWithMkfsMs: Math.round(median(results.leappTotal)),
  mkfsProtofileMs: Math.round(median(results.mkfsProto)),
  ratio: Number((median(results.leappTotal) / median(results.mkfsProto)).toFixed(2)),
  leappCpuMs: Math.round(median(results.leappCpu)),
  mkfsProtofileCpuMs: Math.round(median(results.mkfsCpu)),
  cpuRatio: Number((median(results.leappCpu) / median(results.mkfsCpu)).toFixed(2)),
  leappPeakRssMiB: Math.max(...results.rss),
};
if (json) console.log(JSON.stringify(summary));
else {
  console.log(`${fileCount} files (${Math.round(fileCount / 100)} MiB) into an empty 1 GiB XFS image, median of ${runs} whole-process runs:`);
  console.log(`  leapp writer:            ${summary.leappWriteMs} ms (with mkfs.xfs of the empty image: ${summary.leappWithMkfsMs} ms; CPU ${summary.leappCpuMs} ms), peak RSS ${summary.leappPeakRssMiB} MiB`);
  console.log(`  mkfs.xfs -p protofile:   ${summary.mkfsProtofileMs} ms (CPU ${summary.mkfsProtofileCpuMs} ms)`);
  console.log(`  ratio (leapp / mkfs -p): ${summary.ratio}× wall, ${summary.cpuRatio}× CPU`);
}
