#!/usr/bin/env node
// `leapp convert` side by side with what users would otherwise run, in one run, whole processes
// (node start-up included), wall time, on the debian-xen zoo guest (Debian 12 as a Xen PV guest
// left it: /dev/xvda1, console=hvc0, a Xen-only initramfs) given by its libvirt domain:
//
//  1. `qemu-img convert -O qcow2` of the same disk: the copy alone, the floor. Goal: leapp within
//     1.3x (it also inspects, plans, rebuilds the initramfs and writes the domain), less when the
//     guest's filesystems have free blocks that hold data (they are not copied). leapp makes its
//     outputs durable (fdatasync) before they take their names; qemu-img does not, so it is also
//     timed followed by `sync FILE` — the same work — and the goal is measured against that.
//     Then the same guest with a second, data disk (ext4: 1 GiB of data kept, 768 MiB deleted — still
//     on the disk, free in the filesystem): qemu-img copies everything, leapp only what is used.
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
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchWorkDir, median, numberOption, processTimer, requireBuilt, toolEnv } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const cli = join(repo, "apps/cli/dist/cli.js");
const args = process.argv.slice(2);
const runs = numberOption("--runs", 5);
const v2vRuns = numberOption("--v2v-runs", 1);
const json = args.includes("--json");
const withV2v = args.includes("--virt-v2v");
const MiB = 1024 ** 2;

requireBuilt([cli, join(repo, "tools/zoo/dist/index.js")]);
const { buildZooGuest, bootableFacts } = await import(join(repo, "tools/zoo/dist/index.js"));

const childEnv = toolEnv();
const work = benchWorkDir("leapp-convert-bench-");
const { timed, rssHook } = processTimer(work, childEnv);

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
const outputBytes = (dir) => readdirSync(dir).filter((f) => !f.endsWith(".xml")).reduce((n, f) => n + allocated(join(dir, f)), 0);

/** Both sides on one guest: the domain `xml` naming `disks`, medians of interleaved runs. */
function compare(xml, disks) {
  const qemuImg = (synced) => () => {
    const dir = fresh();
    const script = disks.map((d, i) => `qemu-img convert -O qcow2 '${d}' '${join(dir, `deb-xen-sd${"abcdefgh"[i]}`)}'${synced ? ` && sync '${join(dir, `deb-xen-sd${"abcdefgh"[i]}`)}'` : ""}`).join(" && ");
    const r = timed("sh", ["-c", script]);
    r.bytes = outputBytes(dir);
    rmSync(dir, { recursive: true, force: true });
    return r;
  };
  const sides = {
    qemuImg: qemuImg(false),
    qemuImgSynced: qemuImg(true),
    leapp: () => {
      const dir = fresh();
      const r = timed(process.execPath, ["--import", rssHook, cli, "--progress", "none", "convert", "-i", "libvirtxml", xml, "-o", "local", "-os", dir]);
      if (!existsSync(join(dir, "deb-xen.xml"))) throw new Error("leapp convert wrote no domain");
      r.bytes = outputBytes(dir);
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  const samples = { qemuImg: [], qemuImgSynced: [], leapp: [] };
  const names = Object.keys(samples);
  for (let i = 0; i < runs; i++) {
    const order = [...names.slice(i % names.length), ...names.slice(0, i % names.length)];
    for (const side of order) {
      spawnSync("sync");
      samples[side].push(sides[side]());
    }
  }
  const r = {
    disksVirtualBytes: disks.reduce((n, d) => n + statSync(d).size, 0),
    disksAllocatedBytes: disks.reduce((n, d) => n + allocated(d), 0),
    qemuImgSeconds: median(samples.qemuImg.map((x) => x.seconds)),
    qemuImgSyncedSeconds: median(samples.qemuImgSynced.map((x) => x.seconds)),
    leappSeconds: median(samples.leapp.map((x) => x.seconds)),
    qemuImgOutputBytes: samples.qemuImg[0].bytes,
    leappOutputBytes: samples.leapp[0].bytes,
    leappPeakRssMiB: Math.max(...samples.leapp.map((x) => x.rssBytes ?? 0)) / MiB,
  };
  r.leappOverQemuImg = r.leappSeconds / r.qemuImgSeconds;
  r.leappOverQemuImgSynced = r.leappSeconds / r.qemuImgSyncedSeconds;
  return r;
}

// The data disk: a file kept, and one deleted after mkfs wrote it (its blocks still hold data).
const tree = join(work, "data-tree");
mkdirSync(tree);
const block = randomBytes(MiB);
const fill = (file, mib) => {
  const fd = openSync(file, "w");
  for (let i = 0; i < mib; i++) writeSync(fd, block.map((b) => b ^ (i & 0xff)));
  closeSync(fd);
};
fill(join(tree, "kept.bin"), 1024);
fill(join(tree, "deleted.bin"), 768);
const dataDisk = join(work, "data.img");
spawnSync("truncate", ["-s", "2G", dataDisk]);
for (const [cmd, argv] of [["mkfs.ext4", ["-q", "-F", "-d", tree, dataDisk]], ["debugfs", ["-w", "-R", "rm /deleted.bin", dataDisk]]]) {
  const r = spawnSync(cmd, argv, { env: childEnv, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
}
rmSync(tree, { recursive: true, force: true });
const domain2 = join(work, "deb-xen-2.xml");
writeFileSync(domain2, readFileSync(domain, "utf8").replace("</disk>", `</disk><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${dataDisk}'/><target dev='xvdb' bus='xen'/></disk>`));

const results = {
  guest: { name: "debian-xen", virtualBytes: statSync(disk).size, allocatedBytes: allocated(disk) },
  runs,
  system: compare(domain, [disk]),
  withDataDisk: compare(domain2, [disk, dataDisk]),
};

if (withV2v) {
  const v2v = [];
  for (let i = 0; i < v2vRuns; i++) {
    const dir = fresh();
    v2v.push(timed("virt-v2v", ["-i", "libvirtxml", domain, "-o", "local", "-os", dir, "-of", "qcow2"], { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" }).seconds);
    rmSync(dir, { recursive: true, force: true });
  }
  results.virtV2vSeconds = median(v2v);
  results.virtV2vOverLeapp = results.virtV2vSeconds / results.system.leappSeconds;
}

if (json) process.stdout.write(JSON.stringify(results, null, 2) + "\n");
else {
  const f = (x) => `${x.toFixed(2)} s`;
  const m = (x) => `${(x / MiB).toFixed(0)} MiB`;
  console.log(`leapp convert vs qemu-img convert and virt-v2v — debian-xen from its Xen domain, medians of ${runs}`);
  for (const [title, r] of [["the system disk", results.system], ["plus a data disk with deleted data", results.withDataDisk]]) {
    console.log(` ${title}: ${m(r.disksVirtualBytes)} of disks, ${m(r.disksAllocatedBytes)} allocated`);
    console.log(`  qemu-img convert -O qcow2   ${f(r.qemuImgSeconds)}   output ${m(r.qemuImgOutputBytes)}`);
    console.log(`  qemu-img convert + sync     ${f(r.qemuImgSyncedSeconds)}   (durable, as leapp's outputs are)`);
    console.log(`  leapp convert -o local      ${f(r.leappSeconds)}   output ${m(r.leappOutputBytes)}   ${r.leappOverQemuImgSynced.toFixed(2)}x qemu-img + sync (goal ≤ 1.3x), ${r.leappOverQemuImg.toFixed(2)}x qemu-img alone   peak RSS ${r.leappPeakRssMiB.toFixed(0)} MiB (goal < 256)`);
  }
  if (withV2v) console.log(`  virt-v2v -o local           ${f(results.virtV2vSeconds)}   leapp (system disk) is ${results.virtV2vOverLeapp.toFixed(0)}x faster (goal ≥ 50x)`);
  else console.log(" virt-v2v: not run (add --virt-v2v; several minutes a run under TCG)");
}
