#!/usr/bin/env node
// @leapp/inspect against virt-inspector, side by side in one run, on the debian-12 zoo image as
// qcow2 (el7-vmware when no debian-12 image can be found or built), and a 2 GiB copy of its tree
// holding 1000 packages (ours only). Ours runs several times in
// fresh processes (median wall time, peak RSS); virt-inspector (libguestfs, appliance under TCG
// as on this machine: LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg) once.
//
//   node bench/inspect/run.mjs [--runs N] [--vi-runs N] [--json]
//
// Needs a build (pnpm turbo run build: @leapp/inspect and the zoo, which builds or finds the
// image in its cache) and virt-inspector (Debian: guestfs-tools/libguestfs-tools).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) && Number(args[args.indexOf(name) + 1]) > 0 ? Number(args[args.indexOf(name) + 1]) : fallback);
const runs = option("--runs", 5);
const viRuns = option("--vi-runs", 1);
const json = args.includes("--json");
const MiB = 1024 ** 2;

if (!existsSync(join(repo, "packages/inspect/dist/index.js"))) {
  console.error("build @leapp/inspect first: pnpm turbo run build --filter @leapp/inspect");
  process.exit(2);
}

const zooBuild = join(repo, "tools/zoo/dist/index.js");
if (!existsSync(zooBuild)) {
  console.error("build the zoo first: pnpm turbo run build");
  process.exit(2);
}
const { buildZooGuest, cached } = await import(zooBuild);

// The zoo builds (or finds in its cache) the guest; debootstrap needs a Debian mirror, so
// el7-vmware stands in when debian-12 cannot be made here.
let guestName = "debian-12";
let guest;
try {
  guest = await buildZooGuest(guestName, "qcow2");
} catch (err) {
  console.error(`no debian-12 zoo image (${err instanceof Error ? err.message : err}): falling back to el7-vmware`);
  guestName = "el7-vmware";
  guest = await buildZooGuest(guestName, "qcow2");
}
const image = guest.disks[0];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const virtualSize = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", image], { encoding: "utf8" }))["virtual-size"];

// ---- ours ------------------------------------------------------------------------------------
function inspectChild(disk) {
  const r = spawnSync(process.execPath, [join(here, "inspect-child.mjs"), disk], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
  }
  return JSON.parse(r.stdout);
}
const ours = [];
for (let i = 0; i < runs; i++) ours.push(inspectChild(image));
// Process wall time includes Node's start-up; measure it too, it is what a user waits for.
const wall = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  spawnSync(process.execPath, [join(here, "inspect-child.mjs"), image], { encoding: "utf8" });
  wall.push(performance.now() - t0);
}

// ---- scale: a 2 GiB guest with 1000 packages ------------------------------------------------
// The zoo's Debian tree, its dpkg status grown to 1000 packages by repeating its own stanzas under
// new names, as one 2 GiB ext4 disk (mkfs.ext4 -d) in qcow2; cached by the source image's name.
const scale =
  guestName !== "debian-12"
    ? undefined
    : join(
        await cached(`inspect-bench-scale-${createHash("sha256").update(`v2 ${image} 2GiB 1000`).digest("hex").slice(0, 16)}`, (dir) => {
          const tree = join(dir, "root");
          // cp -a, not fs.cpSync: the tree holds device nodes (/dev/ptmx…).
          execFileSync("cp", ["-a", guest.rootTree, tree]);
          const statusPath = join(tree, "var/lib/dpkg/status");
          const stanzas = readFileSync(statusPath, "utf8").trim().split(/\n\n+/);
          const grown = [...stanzas];
          for (let i = 0; grown.length < 1000; i++) grown.push(stanzas[i % stanzas.length].replace(/^Package: (.+)$/m, `Package: $1-scale${i}`));
          writeFileSync(statusPath, grown.join("\n\n") + "\n");
          const rootUuid = /^UUID=(\S+)\s+\/\s/m.exec(readFileSync(join(tree, "etc/fstab"), "utf8"))?.[1] ?? "d3a9f1c7-5e2b-4a86-b0d4-7f1e3c5a9b28";
          const raw = join(dir, "scale.raw");
          execFileSync("mkfs.ext4", ["-q", "-F", "-U", rootUuid, "-d", tree, raw, "2G"], { stdio: "pipe" });
          execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, join(dir, "scale.qcow2")]);
          rmSync(raw);
          execFileSync("rm", ["-rf", tree]);
        }),
        "scale.qcow2",
      );
const scaleRuns = [];
if (scale) for (let i = 0; i < runs; i++) scaleRuns.push(inspectChild(scale));

// ---- virt-inspector --------------------------------------------------------------------------
const vi = [];
for (let i = 0; i < viRuns; i++) {
  const t0 = performance.now();
  const r = spawnSync("virt-inspector", ["--format=qcow2", "-a", image], {
    env: { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" },
    encoding: "utf8",
    maxBuffer: 64 * MiB,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) {
    console.error(`virt-inspector failed: ${r.stderr.trim().split("\n").pop()}`);
    process.exit(1);
  }
  vi.push(ms);
}

const result = {
  guest: guestName,
  image,
  virtualSizeBytes: virtualSize,
  applications: ours[0].applications,
  osinfo: ours[0].osinfo,
  leapp: { inspectMs: median(ours.map((o) => o.ms)), processWallMs: median(wall), peakRssMiB: Math.max(...ours.map((o) => o.maxRssBytes)) / MiB, runs },
  virtInspector: { wallMs: median(vi), runs: viRuns },
};
if (scale) {
  result.scale = {
    image: scale,
    virtualSizeBytes: JSON.parse(execFileSync("qemu-img", ["info", "--output=json", scale], { encoding: "utf8" }))["virtual-size"],
    applications: scaleRuns[0].applications,
    inspectMs: median(scaleRuns.map((o) => o.ms)),
    peakRssMiB: Math.max(...scaleRuns.map((o) => o.maxRssBytes)) / MiB,
  };
}
result.speedup = { inspect: result.virtInspector.wallMs / result.leapp.inspectMs, processWall: result.virtInspector.wallMs / result.leapp.processWallMs };

if (json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
else {
  console.log(`guest: ${guestName} (${image}), ${(virtualSize / MiB).toFixed(0)} MiB virtual, ${result.applications} packages, osinfo ${result.osinfo}`);
  console.log(`leapp inspect:   ${result.leapp.inspectMs.toFixed(0)} ms in-process (median of ${runs}), ${result.leapp.processWallMs.toFixed(0)} ms with node start-up, peak RSS ${result.leapp.peakRssMiB.toFixed(0)} MiB`);
  console.log(`virt-inspector:  ${(result.virtInspector.wallMs / 1000).toFixed(1)} s (median of ${viRuns})`);
  console.log(`speed-up:        ${result.speedup.inspect.toFixed(0)}x (in-process), ${result.speedup.processWall.toFixed(0)}x (process wall)`);
  if (result.scale) {
    console.log(`scale guest:     ${(result.scale.virtualSizeBytes / MiB).toFixed(0)} MiB virtual, ${result.scale.applications} packages: ${result.scale.inspectMs.toFixed(0)} ms in-process, peak RSS ${result.scale.peakRssMiB.toFixed(0)} MiB`);
  }
  const goals = [
    [result.speedup.processWall >= 50, "≥ 50x faster"],
    [result.leapp.processWallMs < 1000, "< 1 s"],
    ...(result.scale ? [[result.scale.inspectMs < 1000 && result.scale.applications >= 1000, "< 1 s for a 2 GiB guest with 1000 packages"], [result.scale.peakRssMiB < 300, "peak RSS < 300 MiB on it"]] : []),
    [result.leapp.peakRssMiB < 300, "peak RSS < 300 MiB"],
  ];
  for (const [ok, what] of goals) console.log(`${ok ? "met" : "MISSED"}: ${what}`);
}
