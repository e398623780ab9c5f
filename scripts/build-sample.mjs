#!/usr/bin/env node
// Builds the sample guest (samples/el6-xen) into ~/.cache/leapp/sample/el6-xen-<hash>/ and prints
// that folder. No root, no VM, no network: mkfs.ext4 -d populates the filesystem from the tree,
// sfdisk writes the MBR. The hash covers the tree and this script, so edits rebuild it.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync, chmodSync, closeSync, writeSync, readSync, ftruncateSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const sampleDir = join(repo, "samples", "el6-xen");
const cacheRoot = process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp");

const MiB = 1024 * 1024;
// The disk layout and the skeleton directories git cannot hold; the test zoo builds its el6-xen guest from the same file.
const layout = JSON.parse(readFileSync(join(sampleDir, "layout.json"), "utf8"));

function treeHash() {
  const h = createHash("sha256");
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      h.update(relative(sampleDir, p) + "\0" + (st.mode & 0o777777).toString(8) + "\0");
      if (st.isSymbolicLink()) h.update("->" + readlinkSync(p));
      else if (st.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(sampleDir);
  return h.digest("hex").slice(0, 16);
}

function need(tool, debianPackage) {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore", env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  } catch {
    throw new Error(`build-sample: '${tool}' is missing; install Debian's ${debianPackage} (scripts/install-debian-tools.sh does)`);
  }
}

/** A minimal x86-64 ELF executable header: inspection reads the guest's architecture from /bin/bash. */
function elfHeaderX8664() {
  const b = Buffer.alloc(120);
  b.write("\x7fELF", 0, "latin1");
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1; // EV_CURRENT
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(62, 18); // EM_X86_64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x400078n, 24); // entry
  b.writeBigUInt64LE(64n, 32); // phoff
  b.writeUInt16LE(64, 52); // ehsize
  b.writeUInt16LE(56, 54); // phentsize
  b.writeUInt16LE(1, 56); // phnum
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // R+X
  b.writeBigUInt64LE(0x400000n, 80);
  b.writeBigUInt64LE(0x400000n, 88);
  b.writeBigUInt64LE(120n, 96);
  b.writeBigUInt64LE(120n, 104);
  b.writeBigUInt64LE(0x1000n, 112);
  return b;
}

function stageTree(staging) {
  cpSync(join(sampleDir, "root"), staging, { recursive: true, verbatimSymlinks: true });
  for (const d of layout.emptyDirs) mkdirSync(join(staging, d), { recursive: true });
  writeFileSync(join(staging, "bin", "bash"), elfHeaderX8664(), { mode: 0o755 });
  mkdirSync(join(staging, "tmp"), { recursive: true });
  chmodSync(join(staging, "tmp"), 0o1777);
  chmodSync(join(staging, "root"), 0o550);
  chmodSync(join(staging, "etc", "shadow"), 0o000);
}

function copyInto(fd, file, offset) {
  const src = openSync(file, "r");
  const buf = Buffer.alloc(MiB);
  let pos = 0;
  for (;;) {
    const n = readSync(src, buf, 0, buf.length, pos);
    if (n === 0) break;
    // Leave runs of zeros as holes: the disk stays sparse.
    if (buf.subarray(0, n).some((x) => x !== 0)) writeSync(fd, buf, 0, n, offset + pos);
    pos += n;
  }
  closeSync(src);
}

export function buildSample() {
  const out = join(cacheRoot, "sample", `el6-xen-${treeHash()}`);
  if (existsSync(join(out, "domain.xml")) && existsSync(join(out, "disk.img"))) return out;
  need("mkfs.ext4", "e2fsprogs");
  need("mkswap", "util-linux");
  need("sfdisk", "fdisk");
  mkdirSync(dirname(out), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "leapp-sample-"));
  try {
    const staging = join(work, "root");
    stageTree(staging);
    const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, E2FSPROGS_FAKE_TIME: "1552387267" };
    const rootFs = join(work, "root.ext4");
    execFileSync("mkfs.ext4", ["-q", "-F", "-t", "ext4", "-O", "^metadata_csum,^64bit,^orphan_file,^metadata_csum_seed", "-I", "256", "-b", "4096", "-L", layout.root.label, "-U", layout.root.uuid, "-E", "root_owner=0:0,hash_seed=2d6f9a40-3b1c-4e8f-a5d2-7c0b9e1f4a63", "-d", staging, rootFs, `${layout.root.sizeMiB * 1024}k`], { env, stdio: ["ignore", "ignore", "pipe"] });
    const swap = join(work, "swap");
    writeFileSync(swap, Buffer.alloc(0));
    execFileSync("truncate", ["-s", String(layout.swap.sizeMiB * MiB), swap]);
    execFileSync("mkswap", ["-U", layout.swap.uuid, "-L", layout.swap.label, swap], { env, stdio: ["ignore", "ignore", "pipe"] });

    const disk = join(work, "disk.img");
    const fd = openSync(disk, "w");
    ftruncateSync(fd, layout.diskSizeMiB * MiB);
    closeSync(fd);
    const table = [
      "label: dos",
      `label-id: ${layout.diskId}`,
      "unit: sectors",
      `start=${layout.root.startMiB * 2048}, size=${layout.root.sizeMiB * 2048}, type=83, bootable`,
      `start=${layout.swap.startMiB * 2048}, size=${layout.swap.sizeMiB * 2048}, type=82`,
      "",
    ].join("\n");
    execFileSync("sfdisk", ["--no-reread", "--no-tell-kernel", "-q", disk], { input: table, env, stdio: ["pipe", "ignore", "pipe"] });
    const dfd = openSync(disk, "r+");
    copyInto(dfd, rootFs, layout.root.startMiB * MiB);
    copyInto(dfd, swap, layout.swap.startMiB * MiB);
    closeSync(dfd);

    const staged = join(work, "out");
    mkdirSync(staged);
    renameSync(disk, join(staged, "disk.img"));
    const xml = readFileSync(join(sampleDir, "domain.xml.in"), "utf8").replace("@DISK@", join(out, "disk.img"));
    writeFileSync(join(staged, "domain.xml"), xml);
    rmSync(out, { recursive: true, force: true });
    renameSync(staged, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.stdout.write(buildSample() + "\n");
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
