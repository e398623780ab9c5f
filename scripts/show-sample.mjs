#!/usr/bin/env node
// The main job's output: runs the `leapp` command on the built sample guest, section by section,
// exactly as a user would type it.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const cli = join(repo, "apps", "cli", "dist", "cli.js");
const sample = process.argv[2];
if (!sample) {
  process.stderr.write("usage: show-sample.mjs SAMPLE_DIR (the folder scripts/build-sample.mjs prints)\n");
  process.exit(2);
}
const disk = join(sample, "disk.img");
const domain = join(sample, "domain.xml");
// The customized guest goes into an overlay here; the sample itself is only read.
const work = mkdtempSync(join(tmpdir(), "leapp-sample-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const overlay = join(work, "disk-sda.qcow2");
const kvm = join(work, "kvm");
mkdirSync(kvm);
const sampleHash = () => createHash("sha256").update(readFileSync(disk)).digest("hex");
const before = sampleHash();

const sections = [
  ["The disk image", ["storage", "info", disk]],
  ["The source VM, from its Xen domain XML", ["source", domain]],
  ["Inside the guest", ["inspect", disk]],
  ["The same VM as a KVM guest (libvirt domain XML)", ["source", domain, "--libvirt-xml"]],
  [
    "Customized through an overlay, with no appliance (virt-customize's operations)",
    ["customize", disk, "-o", `${work}/`, "--hostname", "web01.kvm.example.com", "--write", "/etc/motd:Migrated to KVM by leapp\n", "--append-line", "/etc/hosts:10.0.0.5 db.internal", "--edit", "/etc/fstab:s/xvda/vda/g", "--root-password", "disabled"],
  ],
  // The overlay names its base by a path outside its own directory (and the sample's disk is a link): trust both.
  ["The overlay, inspected: the new hostname", ["inspect", "--backing-dir", sample, "--backing-dir", dirname(realpathSync(disk)), overlay]],
  // virt-v2v's job: first the plan, then the converted guest in a local directory, then what its new domain says.
  ["Converted to KVM, dry run: every change to the guest, and why", ["convert", "-i", "libvirtxml", domain, "--dry-run"]],
  ["Converted to KVM, into a local directory (a qcow2 disk and a libvirt domain)", ["convert", "-i", "libvirtxml", domain, "-o", "local", "-os", kvm]],
  ["The converted VM: a KVM domain with virtio disk and NIC", ["source", join(kvm, "centos6-web01.xml")]],
];

// The guest's whole userspace as a container image: the archive `podman load` reads, and how it runs.
sections.push(["The same guest as a container image (podman load, then podman run with no command)", ["containerize", disk, "-o", join(sample, "web01-container.tar"), "--overwrite"]]);

const bold = process.stdout.isTTY ? (s) => `\x1b[1m${s}\x1b[0m` : (s) => s;
process.stdout.write(`${bold("leapp on the sample guest")} (samples/el6-xen: a CentOS 6 LAMP server from a Xen host)\n${sample}\n`);
for (const [title, args] of sections) {
  const shown = args.map((a) => (a.startsWith(sample) ? a.replace(sample, "$SAMPLE") : a.startsWith(work) ? a.replace(work, "$WORK") : /[\s\n]/.test(a) ? JSON.stringify(a) : a)).join(" ");
  process.stdout.write(`\n${bold(`── ${title}`)}\n$ leapp ${shown}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: "inherit", env: { ...process.env, SAMPLE: sample } });
  if (r.status !== 0) {
    process.stderr.write(`leapp ${args[0]} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}
const unchanged = sampleHash() === before;
process.stdout.write(`\nThe sample disk is untouched: sha256 ${unchanged ? "unchanged" : "CHANGED"} (${before.slice(0, 16)}…)\n`);
if (!unchanged) process.exitCode = 1;
