#!/usr/bin/env node
// @leapp/storage against qemu-img, side by side in one run: the same conversions, interleaved
// (qemu-img, leapp, qemu-img, leapp…), median of several runs each; wall time ratio and our
// peak RSS. Fixtures are built once with qemu-img and kept in the zoo's cache (~/.cache/leapp/zoo/).
//
//   node bench/storage/run.mjs [--runs N] [--json]
//
// Needs qemu-img (Debian: qemu-utils) and a build of @leapp/storage (pnpm turbo run build).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, openSync, closeSync, writeSync, ftruncateSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = join(here, "../../apps/cli/dist/cli.js");
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1]) > 0 && args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 3;
const json = args.includes("--json");
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

if (!existsSync(join(here, "../../packages/storage/dist/index.js")) || !existsSync(join(here, "../../tools/zoo/dist/index.js"))) {
  console.error("build @leapp/storage and the zoo first: pnpm turbo run build");
  process.exit(2);
}
const { cached, seededRandom } = await import("../../tools/zoo/dist/index.js");
try {
  execFileSync("qemu-img", ["--version"], { stdio: "ignore" });
} catch {
  console.error("qemu-img is missing (Debian: apt-get install qemu-utils)");
  process.exit(2);
}

// ---- fixtures (the zoo's fixture cache, keyed by a hash of how they are made) --------------

const FIXTURE_RECIPE = "v2: 1 GiB raw, 300 x 1 MiB of seededRandom data at seeded offsets; 100 GiB qcow2 with 10 x 1 MiB";

/** 1 MiB of the zoo's seeded random bytes: incompressible, the same on every machine. */
function randomChunk(seed) {
  const random = seededRandom(seed);
  const out = Buffer.alloc(MiB);
  for (let i = 0; i < out.length; i += 4) out.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return out;
}

const cache = await cached(`storage-bench-${createHash("sha256").update(FIXTURE_RECIPE).digest("hex").slice(0, 16)}`, (dir) => {
  const raw = join(dir, "data-300m.raw");
  const fd = openSync(raw, "w");
  ftruncateSync(fd, GiB);
  // 300 distinct 1 MiB slots out of 1024, chosen by a seeded shuffle.
  const slots = Array.from({ length: 1024 }, (_, i) => i);
  const shuffle = seededRandom(42);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [slots[i], slots[j]] = [slots[j], slots[i]];
  }
  for (const slot of slots.slice(0, 300)) writeSync(fd, randomChunk(slot + 1), 0, MiB, slot * MiB);
  closeSync(fd);
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, join(dir, "data-300m.qcow2")]);
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, join(dir, "data-300m-stream.vmdk")]);
  const sparse = join(dir, "sparse-100g.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", sparse, "100G"]);
  const writes = Array.from({ length: 10 }, (_, i) => ["-c", `write -P ${0x10 + i} ${i * 10}G 1M`]).flat();
  execFileSync("qemu-io", ["-f", "qcow2", ...writes, sparse], { stdio: "ignore" });
});
const raw1g = join(cache, "data-300m.raw");
const qcow2 = join(cache, "data-300m.qcow2");
const vmdk = join(cache, "data-300m-stream.vmdk");
const sparse = join(cache, "sparse-100g.qcow2");

// ---- the runs -----------------------------------------------------------------------------

const tasks = [
  { name: "1 GiB raw (300 MiB data) → qcow2", source: raw1g, format: "qcow2", cli: true },
  { name: "1 GiB raw (300 MiB data) → raw", source: raw1g, format: "raw", floor: true },
  { name: "qcow2 (300 MiB data) → raw", source: qcow2, format: "raw" },
  { name: "streamOptimized vmdk → raw", source: vmdk, format: "raw" },
  { name: "100 GiB sparse qcow2 (10 MiB) → raw", source: sparse, format: "raw" },
];

const work = mkdtempSync(join(tmpdir(), "leapp-storage-bench-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

// Node 20 reads NODE_EXTRA_CA_CERTS eagerly at start-up (~55 ms for Debian's bundle on a slow
// machine). A CA bundle has nothing to do with disk images, so the Node children run without it.
const childEnv = { ...process.env };
delete childEnv.NODE_EXTRA_CA_CERTS;

function timed(command, commandArgs) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, commandArgs, { encoding: "utf8", env: childEnv });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(" ")} failed: ${result.stderr || result.error}`);
  return { seconds, stdout: result.stdout };
}

/** Starts each run with no dirty pages left by the one before (untimed). */
function settle() {
  spawnSync("sync");
}

const runners = {
  // -t none / -T none would bypass the page cache; every side uses it, as a user's copy would.
  qemu: (task, target) => ({ seconds: timed("qemu-img", ["convert", "-O", task.format, task.source, target]).seconds }),
  leapp: (task, target) => {
    const { seconds, stdout } = timed(process.execPath, [join(here, "convert-child.mjs"), task.source, target, task.format]);
    return { seconds, ...JSON.parse(stdout) };
  },
  // The same conversion through the `leapp` command, as a user runs it.
  cli: (task, target) => ({ seconds: timed(process.execPath, [cliPath, "storage", "convert", "-O", task.format, "--progress=none", task.source, target]).seconds }),
  // What Node itself reaches: a bare fs.promises copy of the same data extents, no leapp code.
  floor: (task, target) => {
    const { seconds, stdout } = timed(process.execPath, [join(here, "node-floor.mjs"), task.source, target]);
    return { seconds, ...JSON.parse(stdout) };
  },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (const task of tasks) {
  const sides = ["qemu", "leapp", ...(task.floor ? ["floor"] : []), ...(task.cli && existsSync(cliPath) ? ["cli"] : [])];
  const samples = Object.fromEntries(sides.map((side) => [side, []]));
  // One untimed round of each warms the page cache for all alike; then each round rotates who
  // goes first, so that no side always follows another's writeback.
  for (let i = -1; i < runs; i++) {
    const order = sides.map((_, k) => sides[(k + Math.max(i, 0)) % sides.length]);
    const targets = {};
    for (const side of order) {
      targets[side] = join(work, `${side}.${task.format}`);
      settle();
      const sample = runners[side](task, targets[side]);
      if (i >= 0) samples[side].push(sample);
    }
    if (i === runs - 1) {
      // Same content, or the timing means nothing.
      const cmp = spawnSync("qemu-img", ["compare", targets.qemu, targets.leapp], { encoding: "utf8" });
      if (cmp.status !== 0) throw new Error(`outputs differ for ${task.name}: ${cmp.stdout}${cmp.stderr}`);
    }
    for (const target of Object.values(targets)) rmSync(target, { force: true });
  }
  const q = median(samples.qemu.map((s) => s.seconds));
  const o = median(samples.leapp.map((s) => s.seconds));
  const c = median(samples.leapp.map((s) => s.convertSeconds));
  const peak = Math.max(...samples.leapp.map((s) => s.maxRssBytes));
  const cli = samples.cli?.length ? { cliSeconds: median(samples.cli.map((s) => s.seconds)) } : {};
  const floor = task.floor ? { floorSeconds: median(samples.floor.map((s) => s.seconds)), floorCopySeconds: median(samples.floor.map((s) => s.copySeconds)) } : {};
  results.push({ task: task.name, runs, qemuImgSeconds: q, leappSeconds: o, ratio: o / q, leappConvertSeconds: c, convertRatio: c / q, leappPeakRssMiB: peak / MiB, sourceBytes: statSync(task.source).size, ...floor, ...cli });
}

if (json) console.log(JSON.stringify({ results }, null, 2));
else {
  console.log(`@leapp/storage vs qemu-img convert, median of ${runs} interleaved runs, wall time.`);
  console.log("'process' is the whole leapp process (node start-up included); 'convert' is convertDisk alone.");
  console.log("task".padEnd(40), "qemu-img".padStart(9), "process".padStart(9), "ratio".padStart(7), "convert".padStart(9), "ratio".padStart(7), "peak RSS".padStart(10));
  for (const r of results) {
    console.log(
      r.task.padEnd(40),
      `${r.qemuImgSeconds.toFixed(3)}s`.padStart(9),
      `${r.leappSeconds.toFixed(3)}s`.padStart(9),
      `${r.ratio.toFixed(2)}x`.padStart(7),
      `${r.leappConvertSeconds.toFixed(3)}s`.padStart(9),
      `${r.convertRatio.toFixed(2)}x`.padStart(7),
      `${r.leappPeakRssMiB.toFixed(0)} MiB`.padStart(10),
    );
  }
  for (const r of results.filter((x) => x.cliSeconds !== undefined)) {
    console.log(`leapp storage convert (the CLI) for "${r.task}": ${r.cliSeconds.toFixed(3)}s (${(r.cliSeconds / r.qemuImgSeconds).toFixed(2)}x)`);
  }
  for (const r of results.filter((x) => x.floorSeconds !== undefined)) {
    console.log(
      `Node floor for "${r.task}" (a bare fs.promises copy of the same extents, no leapp code): ` +
        `process ${r.floorSeconds.toFixed(3)}s (${(r.floorSeconds / r.qemuImgSeconds).toFixed(2)}x), copy ${r.floorCopySeconds.toFixed(3)}s (${(r.floorCopySeconds / r.qemuImgSeconds).toFixed(2)}x)`,
    );
  }
}
