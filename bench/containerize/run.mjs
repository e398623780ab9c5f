#!/usr/bin/env node
// `leapp containerize` against the LeApp prototype's path, and our tar writer against GNU tar,
// side by side in one run, on the debian-12 zoo guest (debootstrap: systemd, apache2, sshd):
//
//   1. the prototype: virt-tar-out -a IMG / - | podman import -   (libguestfs appliance under TCG,
//      LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg, as on this machine)
//      against: leapp containerize IMG -o X.tar && podman load -i X.tar — and the two halves of
//      ours alone, with `podman load` of the same guest as an oci-archive beside it (which format
//      podman ingests faster).
//   2. the tar writer alone on the guest's root tree (a directory source), archive piped to
//      `cat > /dev/null` (GNU tar skips reading files when it writes to /dev/null itself):
//      tar -C root -cf - .   against our writer, our writer reading the qcow2 image instead (the
//      image source), tar-stream fed by the same walk, the Node floor (node-floor.mjs: the same
//      reads with fs.promises, no tar) and Node's start-up alone; then with compression:
//      tar | zstd -3 against our writer's zstd layers (and gzip likewise). Our writer's time
//      in-process (the child's own clock, from opening the source to the last byte) is beside it:
//      what a program that already runs, and has the packages loaded, pays for an archive.
//
// Every figure is the median of --runs N (default 5; the prototype runs --proto-runs, default 1),
// runs interleaved so a change of the machine's load hits every row alike. Wall time is what the
// goals are about; CPU time (user + system of the whole command line, pipes included) is beside
// it, as it depends far less on what else the machine runs. Peak RSS is our process's, from GNU
// time. Needs `pnpm turbo run build`, virt-tar-out (libguestfs-tools), podman, zstd and gzip.
//
//   node bench/containerize/run.mjs [--runs N] [--proto-runs N] [--no-proto] [--json]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, numberOption } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const runs = numberOption("--runs", 5);
const protoRuns = args.includes("--no-proto") ? 0 : numberOption("--proto-runs", 1);
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
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const loadAverage = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

/**
 * Runs a shell command line: wall seconds and CPU seconds of everything in it, and the peak RSS
 * GNU time saw for the process marked @TIME@.
 */
function timed(line, env = {}) {
  const rssFile = join(scratch, "rss");
  const cpuFile = join(scratch, "cpu");
  rmSync(rssFile, { force: true });
  const marked = line.replaceAll("@TIME@", `/usr/bin/time -f %M -o ${rssFile}`);
  const started = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%U %S", "-o", cpuFile, "bash", "-o", "pipefail", "-c", marked], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"], maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${line} failed (exit ${r.status}): ${r.stderr.toString().slice(-2000)}`);
  const [user, system] = readFileSync(cpuFile, "utf8").trim().split("\n").pop().split(" ").map(Number);
  const rssKiB = existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) : undefined;
  // A tar child reports its own time, from opening the source to the last byte (the writer in-process).
  const reported = /\{"ms":([\d.]+)/.exec(r.stderr.toString());
  return { seconds, cpuSeconds: user + system, rssMiB: rssKiB === undefined ? undefined : rssKiB / 1024, inProcessSeconds: reported ? Number(reported[1]) / 1000 : undefined };
}

/** Interleaved runs of named command lines: median wall and CPU seconds, and the largest RSS of each. */
function compare(cases, n) {
  const results = Object.fromEntries(cases.map((c) => [c.name, { seconds: [], cpuSeconds: [], rssMiB: [], inProcessSeconds: [] }]));
  const loads = [];
  for (let i = 0; i < n; i++) {
    for (const c of i % 2 === 0 ? cases : [...cases].reverse()) {
      // A line may be made per run (a fresh podman storage, set up before the clock starts).
      const line = typeof c.line === "function" ? c.line() : c.line;
      loads.push(loadAverage());
      const t = timed(line, c.env);
      c.after?.();
      results[c.name].seconds.push(t.seconds);
      results[c.name].cpuSeconds.push(t.cpuSeconds);
      if (t.rssMiB !== undefined) results[c.name].rssMiB.push(t.rssMiB);
      if (t.inProcessSeconds !== undefined) results[c.name].inProcessSeconds.push(t.inProcessSeconds);
    }
  }
  const out = Object.fromEntries(
    Object.entries(results).map(([k, v]) => [k, { seconds: median(v.seconds), cpuSeconds: median(v.cpuSeconds), runs: v.seconds.length, allSeconds: v.seconds, ...(v.rssMiB.length ? { peakRssMiB: Math.max(...v.rssMiB) } : {}), ...(v.inProcessSeconds.length ? { inProcessSeconds: median(v.inProcessSeconds) } : {}) }]),
  );
  return { ...out, load: median(loads) };
}
const ratio = (a, b) => ({ wall: a.seconds / b.seconds, cpu: a.cpuSeconds / b.cpuSeconds });

// Every timed podman command gets a storage of its own, made and warmed (`podman images` sets
// it up and probes the kernel's overlay support) before the clock starts, so no image left on
// this machine can share our layer: every load ingests it (a layer already stored would be
// skipped, making loads look free). Nothing is removed until the end.
//
// The storages and podman's temporary files (TMPDIR) are on a tmpfs of the bench's own when it
// can mount one. This machine's ext4 has no journal, and such an ext4 steps over every recently
// deleted inode when it allocates one, for minutes after a mass deletion: after a removed image
// or a test run, each load took up to twice as long, in system time, whichever side it was. On
// the tmpfs, what is measured is podman's own work, the same for both sides.
// (Short names: podman refuses a runroot path longer than 50 characters.)
const podmanDir = join(scratch, "p");
execFileSync("mkdir", ["-p", podmanDir]);
const onTmpfs = spawnSync("mount", ["-t", "tmpfs", "-o", "size=12g,mode=0700", "tmpfs", podmanDir], { stdio: "ignore" }).status === 0;
process.on("exit", () => {
  // podman mounts its storage's overlay directory on itself: that comes off first.
  if (onTmpfs) spawnSync("umount", ["--recursive", podmanDir], { stdio: "ignore" });
  rmSync(scratch, { recursive: true, force: true });
});
// Ctrl-C or a kill cleans up too.
for (const [name, code] of [["SIGINT", 130], ["SIGTERM", 143]]) process.on(name, () => process.exit(code));
let stores = 0;
function freshPodman() {
  const dir = join(podmanDir, String(++stores));
  const tmp = join(dir, "tmp");
  execFileSync("mkdir", ["-p", tmp]);
  const args = ["--root", join(dir, "root"), "--runroot", join(dir, "run")];
  const warmed = spawnSync("podman", [...args, "images"], { env: { ...process.env, TMPDIR: tmp } });
  if (warmed.status !== 0) throw new Error(`podman could not set up a storage in ${dir}: ${warmed.stderr.toString().trim()}`);
  return `TMPDIR=${q(tmp)} podman ${args.map(q).join(" ")}`;
}
const archive = join(scratch, "guest.tar");
const ociArchive = join(scratch, "guest-oci.tar");
const report = { guest: "debian-12", image, root, runs, cores: Number(execFileSync("nproc").toString().trim()), podmanStorage: onTmpfs ? "tmpfs" : "disk" };

// Warm the page cache for everyone alike.
timed(`tar -C ${q(root)} -cf - . | cat > /dev/null`);
timed(`cat ${q(image)} > /dev/null`);

// 1. The prototype's path against ours, and ours in its two halves.
const containerizeTo = (output, format = "docker-archive") => `node ${q(cli)} containerize ${q(image)} -o ${q(output)} --format ${format} --overwrite --name leapp-bench/ours:latest --progress=none`;
const ours = containerizeTo(archive);
const endToEnd = [
  {
    name: "leapp containerize && podman load",
    line: () => `@TIME@ ${ours} && ${freshPodman()} load -q -i ${q(archive)}`,
    after: () => rmSync(archive, { force: true }),
  },
];
if (protoRuns > 0) {
  report.prototype = compare([{ name: "virt-tar-out | podman import", line: () => `virt-tar-out -a ${q(image)} / - | ${freshPodman()} import - leapp-bench/proto:latest`, env: { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" } }], protoRuns);
}
report.endToEnd = compare(endToEnd, runs);
if (report.prototype) report.endToEnd.speedup = ratio(report.prototype["virt-tar-out | podman import"], report.endToEnd["leapp containerize && podman load"]);

// The halves: containerize alone (either format), podman load alone of each format.
timed(ours);
timed(containerizeTo(ociArchive, "oci-archive"));
report.halves = compare(
  [
    { name: "leapp containerize (docker-archive)", line: `@TIME@ ${ours}` },
    { name: "leapp containerize (oci-archive)", line: `@TIME@ ${containerizeTo(ociArchive, "oci-archive")}` },
    { name: "podman load (docker-archive)", line: () => `${freshPodman()} load -q -i ${q(archive)}` },
    { name: "podman load (oci-archive)", line: () => `${freshPodman()} load -q -i ${q(ociArchive)}` },
  ],
  runs,
);
rmSync(archive, { force: true });
rmSync(ociArchive, { force: true });
// podman's own ingest bounds the end-to-end ratio whatever containerize costs: the prototype's
// time over the load's alone.
if (report.prototype) report.endToEnd.ceiling = report.prototype["virt-tar-out | podman import"].seconds / report.halves["podman load (docker-archive)"].seconds;

// 2. The tar writer alone, then with compression.
const pipeToNull = "| cat > /dev/null";
const floor = "Node floor (fs.promises reads, no tar)";
report.tar = compare(
  [
    { name: "GNU tar", line: `tar -C ${q(root)} -cf - . ${pipeToNull}` },
    { name: "leapp", line: `@TIME@ node ${q(child)} ${q(root)} ${pipeToNull}` },
    { name: "leapp, from the qcow2 image", line: `@TIME@ node ${q(child)} --image ${q(image)} ${pipeToNull}` },
    { name: "tar-stream on the same walk", line: `@TIME@ node ${q(child)} ${q(root)} --writer tar-stream ${pipeToNull}` },
    { name: floor, line: `@TIME@ node ${q(join(here, "node-floor.mjs"))} ${q(root)} ${pipeToNull}` },
    { name: "Node start-up (node -e 0)", line: "node -e 0" },
  ],
  runs,
);
report.tar.ratio = ratio(report.tar.leapp, report.tar["GNU tar"]);
// The writer called from a program already running, against GNU tar's whole run.
report.tar.inProcessRatio = report.tar.leapp.inProcessSeconds / report.tar["GNU tar"].seconds;
report.tar.floorRatio = ratio(report.tar[floor], report.tar["GNU tar"]);
report.zstd = compare(
  [
    { name: "GNU tar | zstd -3", line: `tar -C ${q(root)} -cf - . | zstd -q -3 ${pipeToNull}` },
    { name: "leapp zstd", line: `@TIME@ node ${q(child)} ${q(root)} --compress zstd ${pipeToNull}` },
  ],
  runs,
);
report.zstd.ratio = ratio(report.zstd["leapp zstd"], report.zstd["GNU tar | zstd -3"]);
report.gzip = compare(
  [
    { name: "GNU tar | gzip -6", line: `tar -C ${q(root)} -cf - . | gzip -6 ${pipeToNull}` },
    { name: "leapp gzip", line: `@TIME@ node ${q(child)} ${q(root)} --compress gzip ${pipeToNull}` },
  ],
  Math.min(runs, 3),
);
report.gzip.ratio = ratio(report.gzip["leapp gzip"], report.gzip["GNU tar | gzip -6"]);

if (json) console.log(JSON.stringify(report, null, 2));
else {
  const row = (name, r) => `  ${name.padEnd(40)} ${r.seconds.toFixed(2).padStart(6)} s   cpu ${r.cpuSeconds.toFixed(2).padStart(6)} s${r.peakRssMiB ? `   peak RSS ${r.peakRssMiB.toFixed(0)} MiB` : ""}`;
  const rows = (section) => {
    for (const [k, v] of Object.entries(section)) if (typeof v === "object" && "seconds" in v) console.log(row(k, v));
  };
  const times = (r) => `${r.wall.toFixed(2)}× wall, ${r.cpu.toFixed(2)}× cpu`;
  console.log(`debian-12 zoo guest: ${image} (${report.cores} cores; load average during each part below; podman's storage on ${report.podmanStorage})\n`);
  console.log(`containerize and load, end to end (load ${report.endToEnd.load}${report.prototype ? `; the prototype at ${report.prototype.load}` : ""}):`);
  if (report.prototype) rows(report.prototype);
  rows(report.endToEnd);
  if (report.endToEnd.speedup) console.log(`  leapp is ${report.endToEnd.speedup.wall.toFixed(1)}× faster (goal ≥ 20×); ${report.endToEnd.speedup.cpu.toFixed(1)}× less CPU\n`);
  console.log(`the halves of ours, and podman's ingest of either format (load ${report.halves.load}):`);
  rows(report.halves);
  if (report.endToEnd.ceiling) console.log(`  podman load alone bounds the end-to-end ratio at ${report.endToEnd.ceiling.toFixed(1)}× (the prototype's time over the load's)`);
  console.log("");
  console.log(`tar writer alone (directory source, piped; load ${report.tar.load}):`);
  rows(report.tar);
  console.log(`  leapp / GNU tar: ${times(report.tar.ratio)} (goal ≤ 1.2×); the Node floor alone: ${times(report.tar.floorRatio)}`);
  console.log(`  the writer in-process (opening the source to the last byte, without Node's start and imports): ${report.tar.leapp.inProcessSeconds.toFixed(2)} s, ${report.tar.inProcessRatio.toFixed(2)}× GNU tar's whole run\n`);
  console.log(`with zstd (load ${report.zstd.load}):`);
  rows(report.zstd);
  console.log(`  leapp / GNU: ${times(report.zstd.ratio)} (goal ≤ 1.5×)\n`);
  console.log(`with gzip (load ${report.gzip.load}):`);
  rows(report.gzip);
  console.log(`  leapp / GNU: ${times(report.gzip.ratio)}`);
}
