#!/usr/bin/env node
// The guest-OS step of a conversion, side by side: @leapp/guestos planning and dry-running the
// conversion of the debian-xen zoo guest (inspect, plan, apply to the memory guest, diff — the
// initramfs amended offline), against what virt-v2v does for the same step: add the virtio drivers
// to /etc/initramfs-tools/modules and run the guest's own update-initramfs inside libguestfs's
// appliance (virt-customize, appliance under TCG as on this machine), on a qcow2 overlay so the
// zoo image stays untouched. Ours runs several times in fresh processes (median wall time, peak
// RSS); virt-customize once by default.
//
//   node bench/guestos/run.mjs [--runs N] [--vc-runs N] [--json]
//
// Needs a build of @leapp/guestos (pnpm turbo run build --filter @leapp/guestos), virt-customize
// (Debian: guestfs-tools/libguestfs-tools) and the debian-xen zoo image (the slow test tier builds it:
// pnpm exec vitest run --project slow tools/zoo/src/debian-bootable.slow.test.ts).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, numberOption } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const runs = numberOption("--runs", 5);
const vcRuns = numberOption("--vc-runs", 1);
const json = args.includes("--json");

const pkg = join(repo, "packages/guestos");
if (!existsSync(join(pkg, "dist/index.js"))) {
  console.error("build @leapp/guestos first: pnpm turbo run build --filter @leapp/guestos");
  process.exit(2);
}
const zooCache = join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "zoo");
const dirs = existsSync(zooCache) ? readdirSync(zooCache).filter((d) => d.startsWith("debian-xen-") && existsSync(join(zooCache, d, "disk1.raw"))).map((d) => join(zooCache, d)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs) : [];
if (dirs.length === 0) {
  console.error("no debian-xen zoo image: pnpm exec vitest run --project slow tools/zoo/src/debian-bootable.slow.test.ts");
  process.exit(2);
}
const disk = join(dirs[0], "disk1.raw");
const kernel = readdirSync(join(dirs[0], "root/lib/modules"))[0];

// Ours: a fresh process each run (inside the package, so that its name and dependencies resolve).
const child = join(pkg, ".bench-child.mjs");
writeFileSync(child, `
import { inspect, openImageGuest } from "@leapp/inspect";
import { applyPlan, MemoryGuest, planConversion } from "@leapp/guestos";
const t0 = performance.now();
const guest = await openImageGuest([process.argv[2]]);
const report = await inspect(guest);
const plan = await planConversion(guest, report, { disks: [{ bus: "xen" }], nics: [{ mac: "00:16:3e:4a:5b:6c" }] });
const dry = new MemoryGuest(guest);
await applyPlan(plan, dry);
const diff = await dry.diff();
await guest.close();
console.log(JSON.stringify({ ms: performance.now() - t0, changes: plan.changes.length, diffBytes: diff.length }));
`);
const ours = [];
try {
  for (let i = 0; i < runs; i++) {
    const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, child, disk], { cwd: pkg, encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    const wall = JSON.parse(r.stdout.trim().split("\n").pop());
    ours.push({ ms: wall.ms, rssKiB: Number(r.stderr.trim().split("\n").pop()), changes: wall.changes });
  }
} finally {
  rmSync(child, { force: true });
}

// Theirs: the same step the way virt-v2v takes it, in the libguestfs appliance.
const theirs = [];
const scratch = mkdtempSync(join(tmpdir(), "bench-guestos-"));
try {
  for (let i = 0; i < vcRuns; i++) {
    const overlay = join(scratch, `overlay-${i}.qcow2`);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", disk, overlay]);
    const t0 = performance.now();
    const r = spawnSync("/usr/bin/time", ["-f", "%M", "virt-customize", "-q", "-a", overlay, "--no-network",
      ...["virtio_blk", "virtio_scsi", "virtio_net", "virtio_pci"].flatMap((m) => ["--append-line", `/etc/initramfs-tools/modules:${m}`]),
      "--run-command", `update-initramfs -u -k ${kernel}`], { encoding: "utf8", env: { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" } });
    if (r.status !== 0) throw new Error(`virt-customize failed: ${r.stderr.slice(-2000)}`);
    theirs.push({ ms: performance.now() - t0, rssKiB: Number(r.stderr.trim().split("\n").pop()) });
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const result = {
  guest: "debian-xen (Debian 12, 1 GiB raw, Xen-only initramfs)",
  ours: { tool: "@leapp/guestos inspect + plan + dry run", runs, medianMs: Math.round(median(ours.map((r) => r.ms))), peakRssMiB: Math.round(Math.max(...ours.map((r) => r.rssKiB)) / 1024), changes: ours[0].changes },
  theirs: { tool: "virt-customize: initramfs-tools modules + update-initramfs (virt-v2v's step)", runs: vcRuns, medianMs: Math.round(median(theirs.map((r) => r.ms))), peakRssMiB: Math.round(Math.max(...theirs.map((r) => r.rssKiB)) / 1024) },
};
result.speedup = Math.round((result.theirs.medianMs / result.ours.medianMs) * 10) / 10;
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${result.guest}`);
  console.log(`  ${result.ours.tool}: ${result.ours.medianMs} ms (median of ${runs}), ${result.ours.peakRssMiB} MiB peak RSS, ${result.ours.changes} changes`);
  console.log(`  ${result.theirs.tool}: ${result.theirs.medianMs} ms, ${result.theirs.peakRssMiB} MiB peak RSS (its appliance VM included)`);
  console.log(`  leapp is ${result.speedup}× faster`);
}
