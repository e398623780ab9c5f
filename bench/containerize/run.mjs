#!/usr/bin/env node
// `leapp containerize` against the LeApp prototype's path, and our tar writer against GNU tar,
// side by side in one run, on the debian-12 zoo guest (debootstrap: systemd, apache2, sshd):
//
//   1. the prototype: virt-tar-out -a IMG / - | podman import -   (libguestfs appliance under TCG,
//      LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg, as on this machine)
//      against: leapp containerize IMG -o X.tar && podman load -i X.tar
//   2. the tar writer alone on the guest's root tree (a directory source), archive piped to
//      `cat > /dev/null` (GNU tar skips reading files when it writes to /dev/null itself):
//      tar -C root -cf - .   against our writer and against tar-stream fed by the same walk;
//      then with compression: tar | zstd -3 against our writer's zstd layers (and gzip likewise).
//      The Node floor (node-floor.mjs: the same reads with fs.promises, no tar) shows what any
//      writer on Node's asynchronous file system calls pays before writing a header.
//
// Wall times are medians of --runs N (default 3; the prototype runs --proto-runs, default 1),
// runs interleaved; peak RSS of our process from GNU time. Needs `pnpm turbo run build`,
// virt-tar-out (libguestfs-tools), podman, zstd and gzip.
//
//   node bench/containerize/run.mjs [--runs N] [--proto-runs N] [--json]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) && Number(args[args.indexOf(name) + 1]) > 0 ? Number(args[args.indexOf(name) + 1]) : fallback);
const runs = option("--runs", 3);
const protoRuns = option("--proto-runs", 1);
const json = args.includes("--json");
const cli = join(repo, "apps/cli/dist/cli.js");
const child = join(here, "tar-child.mjs");

for (const built of ["packages/packager/dist/index.js", "packages/inspect/dist/index.js", "apps/cli/dist/cli.js"]) {
  if (!existsSync(join(repo, built))) {
    console.error("build first: pnpm turbo run build");
    process.exit(2);
  }
}

const zooCache = join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "zoo");
function findZoo() {
  if (!existsSync(zooCache)) return undefined;
  const dirs = readdirSync(zooCache)
    .filter((d) => d.startsWith("debian-12-") && existsSync(join(zooCache, d, "disk1.raw")))
    .map((d) => join(zooCache, d))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return dirs[0];
}
let zoo = findZoo();
if (!zoo) {
  console.error("building the debian-12 zoo guest with the slow test tier (debootstrap, about a minute)");
  spawnSync("pnpm", ["vitest", "run", "--project", "slow", "tools/zoo/src/debian-12.slow.test.ts"], { cwd: repo, stdio: "ignore" });
  zoo = findZoo();
}
if (!zoo) {
  console.error("no debian-12 zoo guest: debootstrap needs the Debian mirror");
  process.exit(2);
}
const image = existsSync(join(zoo, "disk1.qcow2")) ? join(zoo, "disk1.qcow2") : join(zoo, "disk1.raw");
const root = join(zoo, "root");
const scratch = join(tmpdir(), `leapp-bench-containerize-${process.pid}`);
execFileSync("mkdir", ["-p", scratch]);

/** Runs a shell command line; returns wall seconds and the peak RSS GNU time saw for the marked process. */
function timed(line, env = {}) {
  const rssFile = join(scratch, "rss");
  rmSync(rssFile, { force: true });
  const started = process.hrtime.bigint();
  const r = spawnSync("bash", ["-o", "pipefail", "-c", line.replaceAll("@TIME@", `/usr/bin/time -f %M -o ${rssFile}`)], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${line} failed (exit ${r.status}): ${r.stderr.toString().slice(-2000)}`);
  const rssKiB = existsSync(rssFile) ? Number(execFileSync("tail", ["-n1", rssFile]).toString().trim()) : undefined;
  return { seconds, rssMiB: rssKiB === undefined ? undefined : rssKiB / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;

/** Interleaved runs of named command lines; median seconds and the largest RSS of each. */
function compare(cases, n) {
  const results = Object.fromEntries(cases.map((c) => [c.name, { seconds: [], rssMiB: [] }]));
  for (let i = 0; i < n; i++) {
    for (const c of i % 2 === 0 ? cases : [...cases].reverse()) {
      c.before?.();
      const t = timed(c.line, c.env);
      c.after?.();
      results[c.name].seconds.push(t.seconds);
      if (t.rssMiB !== undefined) results[c.name].rssMiB.push(t.rssMiB);
    }
  }
  return Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { seconds: median(v.seconds), runs: v.seconds.length, ...(v.rssMiB.length ? { peakRssMiB: Math.max(...v.rssMiB) } : {}) }]));
}

const podmanRmi = (ref) => () => spawnSync("podman", ["rmi", "-f", ref], { stdio: "ignore" });
const archive = join(scratch, "guest.tar");
const report = { guest: "debian-12", image, root, runs };

// Warm the page cache for everyone alike.
timed(`tar -C ${q(root)} -cf - . | cat > /dev/null`);

// 1. The prototype's path against ours.
const proto = compare([{ name: "virt-tar-out | podman import", line: `virt-tar-out -a ${q(image)} / - | podman import - leapp-bench/proto:latest`, env: { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" }, after: podmanRmi("leapp-bench/proto:latest") }], protoRuns);
const ours = compare(
  [
    {
      name: "leapp containerize && podman load",
      line: `@TIME@ node ${q(cli)} containerize ${q(image)} -o ${q(archive)} --overwrite --name leapp-bench/ours:latest --progress=none && podman load -i ${q(archive)}`,
      after: () => (podmanRmi("localhost/leapp-bench/ours:latest")(), rmSync(archive, { force: true })),
    },
  ],
  runs,
);
report.load = Number(execFileSync("cut", ["-d", " ", "-f", "1", "/proc/loadavg"]).toString());
report.endToEnd = { ...proto, ...ours, speedup: proto["virt-tar-out | podman import"].seconds / ours["leapp containerize && podman load"].seconds };

// 2. The tar writer alone, then with compression.
const pipeToNull = "| cat > /dev/null";
report.tar = compare(
  [
    { name: "GNU tar", line: `tar -C ${q(root)} -cf - . ${pipeToNull}` },
    { name: "leapp", line: `@TIME@ node ${q(child)} ${q(root)} ${pipeToNull}` },
    { name: "tar-stream", line: `@TIME@ node ${q(child)} ${q(root)} --writer tar-stream ${pipeToNull}` },
    { name: "Node floor (fs.promises reads, no tar)", line: `@TIME@ node ${q(join(here, "node-floor.mjs"))} ${q(root)} ${pipeToNull}` },
  ],
  runs,
);
report.tar.ratio = report.tar.leapp.seconds / report.tar["GNU tar"].seconds;
report.tar.floorRatio = report.tar["Node floor (fs.promises reads, no tar)"].seconds / report.tar["GNU tar"].seconds;
report.zstd = compare(
  [
    { name: "GNU tar | zstd -3", line: `tar -C ${q(root)} -cf - . | zstd -q -3 ${pipeToNull}` },
    { name: "leapp zstd", line: `@TIME@ node ${q(child)} ${q(root)} --compress zstd ${pipeToNull}` },
  ],
  runs,
);
report.zstd.ratio = report.zstd["leapp zstd"].seconds / report.zstd["GNU tar | zstd -3"].seconds;
report.gzip = compare(
  [
    { name: "GNU tar | gzip -6", line: `tar -C ${q(root)} -cf - . | gzip -6 ${pipeToNull}` },
    { name: "leapp gzip", line: `@TIME@ node ${q(child)} ${q(root)} --compress gzip ${pipeToNull}` },
  ],
  runs,
);
report.gzip.ratio = report.gzip["leapp gzip"].seconds / report.gzip["GNU tar | gzip -6"].seconds;
rmSync(scratch, { recursive: true, force: true });

if (json) console.log(JSON.stringify(report, null, 2));
else {
  const row = (name, r) => `  ${name.padEnd(38)} ${r.seconds.toFixed(2).padStart(7)} s${r.peakRssMiB ? `  peak RSS ${r.peakRssMiB.toFixed(0)} MiB` : ""}`;
  console.log(`debian-12 zoo guest: ${image} (load average ${report.load} on ${execFileSync("nproc").toString().trim()} cores)\n`);
  console.log("containerize and load, end to end:");
  for (const [k, v] of Object.entries(report.endToEnd)) if (k !== "speedup") console.log(row(k, v));
  console.log(`  leapp is ${report.endToEnd.speedup.toFixed(1)}× faster (goal ≥ 20×)\n`);
  for (const [title, key, goal] of [["tar writer alone (directory source, piped)", "tar", 1.2], ["with zstd", "zstd", 1.5], ["with gzip", "gzip", undefined]]) {
    console.log(`${title}:`);
    for (const [k, v] of Object.entries(report[key])) if (typeof v === "object") console.log(row(k, v));
    console.log(`  leapp / GNU: ${report[key].ratio.toFixed(2)}×${goal ? ` (goal ≤ ${goal}×)` : ""}${report[key].floorRatio ? `; the Node floor alone: ${report[key].floorRatio.toFixed(2)}×` : ""}\n`);
  }
}
