#!/usr/bin/env node
// `leapp convert` side by side with what users would otherwise run, in one run, whole processes
// (node start-up included), wall time, on the debian-xen zoo guest (Debian 12 as a Xen PV guest
// left it: /dev/xvda1, console=hvc0, a Xen-only initramfs) given by its libvirt domain:
//
//  1. `qemu-img convert -O qcow2` of the same disk: the copy alone, the floor. Goal: leapp within
//     1.3x (it also inspects, plans, rebuilds the initramfs and writes the domain), less when the
//     guest's filesystems have free blocks that hold data (they are not copied).
//  2. with --virt-v2v: `virt-v2v -i libvirtxml … -o local` (libguestfs's appliance under TCG, as on
//     this machine: LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg; several
//     minutes a run). Goal: at least 50x.
//
// Interleaved runs (who goes first rotates), medians; leapp's peak RSS (goal: under 256 MiB).
//
//   node bench/convert/run.mjs [--runs N] [--virt-v2v] [--v2v-runs N] [--json]
//
// Needs a build (pnpm turbo run build), qemu-img, and for --virt-v2v: virt-v2v, nbdkit, libnbd-bin.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const cli = join(repo, "apps/cli/dist/cli.js");
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) && Number(args[args.indexOf(name) + 1]) > 0 ? Number(args[args.indexOf(name) + 1]) : fallback);
const runs = option("--runs", 5);
const v2vRuns = option("--v2v-runs", 1);
const json = args.includes("--json");
const withV2v = args.includes("--virt-v2v");
const MiB = 1024 ** 2;
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;

for (const built of [cli, join(repo, "tools/zoo/dist/index.js")]) {
  if (!existsSync(built)) {
    console.error(`build first (pnpm turbo run build): ${built} is missing`);
    process.exit(2);
  }
}
const { buildZooGuest, bootableFacts } = await import(join(repo, "tools/zoo/dist/index.js"));

const childEnv = { ...process.env, PATH };
delete childEnv.NODE_EXTRA_CA_CERTS;
const work = mkdtempSync(join(tmpdir(), "leapp-convert-bench-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

function timed(command, argv, env = {}) {
  const rssFile = join(work, "rss");
  rmSync(rssFile, { force: true });
  const started = process.hrtime.bigint();
  const r = spawnSync(command, argv, { encoding: "utf8", env: { ...childEnv, ...env }, maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${command} ${argv.join(" ")} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  return { seconds, rssBytes: existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8")) : undefined };
}
const rssHook = `data:text/javascript,${encodeURIComponent(`import { writeFileSync } from "node:fs"; process.on("exit", () => writeFileSync(${JSON.stringify(join(work, "rss"))}, String(process.resourceUsage().maxRSS * 1024)));`)}`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const allocated = (path) => statSync(path).blocks * 512;

const zoo = await buildZooGuest("debian-xen");
const disk = zoo.rawDisks[0];
const mac = bootableFacts["debian-xen"].mac;
const domain = join(work, "deb-xen.xml");
writeFileSync(
  domain,
  `<domain type='xen'><name>deb-xen</name><memory unit='KiB'>1048576</memory><vcpu>1</vcpu><bootloader>/usr/bin/pygrub</bootloader><os><type arch='x86_64' machine='xenpv'>linux</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='xvda' bus='xen'/></disk><interface type='bridge'><mac address='${mac}'/><source bridge='xenbr0'/></interface></devices></domain>\n`,
);

let round = 0;
function fresh() {
  const dir = join(work, `out-${round++}`);
  mkdirSync(dir);
  return dir;
}
const sides = {
  qemuImg: () => {
    const dir = fresh();
    const r = timed("qemu-img", ["convert", "-O", "qcow2", disk, join(dir, "deb-xen-sda")]);
    r.bytes = allocated(join(dir, "deb-xen-sda"));
    rmSync(dir, { recursive: true, force: true });
    return r;
  },
  leapp: () => {
    const dir = fresh();
    const r = timed(process.execPath, ["--import", rssHook, cli, "--progress", "none", "convert", "-i", "libvirtxml", domain, "-o", "local", "-os", dir]);
    if (!existsSync(join(dir, "deb-xen.xml"))) throw new Error("leapp convert wrote no domain");
    r.bytes = allocated(join(dir, "deb-xen-sda"));
    rmSync(dir, { recursive: true, force: true });
    return r;
  },
};

const samples = { qemuImg: [], leapp: [] };
for (let i = 0; i < runs; i++) {
  const order = i % 2 === 0 ? ["qemuImg", "leapp"] : ["leapp", "qemuImg"];
  for (const side of order) {
    spawnSync("sync");
    samples[side].push(sides[side]());
  }
}
const results = {
  guest: { name: "debian-xen", virtualBytes: statSync(disk).size, allocatedBytes: allocated(disk) },
  qemuImgSeconds: median(samples.qemuImg.map((s) => s.seconds)),
  leappSeconds: median(samples.leapp.map((s) => s.seconds)),
  qemuImgOutputBytes: samples.qemuImg[0].bytes,
  leappOutputBytes: samples.leapp[0].bytes,
  leappPeakRssMiB: Math.max(...samples.leapp.map((s) => s.rssBytes ?? 0)) / MiB,
  runs,
};
results.leappOverQemuImg = results.leappSeconds / results.qemuImgSeconds;

if (withV2v) {
  const v2v = [];
  for (let i = 0; i < v2vRuns; i++) {
    const dir = fresh();
    v2v.push(timed("virt-v2v", ["-i", "libvirtxml", domain, "-o", "local", "-os", dir, "-of", "qcow2"], { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" }).seconds);
    rmSync(dir, { recursive: true, force: true });
  }
  results.virtV2vSeconds = median(v2v);
  results.virtV2vOverLeapp = results.virtV2vSeconds / results.leappSeconds;
}

if (json) process.stdout.write(JSON.stringify(results, null, 2) + "\n");
else {
  const f = (s) => `${s.toFixed(2)} s`;
  console.log(`leapp convert vs qemu-img convert and virt-v2v — ${results.guest.name}, ${(results.guest.virtualBytes / MiB).toFixed(0)} MiB disk (${(results.guest.allocatedBytes / MiB).toFixed(0)} MiB allocated), medians of ${runs}`);
  console.log(`  qemu-img convert -O qcow2   ${f(results.qemuImgSeconds)}   output ${(results.qemuImgOutputBytes / MiB).toFixed(0)} MiB`);
  console.log(`  leapp convert -o local      ${f(results.leappSeconds)}   output ${(results.leappOutputBytes / MiB).toFixed(0)} MiB   ${results.leappOverQemuImg.toFixed(2)}x qemu-img (goal ≤ 1.3x)   peak RSS ${results.leappPeakRssMiB.toFixed(0)} MiB (goal < 256)`);
  if (withV2v) console.log(`  virt-v2v -o local           ${f(results.virtV2vSeconds)}   leapp is ${results.virtV2vOverLeapp.toFixed(0)}x faster (goal ≥ 50x)`);
  else console.log("  virt-v2v: not run (add --virt-v2v; several minutes a run under TCG)");
}
