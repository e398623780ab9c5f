#!/usr/bin/env node
// `leapp customize` side by side with what users would otherwise run, in one run, whole processes
// (node start-up included), wall time:
//
//  1. virt-customize with the same operations on the same guest (the sample el6-xen image, each
//     side through its own qcow2 overlay), libguestfs's appliance under TCG as on this machine
//     (LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg). Goal: at least 50x.
//     Both results are read back and compared file by file: the timing means nothing otherwise.
//  2. --copy-in of a 200 MiB tree of 20,000 files into an ext4 guest, against mkfs.ext4 -d
//     building a filesystem from the same tree. Goal: within 2x. The result must be fsck-clean.
//
// Interleaved runs (who goes first rotates), medians; leapp's peak RSS (goal: under 256 MiB).
//
//   node bench/customize/run.mjs [--runs N] [--vc-runs N] [--skip-virt-customize] [--json]
//
// Needs a build (pnpm turbo run build), qemu-img, e2fsprogs and virt-customize (Debian:
// libguestfs-tools, with a kernel in /boot for its appliance). Debian 12's virt-customize (1.48)
// has no --chown, so the operations compared leave it out.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchWorkDir, median, numberOption, processTimer, requireBuilt, toolEnv } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const cli = join(repo, "apps/cli/dist/cli.js");
const args = process.argv.slice(2);
const runs = numberOption("--runs", 5);
const vcRuns = numberOption("--vc-runs", 2);
const json = args.includes("--json");
const skipVc = args.includes("--skip-virt-customize");
const MiB = 1024 ** 2;

requireBuilt([cli, join(repo, "packages/inspect/dist/index.js")]);
const { openImageGuest } = await import(join(repo, "packages/inspect/dist/index.js"));
const { buildSample } = await import(join(repo, "scripts/build-sample.mjs"));

const childEnv = toolEnv();
const work = benchWorkDir("leapp-customize-bench-");
const { timed, rssHook } = processTimer(work, childEnv);


const leapp = (argv) => timed(process.execPath, ["--import", rssHook, cli, "--progress", "none", ...argv]);
const settle = () => spawnSync("sync");

// ---- 1. the same operations as virt-customize ---------------------------------------------

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench@leapp";
const uploaded = join(work, "tool.sh");
writeFileSync(uploaded, "#!/bin/sh\necho leapp\n", { mode: 0o755 });
const operations = [
  ["--hostname", "bench.kvm.example.com"],
  ["--mkdir", "/opt/app/conf"],
  ["--write", "/opt/app/conf/app.conf:key=value"],
  ["--append-line", "/etc/hosts:10.0.0.5 db.internal"],
  ["--edit", "/etc/ssh/sshd_config:s/^#?PermitRootLogin.*/PermitRootLogin no/"],
  ["--upload", `${uploaded}:/usr/bin/`],
  ["--chmod", "0600:/opt/app/conf/app.conf"],
  ["--link", "/opt/app/conf/app.conf:/etc/app.conf"],
  ["--touch", "/etc/leapp-bench"],
  ["--truncate", "/etc/resolv.conf"],
  ["--delete", "/etc/issue"],
  ["--move", "/etc/securetty:/root/securetty"],
  ["--root-password", "password:bench"],
  ["--ssh-inject", `root:string:${key}`],
].flat();

/** What both sides must agree on, read back with leapp's reader. */
async function readBack(overlay, base) {
  // The sample's disk may be a link into the zoo's cache: trust where it really lies too.
  const guest = await openImageGuest([overlay], { trustedBackingDirs: [dirname(base), dirname(realpathSync(base))] });
  const text = async (p) => new TextDecoder().decode(await guest.readFile(p));
  const facts = {
    network: await text("/etc/sysconfig/network"),
    conf: await text("/opt/app/conf/app.conf"),
    confOwner: await guest.stat("/opt/app/conf/app.conf").then((s) => [s.mode, s.uid, s.gid]),
    hosts: await text("/etc/hosts"),
    sshd: await text("/etc/ssh/sshd_config"),
    tool: [await text("/usr/bin/tool.sh"), (await guest.stat("/usr/bin/tool.sh")).mode],
    link: await guest.readlink("/etc/app.conf"),
    touched: (await guest.stat("/etc/leapp-bench")).size,
    resolv: (await guest.stat("/etc/resolv.conf")).size,
    issue: await guest.exists("/etc/issue"),
    moved: [await guest.exists("/etc/securetty"), await text("/root/securetty")],
    shadow: (await text("/etc/shadow")).split("\n")[0].replace(/\$6\$[^$]+\$[^:]+/, "$6$SALT$HASH"),
    keys: await text("/root/.ssh/authorized_keys"),
  };
  await guest.close();
  return facts;
}

const results = {};
if (!skipVc) {
  const sample = (await buildSample()).dir;
  const base = join(sample, "disk.img");
  const samples = { vc: [], leapp: [] };
  let compared = false;
  for (let i = 0; i < Math.max(vcRuns, 1); i++) {
    const order = i % 2 === 0 ? ["vc", "leapp"] : ["leapp", "vc"];
    const outputs = {};
    for (const side of order) {
      const dir = join(work, `ops-${side}-${i}`);
      mkdirSync(dir);
      settle();
      if (side === "vc") {
        const overlay = join(dir, "disk-sda.qcow2");
        execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay]);
        const r = timed("virt-customize", ["-q", "--no-network", "-a", overlay, ...operations], { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" });
        samples.vc.push(r.seconds);
        outputs.vc = overlay;
      } else {
        const r = leapp(["customize", base, "-o", `${dir}/`, ...operations]);
        samples.leapp.push(r);
        outputs.leapp = join(dir, "disk-sda.qcow2");
      }
    }
    if (!compared) {
      const [ours, theirs] = [await readBack(outputs.leapp, base), await readBack(outputs.vc, base)];
      for (const k of Object.keys(theirs)) {
        if (JSON.stringify(ours[k]) !== JSON.stringify(theirs[k])) throw new Error(`leapp and virt-customize disagree on ${k}:\n  leapp: ${JSON.stringify(ours[k])}\n  virt-customize: ${JSON.stringify(theirs[k])}`);
      }
      compared = true;
    }
  }
  // More leapp runs are cheap: its median comes from `runs` samples.
  for (let i = samples.leapp.length; i < runs; i++) {
    const dir = join(work, `ops-leapp-extra-${i}`);
    mkdirSync(dir);
    settle();
    samples.leapp.push(leapp(["customize", base, "-o", `${dir}/`, ...operations]));
  }
  const vc = median(samples.vc);
  const ours = median(samples.leapp.map((s) => s.seconds));
  results.operations = {
    task: `${operations.filter((a) => a.startsWith("--")).length} operations on the sample guest (el6-xen, ext4), through an overlay`,
    virtCustomizeSeconds: vc,
    virtCustomizeRuns: samples.vc.length,
    leappSeconds: ours,
    leappRuns: samples.leapp.length,
    speedup: vc / ours,
    leappPeakRssMiB: Math.max(...samples.leapp.map((s) => s.rssBytes ?? 0)) / MiB,
    sameResult: true,
  };
}

// ---- 2. --copy-in of a large tree against mkfs.ext4 -d ------------------------------------

const FILES = 20_000;
const TREE_MIB = 200;
const cacheRoot = join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "customize-bench");
const recipe = `run.mjs v1: ${FILES} files, ${TREE_MIB} MiB, 100 a directory; a 700 MiB ext4 guest`;
const cache = join(cacheRoot, createHash("sha256").update(recipe).digest("hex").slice(0, 16));
const tree = join(cache, "tree");
const guestImage = join(cache, "guest.raw");
if (!existsSync(join(cache, "done"))) {
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const weights = Array.from({ length: FILES }, () => (-Math.log(1 - random())) ** 2);
  const scale = (TREE_MIB * MiB) / weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < FILES; i++) {
    const dir = join(tree, `d${Math.floor(i / 1000)}`, `s${Math.floor(i / 100) % 10}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    const data = Buffer.alloc(Math.round(weights[i] * scale));
    for (let at = 0; at + 4 <= data.length; at += 4) data.writeUInt32LE((i * 2654435761 + at) >>> 0, at);
    writeFileSync(join(dir, `file-${i}.dat`), data);
  }
  // The guest: a small Linux root on one ext4 filesystem with room for the tree.
  const root = join(cache, "root");
  for (const d of ["etc", "bin", "usr/bin", "srv", "var/log"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "etc/fstab"), "/dev/vda / ext4 defaults 1 1\n");
  writeFileSync(join(root, "etc/hosts"), "127.0.0.1 localhost\n");
  writeFileSync(join(root, "etc/os-release"), 'NAME="Debian GNU/Linux"\nID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n');
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", root, guestImage, "700M"], { env: childEnv });
  writeFileSync(join(cache, "done"), "");
}

const copy = { mkfs: [], leapp: [] };
let checked = false;
for (let i = -1; i < runs; i++) {
  const order = i % 2 === 0 ? ["mkfs", "leapp"] : ["leapp", "mkfs"];
  for (const side of order) {
    const dir = join(work, `copy-${side}-${i}`);
    mkdirSync(dir);
    settle();
    if (side === "mkfs") {
      const r = timed("mkfs.ext4", ["-q", "-F", "-d", tree, join(dir, "fs.raw"), "700M"]);
      if (i >= 0) copy.mkfs.push(r.seconds);
    } else {
      const r = leapp(["customize", guestImage, "-o", `${dir}/`, "--copy-in", `${tree}:/srv`]);
      if (i >= 0) copy.leapp.push(r);
      if (!checked) {
        const raw = join(dir, "check.raw");
        execFileSync("qemu-img", ["convert", "-O", "raw", join(dir, "guest-sda.qcow2"), raw]);
        const fsck = spawnSync("e2fsck", ["-fn", raw], { encoding: "utf8", env: childEnv });
        if (fsck.status !== 0) throw new Error(`the copy-in result is not fsck-clean:\n${fsck.stdout}${fsck.stderr}`);
        const files = Number(/(\d+)\/\d+ files/.exec(fsck.stdout)?.[1] ?? 0);
        if (files < FILES) throw new Error(`e2fsck counts ${files} files, fewer than the ${FILES} copied in`);
        checked = true;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
const mk = median(copy.mkfs);
const ourCopy = median(copy.leapp.map((s) => s.seconds));
results.copyIn = {
  task: `--copy-in of ${FILES} files (${TREE_MIB} MiB) into an ext4 guest vs mkfs.ext4 -d from the same tree`,
  mkfsSeconds: mk,
  leappSeconds: ourCopy,
  ratio: ourCopy / mk,
  runs,
  leappPeakRssMiB: Math.max(...copy.leapp.map((s) => s.rssBytes ?? 0)) / MiB,
  fsckClean: true,
};

if (json) console.log(JSON.stringify(results, null, 2));
else {
  console.log("leapp customize, whole processes, wall time (median).");
  if (results.operations) {
    const r = results.operations;
    console.log(`${r.task}:`);
    console.log(`  virt-customize ${r.virtCustomizeSeconds.toFixed(2)} s (${r.virtCustomizeRuns} runs)  leapp ${r.leappSeconds.toFixed(3)} s (${r.leappRuns} runs)  ${r.speedup.toFixed(0)}x faster  peak RSS ${r.leappPeakRssMiB.toFixed(0)} MiB  same result: yes`);
  }
  const c = results.copyIn;
  console.log(`${c.task}:`);
  console.log(`  mkfs.ext4 -d ${c.mkfsSeconds.toFixed(2)} s  leapp ${c.leappSeconds.toFixed(2)} s  ${c.ratio.toFixed(2)}x of mkfs  peak RSS ${c.leappPeakRssMiB.toFixed(0)} MiB  fsck clean: yes`);
}
