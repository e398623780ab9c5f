// el6-xen: a CentOS 6.10 LAMP server as it ran as a Xen PV guest — the project's sample guest
// (samples/el6-xen/root) plus what a real one holds besides: a BDB rpm database of real headers,
// binaries' ELF headers, the pvops kernel's module tree and dracut initramfs (stand-in modules with
// the real names and metadata), the usual empty directories. One disk: MBR, ext4 root, swap.
import { chmodSync, cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../cache.js";
import { MiB, splitTree, writeDisk } from "../disk.js";
import { elfExecutableX8664 } from "../elf.js";
import { makeExt4, makeSwap } from "../filesystems.js";
import { el6Packages } from "../rpm-catalog.js";
import { mkGuestDirs, writeGuestFile } from "../tree.js";
import { rpmApplications, type GuestRecipe } from "./recipe.js";
import { writeDracutInitramfs, writeModuleTree, type StandInModule } from "./kernel-modules.js";
import { writeRpmdbBdb } from "./rpmdb.js";

const sampleDir = join(repoRoot, "samples", "el6-xen");
const sampleRoot = join(sampleDir, "root");

/** The sample guest's disk layout and skeleton directories, shared with scripts/build-sample.mjs. */
interface SampleLayout {
  diskId: string;
  diskSizeMiB: number;
  root: { startMiB: number; sizeMiB: number; uuid: string; label: string };
  swap: { startMiB: number; sizeMiB: number; uuid: string; label: string };
  emptyDirs: string[];
}
const sample = JSON.parse(readFileSync(join(sampleDir, "layout.json"), "utf8")) as SampleLayout;
const layout = {
  diskSize: sample.diskSizeMiB * MiB,
  rootStart: sample.root.startMiB * MiB,
  rootSize: sample.root.sizeMiB * MiB,
  swapStart: sample.swap.startMiB * MiB,
  swapSize: sample.swap.sizeMiB * MiB,
  rootUuid: sample.root.uuid,
  swapUuid: sample.swap.uuid,
  diskId: sample.diskId,
};

const pvopsKernel = "2.6.32-754.35.1.el6.x86_64";
const xenKernel = "2.6.18-419.el5xen";

// The pvops kernel's drivers for Xen and for KVM, with their dependencies as RHEL 6 ships them.
const virtioDeps = ["virtio_ring", "virtio"];
const pvopsModules: StandInModule[] = [
  { path: "kernel/drivers/block/xen-blkfront.ko", aliases: ["xen:vbd", "xenblk", "block-major-202-*"], description: "Xen virtual block device frontend" },
  { path: "kernel/drivers/net/xen-netfront.ko", aliases: ["xen:vif", "xennet"], description: "Xen virtual network device frontend" },
  { path: "kernel/drivers/xen/xen-balloon.ko", description: "Xen balloon driver" },
  { path: "kernel/drivers/virtio/virtio.ko", exports: ["register_virtio_device", "register_virtio_driver", "unregister_virtio_device", "unregister_virtio_driver"], description: "Virtio bus" },
  { path: "kernel/drivers/virtio/virtio_ring.ko", depends: ["virtio"], exports: ["vring_del_virtqueue", "vring_interrupt", "vring_new_virtqueue", "vring_transport_features"], description: "Virtio ring implementation" },
  { path: "kernel/drivers/virtio/virtio_pci.ko", depends: virtioDeps, aliases: ["pci:v00001AF4d*sv*sd*bc*sc*i*"], description: "virtio-pci" },
  { path: "kernel/drivers/virtio/virtio_balloon.ko", depends: virtioDeps, aliases: ["virtio:d00000005v*"], description: "Virtio balloon driver" },
  { path: "kernel/drivers/block/virtio_blk.ko", depends: virtioDeps, aliases: ["virtio:d00000002v*"], description: "Virtio block driver" },
  { path: "kernel/drivers/net/virtio_net.ko", depends: virtioDeps, aliases: ["virtio:d00000001v*"], description: "Virtio network driver" },
  { path: "kernel/drivers/char/hw_random/rng-core.ko", exports: ["hwrng_register", "hwrng_unregister"], description: "H/W Random Number Generator (RNG) driver" },
  { path: "kernel/drivers/char/hw_random/virtio-rng.ko", depends: ["rng_core", ...virtioDeps], aliases: ["virtio:d00000004v*"], description: "Virtio random number driver" },
  { path: "kernel/drivers/scsi/virtio_scsi.ko", depends: virtioDeps, aliases: ["virtio:d00000008v*"], description: "Virtio SCSI HBA driver" },
  { path: "kernel/fs/mbcache.ko", exports: ["mb_cache_create", "mb_cache_destroy"], description: "Meta block cache (for extended attributes)" },
  { path: "kernel/fs/jbd2/jbd2.ko", exports: ["jbd2_journal_start", "jbd2_journal_stop"], description: "Generic filesystem journal-writing code" },
  { path: "kernel/fs/ext4/ext4.ko", depends: ["jbd2", "mbcache"], aliases: ["fs-ext4"], description: "Fourth Extended Filesystem" },
];

async function build(dir: string): Promise<void> {
  const root = join(dir, "root");
  const work = join(dir, "work");
  mkdirSync(work);
  cpSync(sampleRoot, root, { recursive: true, verbatimSymlinks: true });
  chmodSync(root, 0o755);
  mkGuestDirs(root, sample.emptyDirs);
  mkGuestDirs(root, ["/tmp"], 0o1777);
  for (const bin of ["/bin/bash", "/bin/ls", "/usr/sbin/httpd", "/usr/sbin/sshd", "/usr/libexec/mysqld", "/usr/bin/php"]) writeGuestFile(root, bin, elfExecutableX8664(), 0o755);
  writeGuestFile(root, "/etc/sysconfig/selinux", "SELINUX=disabled\nSELINUXTYPE=targeted\n");
  await writeRpmdbBdb(root, el6Packages, work);
  writeModuleTree(root, pvopsKernel, pvopsModules, work);
  // Made on Xen with --hostonly: the Xen drivers and the root filesystem's, no virtio.
  writeDracutInitramfs(root, pvopsKernel, pvopsModules, ["xen-blkfront", "xen-netfront", "ext4"], `/boot/initramfs-${pvopsKernel}.img`, work);

  const { dirs, restore } = splitTree(root, ["/"], join(work, "split"));
  const rootFs = join(work, "root.ext4");
  makeExt4(rootFs, layout.rootSize, dirs.get("/") ?? root, {
    uuid: layout.rootUuid,
    label: sample.root.label,
    // CentOS 6's mke2fs: no metadata_csum, no 64bit.
    features: "^metadata_csum,^64bit,^orphan_file,^metadata_csum_seed",
    // Set in the image, not the tree: a build without root could not read or clean them up.
    modes: { "/root": 0o550, "/etc/shadow": 0o000 },
  });
  restore();
  const swap = join(work, "swap");
  makeSwap(swap, layout.swapSize, { uuid: layout.swapUuid, label: sample.swap.label });
  writeDisk(join(dir, "disk1.raw"), {
    label: "dos",
    id: layout.diskId,
    size: layout.diskSize,
    partitions: [
      { start: layout.rootStart, size: layout.rootSize, type: "83", bootable: true, content: rootFs },
      { start: layout.swapStart, size: layout.swapSize, type: "82", content: swap },
    ],
  });
}

export const el6Xen: GuestRecipe = {
  name: "el6-xen",
  tier: "integration",
  inputs: [sampleDir],
  sources: ["el6-xen.ts", "kernel-modules.ts"],
  diskCount: 1,
  build,
  expected: {
    osType: "linux",
    distro: "centos",
    productName: "CentOS release 6.10 (Final)",
    majorVersion: 6,
    minorVersion: 10,
    arch: "x86_64",
    hostname: "web01.example.com",
    packageFormat: "rpm",
    packageManagement: "yum",
    osinfo: "centos6.10",
    root: "/dev/sda1",
    mountpoints: { "/": "/dev/sda1" },
    volumeGroups: [],
    filesystems: [
      { device: "/dev/sda1", type: "ext4", uuid: layout.rootUuid, label: "" },
      { device: "/dev/sda2", type: "swap", uuid: layout.swapUuid, label: "" },
    ],
    applications: rpmApplications(el6Packages),
    packageDatabase: { format: "bdb", path: "/var/lib/rpm/Packages" },
    firmware: "bios",
    bootloader: "grub",
    kernels: [
      { version: xenKernel, path: `/boot/vmlinuz-${xenKernel}`, initrd: `/boot/initrd-${xenKernel}.img`, xen: true },
      { version: pvopsKernel, path: `/boot/vmlinuz-${pvopsKernel}`, initrd: `/boot/initramfs-${pvopsKernel}.img`, xen: false },
    ],
    defaultKernel: pvopsKernel,
    hypervisorTools: [
      { hypervisor: "xen", what: "kernel-xen" },
      { hypervisor: "xen", what: "xenblk" },
      { hypervisor: "xen", what: "xennet" },
    ],
    initSystem: "sysv",
    services: ["crond", "httpd", "mysqld", "network", "sshd"],
    interfaces: [
      { name: "eth0", configFile: "/etc/sysconfig/network-scripts/ifcfg-eth0", configFormat: "ifcfg", method: "static", address: "192.0.2.10/24", gateway: "192.0.2.1", mac: "00:16:3e:5d:c7:9e", onBoot: true },
    ],
  },
};
