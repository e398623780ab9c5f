#!/usr/bin/env node
// @leapp/storage against qemu-img, side by side in one run: the same conversions, interleaved in
// rotating order after a `sync`, median of several runs each. The headline is a 4 GiB raw disk
// holding 1.2 GiB of data, converted raw → qcow2 and qcow2 → raw as whole processes (`leapp
// storage convert` against `qemu-img convert`), on tmpfs and on this machine's disk: on disk,
// leapp syncs its target before renaming it into place and qemu-img does not, so qemu-img is also
// timed followed by `sync` of its target, and leapp with --no-sync. Smaller cases follow on tmpfs.
// Every figure is the whole process's wall time; CPU time (user + system) and leapp's peak RSS
// are shown too, since on a shared machine CPU time is the steadier of the two.
//
//   node bench/storage/run.mjs [--runs N] [--only tmpfs|disk|small] [--rt] [--json]
//
// --rt runs every timed process under `chrt -f 10` (real-time priority; root): on a machine
// shared with other work, the others' load then barely moves the figures.
//
// Needs qemu-img (Debian: qemu-utils) and a build (pnpm turbo run build). Fixtures are built once
// and cached by a hash of their recipe: on disk under ~/.cache/leapp/storage-bench, on tmpfs under
// /dev/shm/leapp-storage-bench (removed with --clean).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = join(here, "../../apps/cli/dist/cli.js");
const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(option("--runs") ?? 5);
const only = option("--only");
const json = args.includes("--json");
const realtime = args.includes("--rt");
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

for (const required of [cliPath, join(here, "../../packages/storage/dist/index.js"), join(here, "../../tools/zoo/dist/index.js")]) {
  if (!existsSync(required)) {
    console.error(`${required} is missing: build first (pnpm turbo run build)`);
    process.exit(2);
  }
}
const { seededRandom } = await import("../../tools/zoo/dist/index.js");
try {
  execFileSync("qemu-img", ["--version"], { stdio: "ignore" });
} catch {
  console.error("qemu-img is missing (Debian: apt-get install qemu-utils)");
  process.exit(2);
}

// ---- fixtures (cached by a hash of how they are made) -------------------------------------

const RECIPE = "v3: 4 GiB raw, 1229 x 1 MiB of seededRandom data at seeded offsets; 1 GiB raw with 300; 100 GiB qcow2 with 10 x 1 MiB";
const recipeHash = createHash("sha256").update(RECIPE).digest("hex").slice(0, 16);
const places = {
  tmpfs: join("/dev/shm", "leapp-storage-bench", recipeHash),
  disk: join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "storage-bench", recipeHash),
};
if (args.includes("--clean")) {
  rmSync(dirname(places.tmpfs), { recursive: true, force: true });
  process.exit(0);
}

/** 1 MiB of the zoo's seeded random bytes: incompressible, the same on every machine. */
function randomChunk(seed) {
  const random = seededRandom(seed);
  const out = Buffer.alloc(MiB);
  for (let i = 0; i < out.length; i += 4) out.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return out;
}

/** A raw file of `size` bytes with `count` distinct 1 MiB slots of data, chosen by a seeded shuffle. */
function scatteredRaw(path, size, count) {
  const fd = openSync(path, "w");
  ftruncateSync(fd, size);
  const slots = Array.from({ length: size / MiB }, (_, i) => i);
  const shuffle = seededRandom(42);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [slots[i], slots[j]] = [slots[j], slots[i]];
  }
  for (const slot of slots.slice(0, count)) writeSync(fd, randomChunk(slot + 1), 0, MiB, slot * MiB);
  closeSync(fd);
}

function fixture(dir, name, make) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  if (!existsSync(path)) {
    const partial = `${path}.partial`;
    rmSync(partial, { force: true });
    make(partial);
    renameSync(partial, path);
  }
  return path;
}

function largeFixtures(dir) {
  const raw = fixture(dir, "4g-1200m.raw", (p) => scatteredRaw(p, 4 * GiB, 1229));
  const qcow2 = fixture(dir, "4g-1200m.qcow2", (p) => execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, p]));
  return { raw, qcow2 };
}

function smallFixtures(dir) {
  const raw = fixture(dir, "1g-300m.raw", (p) => scatteredRaw(p, GiB, 300));
  const vmdk = fixture(dir, "1g-300m-stream.vmdk", (p) => execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, p]));
  const sparse = fixture(dir, "sparse-100g.qcow2", (p) => {
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", p, "100G"]);
    const writes = Array.from({ length: 10 }, (_, i) => ["-c", `write -P ${0x10 + i} ${i * 10}G 1M`]).flat();
    execFileSync("qemu-io", ["-f", "qcow2", ...writes, p], { stdio: "ignore" });
  });
  return { raw, vmdk, sparse };
}

// ---- measuring ----------------------------------------------------------------------------

// Node 20 reads NODE_EXTRA_CA_CERTS eagerly at start-up (~55 ms for Debian's bundle on a slow
// machine). A CA bundle has nothing to do with disk images, so the Node children run without it.
const childEnv = { ...process.env };
delete childEnv.NODE_EXTRA_CA_CERTS;
const CLOCK_TICK = 0.01; // seconds per tick of /proc's cutime/cstime (USER_HZ is 100 on Linux)

/** User + system CPU seconds of the children this process has waited for, from /proc. */
function childrenCpu() {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
  return (Number(fields[13]) + Number(fields[14])) * CLOCK_TICK; // cutime, cstime
}

const rssHook = "data:text/javascript,import{writeFileSync}from'node:fs';process.on('exit',()=>writeFileSync(process.env.LEAPP_BENCH_RSS,String(process.resourceUsage().maxRSS*1024)))";

function timed(command, commandArgs, extraEnv = {}) {
  const cpuBefore = childrenCpu();
  const started = process.hrtime.bigint();
  const [run, runArgs] = realtime ? ["chrt", ["-f", "10", command, ...commandArgs]] : [command, commandArgs];
  const result = spawnSync(run, runArgs, { encoding: "utf8", env: { ...childEnv, ...extraEnv } });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(" ")} failed: ${result.stderr || result.error}`);
  return { seconds, cpu: childrenCpu() - cpuBefore, stdout: result.stdout };
}

/** Starts each run with no dirty pages left by the one before (untimed). */
function settle() {
  spawnSync("sync");
}

function leappProcess(task, target, extra = []) {
  const rssFile = join(task.work, "rss");
  const r = timed(process.execPath, ["--import", rssHook, cliPath, "storage", "convert", "-O", task.format, "--progress=none", ...extra, task.source, target], { LEAPP_BENCH_RSS: rssFile });
  return { ...r, rss: Number(readFileSync(rssFile, "utf8")) };
}

const sides = {
  "qemu-img": (task, target) => timed("qemu-img", ["convert", "-O", task.format, task.source, target]),
  // What a user must add to qemu-img for the target to be on the disk, as leapp's is.
  "qemu-img + sync": (task, target) => {
    const a = timed("qemu-img", ["convert", "-O", task.format, task.source, target]);
    const b = timed("sync", ["-d", target]);
    return { seconds: a.seconds + b.seconds, cpu: a.cpu + b.cpu };
  },
  leapp: (task, target) => leappProcess(task, target),
  "leapp --no-sync": (task, target) => leappProcess(task, target, ["--no-sync"]),
  // convertDisk alone (no CLI), in its own process; its own clock leaves out Node's start-up.
  convertDisk: (task, target) => {
    const r = timed(process.execPath, [join(here, "convert-child.mjs"), task.source, target, task.format]);
    const inner = JSON.parse(r.stdout);
    return { ...r, convertSeconds: inner.convertSeconds, rss: inner.maxRssBytes };
  },
  // What Node itself reaches: a bare fs.promises copy of the same data extents, no leapp code.
  "Node floor": (task, target) => {
    const r = timed(process.execPath, [join(here, "node-floor.mjs"), task.source, target]);
    return { ...r, convertSeconds: JSON.parse(r.stdout).copySeconds };
  },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runTask(task) {
  const samples = Object.fromEntries(task.sides.map((side) => [side, []]));
  const targetOf = (side) => join(task.work, `${side.replace(/\W+/g, "-")}.${task.format}`);
  // One untimed round warms the page cache for all alike and checks every output against
  // qemu-img's (same content, or the timing means nothing); then each round rotates who goes
  // first, so that no side always follows another's writeback. Each target is removed as soon as
  // it is measured, so that no side runs with the others' output filling memory.
  for (let i = -1; i < runs; i++) {
    const order = task.sides.map((_, k) => task.sides[(k + Math.max(i, 0)) % task.sides.length]);
    for (const side of order) {
      const target = targetOf(side);
      settle();
      const sample = sides[side](task, target);
      if (i >= 0) samples[side].push(sample);
      else if (side !== "qemu-img" && side !== "Node floor") {
        const cmp = spawnSync("qemu-img", ["compare", targetOf("qemu-img"), target], { encoding: "utf8" });
        if (cmp.status !== 0) throw new Error(`${side} differs from qemu-img for ${task.name}: ${cmp.stdout}${cmp.stderr}`);
      }
      if (i >= 0 || side !== "qemu-img") rmSync(target, { force: true });
    }
    rmSync(targetOf("qemu-img"), { force: true });
  }
  const out = { task: task.name, place: task.place, runs, sides: {} };
  for (const side of task.sides) {
    const s = samples[side];
    out.sides[side] = {
      seconds: median(s.map((x) => x.seconds)),
      cpu: median(s.map((x) => x.cpu)),
      ...(s[0].rss !== undefined ? { peakRssMiB: Math.max(...s.map((x) => x.rss)) / MiB } : {}),
      ...(s[0].convertSeconds !== undefined ? { innerSeconds: median(s.map((x) => x.convertSeconds)) } : {}),
    };
  }
  return out;
}

// ---- the tasks ----------------------------------------------------------------------------

const tasks = [];
for (const place of ["tmpfs", "disk"]) {
  if (only && only !== place) continue;
  if (place === "tmpfs" && !existsSync("/dev/shm")) continue;
  const { raw, qcow2 } = largeFixtures(places[place]);
  const onDisk = place === "disk" ? ["qemu-img + sync", "leapp --no-sync"] : [];
  tasks.push({ name: "4 GiB raw (1.2 GiB data) → qcow2", place, source: raw, format: "qcow2", sides: ["qemu-img", "leapp", ...onDisk, "convertDisk"] });
  tasks.push({ name: "qcow2 (1.2 GiB data) → raw", place, source: qcow2, format: "raw", sides: ["qemu-img", "leapp", ...onDisk, "convertDisk"] });
}
if (!only || only === "small") {
  const dir = existsSync("/dev/shm") ? places.tmpfs : places.disk;
  const { raw, vmdk, sparse } = smallFixtures(dir);
  const place = existsSync("/dev/shm") ? "tmpfs" : "disk";
  tasks.push({ name: "1 GiB raw (300 MiB data) → raw", place, source: raw, format: "raw", sides: ["qemu-img", "leapp", "convertDisk", "Node floor"] });
  tasks.push({ name: "streamOptimized vmdk → raw", place, source: vmdk, format: "raw", sides: ["qemu-img", "leapp", "convertDisk"] });
  tasks.push({ name: "100 GiB sparse qcow2 (10 MiB) → raw", place, source: sparse, format: "raw", sides: ["qemu-img", "leapp", "convertDisk"] });
}

const results = [];
for (const task of tasks) {
  const work = mkdtempSync(join(places[task.place], "run-"));
  try {
    results.push(runTask({ ...task, work }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (json) console.log(JSON.stringify({ results }, null, 2));
else {
  console.log(`@leapp/storage against qemu-img convert: median of ${runs} interleaved runs${realtime ? " (real-time priority)" : ""}; wall time of the whole process, CPU (user + system), ratio to qemu-img.`);
  for (const r of results) {
    const q = r.sides["qemu-img"];
    console.log(`\n${r.task} — on ${r.place}`);
    for (const [side, s] of Object.entries(r.sides)) {
      const inner = s.innerSeconds !== undefined ? `  (${s.innerSeconds.toFixed(3)} s inside the process)` : "";
      const rss = s.peakRssMiB !== undefined ? `  peak RSS ${s.peakRssMiB.toFixed(0)} MiB` : "";
      console.log(`  ${side.padEnd(16)} ${s.seconds.toFixed(3).padStart(7)} s  ${(s.seconds / q.seconds).toFixed(2).padStart(5)}×   CPU ${s.cpu.toFixed(2).padStart(5)} s${inner}${rss}`);
    }
  }
}
