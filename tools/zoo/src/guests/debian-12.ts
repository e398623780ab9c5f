// debian-12: a Debian 12 (bookworm) web server made by the real debootstrap (minbase + systemd,
// openssh-server, apache2, ifupdown), with its own hostname, ifupdown networking, fstab by UUID=
// and a separate /boot partition on an MBR disk. No kernel is installed (the guest is for reading).
// Package versions and the point release come from the mirror, so those facts are read from the
// built tree with dpkg-query and recorded beside it.
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MiB, splitTree, writeDisk } from "../disk.js";
import type { ZooApplication, ZooExpected } from "../expected.js";
import { makeExt4 } from "../filesystems.js";
import { byNameVersionRelease } from "../nevra.js";
import { runText } from "../run.js";
import { lines, writeGuestFile } from "../tree.js";
import type { GuestRecipe } from "./recipe.js";

export const debianMirror = (): string => process.env.LEAPP_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const packages = ["systemd-sysv", "openssh-server", "apache2", "ifupdown", "netbase"];
const hostname = "deb12-web";
const layout = {
  diskId: "0x5e1d0c12",
  bootStart: 1 * MiB,
  bootSize: 64 * MiB,
  rootStart: 65 * MiB,
  bootUuid: "0b7c4e2a-91d3-4f58-a6e0-3d2c1b9f8e75",
  rootUuid: "d3a9f1c7-5e2b-4a86-b0d4-7f1e3c5a9b28",
};

/** Bytes used by a tree (apparent sizes), for sizing its filesystem. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = lstatSync(join(dir, name));
    if (st.isDirectory()) total += 4096 + treeBytes(join(dir, name));
    else total += Math.ceil(st.size / 4096) * 4096;
  }
  return total;
}

/** Splits a Debian version [epoch:]upstream[-revision] the way libguestfs reports it. */
export function splitDebianVersion(full: string): { epoch: number; version: string; release: string } {
  const colon = full.indexOf(":");
  const epoch = colon > 0 ? Number(full.slice(0, colon)) : 0;
  const rest = colon > 0 ? full.slice(colon + 1) : full;
  const dash = rest.lastIndexOf("-");
  return { epoch: Number.isFinite(epoch) ? epoch : 0, version: dash > 0 ? rest.slice(0, dash) : rest, release: dash > 0 ? rest.slice(dash + 1) : "" };
}

/** Facts that depend on the mirror, read from the built tree with the real dpkg-query. */
export interface DebianFacts {
  productName: string;
  majorVersion: number;
  minorVersion: number;
  applications: ZooApplication[];
  services: string[];
}

export function readFacts(root: string): DebianFacts {
  const debianVersion = readFileSync(join(root, "etc/debian_version"), "utf8").split("\n")[0]!.trim();
  const [major = "0", minor = "0"] = debianVersion.split(".");
  const out = runText("dpkg-query", ["--admindir", join(root, "var/lib/dpkg"), "-W", "-f", "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${binary:Summary}\\n"]);
  const applications = out
    .split("\n")
    .filter((l) => l.startsWith("ii"))
    .map((l) => {
      const [, name = "", full = "", arch = "", summary = ""] = l.split("\t");
      return { name, ...splitDebianVersion(full), arch, summary };
    })
    .sort(byNameVersionRelease);
  const wants = join(root, "etc/systemd/system/multi-user.target.wants");
  const services = readdirSync(wants)
    .filter((n) => n.endsWith(".service"))
    .map((n) => n.slice(0, -".service".length))
    .sort();
  return { productName: debianVersion, majorVersion: Number(major), minorVersion: Number(minor), applications, services };
}

/** Unmounts whatever is mounted under `dir` (deepest first). */
export function unmountBelow(dir: string): void {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      runText("umount", ["--lazy", m]);
    } catch {
      // Best effort: the error that matters is debootstrap's.
    }
  }
}

/** debootstrap --variant=minbase of bookworm with `include` into `root`. */
export function debootstrapBookworm(root: string, include: string[]): void {
  try {
    runText("debootstrap", ["--variant=minbase", `--include=${include.join(",")}`, "bookworm", root, debianMirror()], { maxBuffer: 256 * MiB });
  } catch (err) {
    // A debootstrap that failed half-way may leave /proc, /sys… mounted in the target: unmount
    // them before the failed build's folder is removed.
    unmountBelow(root);
    throw err;
  }
}

/** What apt-get clean and a tidy image leave: no downloaded .debs, no package lists. */
export function tidyApt(root: string): void {
  for (const d of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
    for (const name of readdirSync(join(root, d))) if (name !== "partial" && name !== "lock") rmSync(join(root, d, name), { recursive: true, force: true });
  }
}

async function build(dir: string): Promise<void> {
  const root = join(dir, "root");
  const work = join(dir, "work");
  mkdirSync(work);
  debootstrapBookworm(root, packages);
  tidyApt(root);
  writeGuestFile(root, "/etc/hostname", `${hostname}\n`);
  writeGuestFile(root, "/etc/hosts", lines("127.0.0.1\tlocalhost", `127.0.1.1\t${hostname}.example.org ${hostname}`, "", "::1\t\tlocalhost ip6-localhost ip6-loopback", "ff02::1\t\tip6-allnodes", "ff02::2\t\tip6-allrouters"));
  writeGuestFile(root, "/etc/machine-id", "2b9d4f6a8c1e4a3b5d7f9e0c2a4b6d8f\n", 0o444);
  writeGuestFile(root, "/etc/fstab", lines(
    "# /etc/fstab: static file system information.",
    "#",
    "# <file system> <mount point>   <type>  <options>       <dump>  <pass>",
    `UUID=${layout.rootUuid} /               ext4    errors=remount-ro 0       1`,
    `UUID=${layout.bootUuid} /boot           ext4    defaults        0       2`,
  ));
  writeGuestFile(root, "/etc/network/interfaces", lines(
    "# This file describes the network interfaces available on your system",
    "# and how to activate them. For more information, see interfaces(5).",
    "",
    "source /etc/network/interfaces.d/*",
    "",
    "# The loopback network interface",
    "auto lo",
    "iface lo inet loopback",
    "",
    "# The primary network interface",
    "allow-hotplug ens18",
    "iface ens18 inet static",
    "\taddress 203.0.113.30/24",
    "\tgateway 203.0.113.1",
  ));
  writeFileSync(join(dir, "facts.json"), JSON.stringify(readFacts(root), null, 2));

  const { dirs, restore } = splitTree(root, ["/", "/boot"], join(work, "split"));
  const bootFs = join(work, "boot.ext4");
  makeExt4(bootFs, layout.bootSize, dirs.get("/boot")!, { uuid: layout.bootUuid, label: "" });
  const rootSize = Math.ceil((treeBytes(root) * 1.25 + 64 * MiB) / MiB) * MiB;
  const rootFs = join(work, "root.ext4");
  makeExt4(rootFs, rootSize, dirs.get("/")!, { uuid: layout.rootUuid, label: "" });
  restore();
  writeDisk(join(dir, "disk1.raw"), {
    label: "dos",
    id: layout.diskId,
    size: layout.rootStart + rootSize,
    partitions: [
      { start: layout.bootStart, size: layout.bootSize, type: "83", content: bootFs },
      { start: layout.rootStart, size: rootSize, type: "83", bootable: true, content: rootFs },
    ],
  });
}

const expected: ZooExpected = {
  osType: "linux",
  distro: "debian",
  // The point release (12.x) and the package set depend on the mirror: filled from facts.json.
  productName: "",
  majorVersion: 12,
  minorVersion: 0,
  arch: "x86_64",
  hostname,
  packageFormat: "deb",
  packageManagement: "apt",
  osinfo: "debian12",
  root: "/dev/sda2",
  mountpoints: { "/": "/dev/sda2", "/boot": "/dev/sda1" },
  volumeGroups: [],
  filesystems: [
    { device: "/dev/sda1", type: "ext4", uuid: layout.bootUuid, label: "" },
    { device: "/dev/sda2", type: "ext4", uuid: layout.rootUuid, label: "" },
  ],
  applications: [],
  packageDatabase: { format: "dpkg", path: "/var/lib/dpkg/status" },
  firmware: "bios",
  bootloader: null,
  kernels: [],
  defaultKernel: null,
  hypervisorTools: [],
  initSystem: "systemd",
  services: [],
  interfaces: [
    { name: "ens18", configFile: "/etc/network/interfaces", configFormat: "interfaces", method: "static", address: "203.0.113.30/24", gateway: "203.0.113.1", mac: null, onBoot: true },
  ],
};

export const debian12: GuestRecipe = {
  name: "debian-12",
  tier: "slow",
  inputs: [],
  diskCount: 1,
  build,
  expected,
  withBuildFacts(dir: string, base: ZooExpected): ZooExpected {
    const facts = JSON.parse(readFileSync(join(dir, "facts.json"), "utf8")) as DebianFacts;
    return { ...base, ...facts };
  },
};
