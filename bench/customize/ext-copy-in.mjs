#!/usr/bin/env node
// Writing a tree into an ext4 image: leapp's ext writer against `mkfs.ext4 -d` building the same
// filesystem from the same tree, and against `ext2fs` (libext2fs in WebAssembly) for the library
// decision. Whole processes, interleaved, median of several runs; wall-time ratios and peak RSS.
// Every result is checked with e2fsck -fn and the file count read back by debugfs.
//
//   node bench/customize/ext-copy-in.mjs [--runs N] [--ext2fs-runs N] [--files N] [--mib N] [--large-tib N] [--json]
//
// Defaults: 20,000 files, 200 MiB, 5 runs (ext2fs: 1, it is slow). One more leapp run copies the
// tree into a sparse ext4 image of --large-tib TiB (default 1; 0 skips it): peak RSS must not grow
// with the image. Needs e2fsprogs and a build (pnpm turbo run build --filter @leapp/inspect). The
// tree is generated once and cached.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) && Number(args[args.indexOf(name) + 1]) >= 0 ? Number(args[args.indexOf(name) + 1]) : fallback);
const runs = option("--runs", 5);
const ext2fsRuns = option("--ext2fs-runs", 1);
const fileCount = option("--files", 20_000);
const largeTiB = option("--large-tib", 1);
const totalMiB = option("--mib", 200);
const json = args.includes("--json");
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const sh = (cmd, argv) => execFileSync(cmd, argv, { encoding: "utf8", env: { ...process.env, PATH }, stdio: ["ignore", "pipe", "pipe"] });

if (!existsSync(join(here, "../../packages/inspect/dist/index.js"))) {
  console.error("build @leapp/inspect first: pnpm turbo run build --filter @leapp/inspect");
  process.exit(2);
}

// ---- the tree: 100 files a directory, two levels, sizes skewed small like a /usr ------------
const recipe = `v1 ${fileCount} files ${totalMiB} MiB`;
const cacheRoot = process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp");
const tree = join(cacheRoot, "customize-bench", createHash("sha256").update(recipe).digest("hex").slice(0, 16), "tree");
if (!existsSync(`${tree}.done`)) {
  rmSync(tree, { recursive: true, force: true });
  let seed = 42;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  // Sizes follow an exponential spread scaled so they add up to the total.
  const weights = Array.from({ length: fileCount }, () => (-Math.log(1 - random())) ** 2);
  const scale = (totalMiB * 1024 * 1024) / weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < fileCount; i++) {
    const dir = join(tree, `d${Math.floor(i / 2000)}`, `s${Math.floor(i / 100) % 20}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    const data = Buffer.alloc(Math.round(weights[i] * scale));
    for (let at = 0; at + 4 <= data.length; at += 4) data.writeUInt32LE((i * 2654435761 + at) >>> 0, at);
    writeFileSync(join(dir, `file-${i}.dat`), data);
    if (i % 500 === 0) symlinkSync(`file-${i}.dat`, join(dir, `link-${i}`));
  }
  writeFileSync(`${tree}.done`, "");
}
const treeBytes = Number(sh("du", ["-sb", tree]).split("\t")[0]);
const imageSize = `${Math.ceil((treeBytes * 1.6) / 2 ** 20) + 64}M`;
const work = mkdtempSync(join(tmpdir(), "leapp-copy-in-"));
const image = join(work, "image.raw");

function mkfs(withTree, size = imageSize) {
  rmSync(image, { force: true });
  sh("mkfs.ext4", ["-q", "-F", "-b", "4096", ...(withTree ? ["-d", tree] : []), image, size]);
}

/** The result is a clean filesystem holding every file of the tree. */
function check(label) {
  const fsck = spawnSync("e2fsck", ["-fn", image], { encoding: "utf8", env: { ...process.env, PATH } });
  if (fsck.status !== 0) throw new Error(`${label}: e2fsck -fn found problems:\n${fsck.stdout}`);
  const used = /(\d+)\/\d+ files/.exec(fsck.stdout)?.[1];
  return Number(used);
}

function child(engine) {
  const r = spawnSync(process.execPath, [join(here, "ext-copy-in-child.mjs"), engine, image, tree], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${engine} copy-in failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timings = { mkfsD: [], mkfsEmpty: [], leapp: [], ext2fs: [] };
let leappRss = 0;
let ext2fsRss = 0;
let inodes = {};
for (let i = 0; i < Math.max(runs, ext2fsRuns); i++) {
  if (i < runs) {
    let t = performance.now();
    mkfs(true);
    timings.mkfsD.push(performance.now() - t);
    inodes.mkfs = check("mkfs.ext4 -d");
    t = performance.now();
    mkfs(false);
    timings.mkfsEmpty.push(performance.now() - t);
    const ours = child("leapp");
    timings.leapp.push(ours.ms);
    leappRss = Math.max(leappRss, ours.maxRssMiB);
    inodes.leapp = check("leapp");
  }
  if (i < ext2fsRuns) {
    mkfs(false);
    const lib = child("ext2fs");
    timings.ext2fs.push(lib.ms);
    ext2fsRss = Math.max(ext2fsRss, lib.maxRssMiB);
    inodes.ext2fs = check("ext2fs");
  }
}
let large;
if (largeTiB > 0) {
  mkfs(false, `${largeTiB}T`);
  large = child("leapp");
  inodes.leappLarge = check("leapp, large image");
}
rmSync(work, { recursive: true, force: true });

const m = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, v.length ? median(v) : undefined]));
const result = {
  tree: { files: fileCount, bytes: treeBytes, image: imageSize },
  runs,
  ext2fsRuns,
  medianMs: m,
  leappPeakRssMiB: Math.round(leappRss),
  large: large && { imageTiB: largeTiB, ms: large.ms, peakRssMiB: Math.round(large.maxRssMiB) },
  ext2fsPeakRssMiB: Math.round(ext2fsRss),
  inodesUsed: inodes,
  ratios: {
    leappVsMkfsD: m.leapp / m.mkfsD,
    leappPlusEmptyMkfsVsMkfsD: (m.leapp + m.mkfsEmpty) / m.mkfsD,
    ext2fsVsLeapp: m.ext2fs === undefined ? undefined : m.ext2fs / m.leapp,
  },
};
if (json) console.log(JSON.stringify(result, null, 2));
else {
  const f = (ms) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`);
  console.log(`tree: ${fileCount} files, ${(treeBytes / 2 ** 20).toFixed(0)} MiB; image ${imageSize}; median of ${runs} (ext2fs: ${ext2fsRuns})`);
  console.log(`mkfs.ext4 -d (build from the tree)       ${f(m.mkfsD)}`);
  console.log(`mkfs.ext4 (empty)                        ${f(m.mkfsEmpty)}`);
  console.log(`leapp copy-in into the empty image       ${f(m.leapp)}   peak RSS ${result.leappPeakRssMiB} MiB`);
  console.log(`ext2fs (libext2fs WASM) copy-in          ${f(m.ext2fs)}   peak RSS ${result.ext2fsPeakRssMiB} MiB`);
  console.log(`leapp / mkfs.ext4 -d: ${result.ratios.leappVsMkfsD.toFixed(2)}×  (with the empty mkfs: ${result.ratios.leappPlusEmptyMkfsVsMkfsD.toFixed(2)}×)`);
  if (m.ext2fs !== undefined) console.log(`ext2fs / leapp: ${result.ratios.ext2fsVsLeapp.toFixed(1)}×`);
  if (large) console.log(`leapp copy-in into a ${largeTiB} TiB sparse image: ${f(large.ms)}, peak RSS ${Math.round(large.maxRssMiB)} MiB`);
  console.log(`inodes in use afterwards: ${JSON.stringify(inodes)}`);
}
