// debian-xen and debian-vmware: bootable Debian 12 web servers as they ran on Xen and on VMware,
// made with the real tools — debootstrap, the distribution's linux-image-amd64 and grub-pc
// installed in a chroot, grub-install on the MBR of a loop-attached disk — and configured the
// way those hypervisors left them:
//   debian-xen     fstab and root= on /dev/xvda1 (GRUB_DISABLE_LINUX_UUID=true), console=hvc0,
//                  an initramfs built with MODULES=list holding only xen-blkfront/xen-netfront,
//                  xenstore-utils, its NIC named enX0;
//   debian-vmware  /dev/sda1, open-vm-tools, an initramfs with only vmw_pvscsi/vmxnet3, NIC ens192,
//                  and OpenSSH's server (a live machine to read over SSH).
// Both serve a page with lighttpd on a static address (QEMU user networking's 10.0.2.15). Booted
// unconverted on virtio disks, neither finds its root filesystem.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { join } from "node:path";
import { MiB, writeDisk } from "../disk.js";
import type { ZooExpected } from "../expected.js";
import { makeExt4 } from "../filesystems.js";
import { ZooError } from "../errors.js";
import { run, runText } from "../run.js";
import { lines, writeGuestFile } from "../tree.js";
import { debootstrapBookworm, readFacts, tidyApt, treeBytes, unmountBelow, type DebianFacts } from "./debian-12.js";
import type { GuestRecipe } from "./recipe.js";

/** What a boot test needs beyond the inspection facts: the NIC the source VM had and the page it serves. */
export interface BootableFacts {
  /** MAC of the source VM's NIC (keep it on the target). */
  mac: string;
  /** The configured interface name, and its static address under QEMU user networking. */
  interfaceName: string;
  address: string;
  /** What GET / answers on port 80. */
  page: string;
  /** The disk name the guest's configuration uses for its root (/dev/xvda1, /dev/sda1). */
  rootDevice: string;
}

interface Variant {
  name: "debian-xen" | "debian-vmware";
  hostname: string;
  diskId: string;
  rootUuid: string;
  console: string | undefined;
  /** initramfs-tools MODULES=list: only the old hypervisor's drivers (and the root filesystem's). */
  initramfsModules: string[];
  packages: string[];
  facts: BootableFacts;
}

const variants: Record<Variant["name"], Variant> = {
  "debian-xen": {
    name: "debian-xen",
    hostname: "deb-xen",
    diskId: "0x7e11a0c1",
    rootUuid: "2d6f4a8c-1b3e-4c5d-9e7f-8a0b1c2d3e4f",
    console: "hvc0",
    initramfsModules: ["xen-blkfront", "xen-netfront", "ext4"],
    packages: ["xenstore-utils"],
    facts: { mac: "00:16:3e:4a:5b:6c", interfaceName: "enX0", address: "10.0.2.15", page: "<h1>deb-xen: served from Xen</h1>\n", rootDevice: "/dev/xvda1" },
  },
  "debian-vmware": {
    name: "debian-vmware",
    hostname: "deb-vmw",
    diskId: "0x7e11a0c2",
    rootUuid: "3e7a5b9d-2c4f-4d6e-8f80-9b1c2d3e4f50",
    console: undefined,
    initramfsModules: ["vmw_pvscsi", "sd_mod", "vmxnet3", "ext4"],
    packages: ["open-vm-tools", "openssh-server"],
    facts: { mac: "00:50:56:8b:9c:ad", interfaceName: "ens192", address: "10.0.2.15", page: "<h1>deb-vmw: served from VMware</h1>\n", rootDevice: "/dev/sda1" },
  },
};

const basePackages = ["systemd-sysv", "ifupdown", "netbase", "lighttpd", "kmod"];
const partitionStart = 1 * MiB;

/** Runs `command` in a chroot of `root` with /dev, /proc and /sys mounted, and services kept from starting. */
function inChroot(root: string, command: string[], input?: string): string {
  const mounted: string[] = [];
  const policy = join(root, "usr/sbin/policy-rc.d");
  try {
    for (const [what, type] of [["dev", "bind"], ["dev/pts", "bind"], ["proc", "proc"], ["sys", "sysfs"]] as const) {
      const at = join(root, what);
      mkdirSync(at, { recursive: true });
      run("mount", type === "bind" ? ["--bind", `/${what}`, at] : ["-t", type, what, at]);
      mounted.push(at);
    }
    writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    return runText("chroot", [root, ...command], {
      input,
      maxBuffer: 256 * MiB,
      // The host's TMPDIR (a test run's own directory) does not exist inside the chroot.
      env: { TMPDIR: "/tmp", DEBIAN_FRONTEND: "noninteractive", DEBCONF_NONINTERACTIVE_SEEN: "true", UCF_FORCE_CONFFOLD: "1", LANG: "C.UTF-8", PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
  } finally {
    rmSync(policy, { force: true });
    for (const m of mounted.reverse()) run("umount", ["--lazy", m]);
  }
}

function configure(root: string, v: Variant, kernel: string): void {
  const f = v.facts;
  writeGuestFile(root, "/etc/hostname", `${v.hostname}\n`);
  writeGuestFile(root, "/etc/hosts", lines("127.0.0.1\tlocalhost", `127.0.1.1\t${v.hostname}`, "::1\t\tlocalhost ip6-localhost ip6-loopback"));
  writeGuestFile(root, "/etc/machine-id", v.name === "debian-xen" ? "5f0c2a9e8d7b4c6a1e3f5a7c9b0d2e4f\n" : "6a1d3b0f9e8c4d7b2f4a6b8d0c1e3f5a\n", 0o444);
  writeGuestFile(root, "/etc/fstab", lines("# <file system> <mount point>   <type>  <options>       <dump>  <pass>", `${f.rootDevice}      /               ext4    errors=remount-ro 0       1`));
  writeGuestFile(root, "/etc/network/interfaces", lines(
    "source /etc/network/interfaces.d/*",
    "",
    "auto lo",
    "iface lo inet loopback",
    "",
    `allow-hotplug ${f.interfaceName}`,
    `iface ${f.interfaceName} inet static`,
    `\taddress ${f.address}/24`,
    "\tgateway 10.0.2.2",
  ));
  writeGuestFile(root, "/var/www/html/index.html", f.page);
  // A root password only so that the login prompt is a real one; nobody logs in.
  inChroot(root, ["chpasswd"], "root:leapp-zoo\n");
  writeGuestFile(root, "/etc/default/grub", lines(
    "GRUB_DEFAULT=0",
    "GRUB_TIMEOUT=1",
    "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`",
    'GRUB_CMDLINE_LINUX_DEFAULT="quiet"',
    `GRUB_CMDLINE_LINUX="${v.console ? `console=${v.console}` : ""}"`,
    // As on hosts whose disks had no stable names: root= is the device name itself.
    "GRUB_DISABLE_LINUX_UUID=true",
    "GRUB_DISABLE_RECOVERY=true",
  ));
  if (!existsSync(join(root, "boot", `vmlinuz-${kernel}`))) throw new ZooError("ZOO_TOOL_FAILED", `the kernel ${kernel} was not installed in the tree`);
}

/** grub-install on the loop-attached disk's MBR and grub-mkconfig, from inside the guest. */
function installGrub(disk: string, tree: string, v: Variant, work: string): void {
  const loop = runText("losetup", ["--show", "-f", disk]).trim();
  const mnt = join(work, "mnt");
  mkdirSync(mnt, { recursive: true });
  let mounted = false;
  try {
    // losetup -P does not scan partitions here; partx does (-u: also over partitions a detached
    // loop device left behind, where -a fails).
    run("partx", ["-u", loop]);
    run("mount", [`${loop}p1`, mnt]);
    mounted = true;
    inChroot(mnt, ["grub-install", "--target=i386-pc", loop]);
    inChroot(mnt, ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]);
    // grub-mkconfig names the root by the device it sees here: the guest knew it by another name.
    const cfgPath = join(mnt, "boot/grub/grub.cfg");
    const cfg = readFileSync(cfgPath, "utf8").replaceAll(`${loop}p1`, v.facts.rootDevice);
    if (/\/dev\/loop/.test(cfg)) throw new ZooError("ZOO_TOOL_FAILED", `grub.cfg still names a loop device:\n${cfg}`);
    writeFileSync(cfgPath, cfg);
    rmSync(join(tree, "boot/grub"), { recursive: true, force: true });
    cpSync(join(mnt, "boot/grub"), join(tree, "boot/grub"), { recursive: true, verbatimSymlinks: true });
  } finally {
    if (mounted) {
      unmountBelow(mnt);
      run("umount", [mnt]);
    }
    try {
      run("partx", ["-d", loop]);
    } finally {
      run("losetup", ["-d", loop]);
    }
  }
}

async function build(v: Variant, dir: string): Promise<void> {
  const root = join(dir, "root");
  const work = join(dir, "work");
  mkdirSync(work);
  debootstrapBookworm(root, [...basePackages, ...v.packages]);
  // The initramfs the kernel's postinst builds is made from these: only the old hypervisor's drivers.
  writeGuestFile(root, "/etc/initramfs-tools/conf.d/zoo-modules", "MODULES=list\n");
  writeGuestFile(root, "/etc/initramfs-tools/modules", lines("# Drivers of the hypervisor this guest ran on", ...v.initramfsModules));
  inChroot(root, ["debconf-set-selections"], "grub-pc grub-pc/install_devices multiselect\ngrub-pc grub-pc/install_devices_empty boolean true\n");
  try {
    inChroot(root, ["apt-get", "-q", "update"]);
    inChroot(root, ["apt-get", "-q", "-y", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold", "install", "linux-image-amd64", "grub-pc"]);
  } finally {
    unmountBelow(root);
  }
  tidyApt(root);
  const kernel = readdirSync(join(root, "lib/modules")).sort().pop() as string;
  configure(root, v, kernel);
  writeFileSync(join(dir, "facts.json"), JSON.stringify({ ...readFacts(root), kernel }, null, 2));

  const rootSize = Math.ceil((treeBytes(root) * 1.2 + 128 * MiB) / MiB) * MiB;
  const rootFs = join(work, "root.ext4");
  makeExt4(rootFs, rootSize, root, { uuid: v.rootUuid, label: "" });
  const disk = join(dir, "disk1.raw");
  writeDisk(disk, { label: "dos", id: v.diskId, size: partitionStart + rootSize, partitions: [{ start: partitionStart, size: rootSize, type: "83", bootable: true, content: rootFs }] });
  installGrub(disk, root, v, work);
}

function expected(v: Variant): ZooExpected {
  const xen = v.name === "debian-xen";
  return {
    osType: "linux",
    distro: "debian",
    productName: "",
    majorVersion: 12,
    minorVersion: 0,
    arch: "x86_64",
    hostname: v.hostname,
    packageFormat: "deb",
    packageManagement: "apt",
    osinfo: "debian12",
    root: "/dev/sda1",
    mountpoints: { "/": "/dev/sda1" },
    volumeGroups: [],
    filesystems: [{ device: "/dev/sda1", type: "ext4", uuid: v.rootUuid, label: "" }],
    applications: [],
    packageDatabase: { format: "dpkg", path: "/var/lib/dpkg/status" },
    firmware: "bios",
    bootloader: "grub2",
    // The kernel's version depends on the mirror: filled from facts.json.
    kernels: [],
    defaultKernel: null,
    hypervisorTools: xen ? [] : [{ hypervisor: "vmware", what: "open-vm-tools" }],
    initSystem: "systemd",
    services: [],
    interfaces: [{ name: v.facts.interfaceName, configFile: "/etc/network/interfaces", configFormat: "interfaces", method: "static", address: `${v.facts.address}/24`, gateway: "10.0.2.2", mac: null, onBoot: true }],
  };
}

function recipe(v: Variant): GuestRecipe {
  return {
    name: v.name,
    tier: "slow",
    inputs: [],
    sources: ["debian-12.ts", "debian-bootable.ts"],
    diskCount: 1,
    build: (dir) => build(v, dir),
    expected: expected(v),
    withBuildFacts(dir: string, base: ZooExpected): ZooExpected {
      const facts = JSON.parse(readFileSync(join(dir, "facts.json"), "utf8")) as DebianFacts & { kernel: string };
      const { kernel, ...rest } = facts;
      return { ...base, ...rest, kernels: [{ version: kernel, path: `/boot/vmlinuz-${kernel}`, initrd: `/boot/initrd.img-${kernel}`, xen: false }], defaultKernel: kernel };
    },
  };
}

export const debianXen = recipe(variants["debian-xen"]);
export const debianVmware = recipe(variants["debian-vmware"]);
export const bootableFacts: Record<Variant["name"], BootableFacts> = { "debian-xen": variants["debian-xen"].facts, "debian-vmware": variants["debian-vmware"].facts };
