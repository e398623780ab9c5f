// el9-like: a Rocky Linux 9.4 web server as a UEFI KVM guest: GPT with an EFI system partition
// (vfat), ext4 /boot with BootLoaderSpec entries, XFS root; a second disk with the web content
// (ext4 /srv/data); rpmdb.sqlite made by the real rpm; NetworkManager keyfile; fstab by UUID=.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { MiB, splitTree, writeDisk } from "../disk.js";
import { elfExecutableX8664 } from "../elf.js";
import { makeExt4, makeVfat, makeXfs } from "../filesystems.js";
import { el9Packages } from "../rpm-catalog.js";
import { guestSymlink, lines, mkGuestDirs, writeGuestFile } from "../tree.js";
import { rpmApplications, type GuestRecipe } from "./recipe.js";
import { writeRpmdbSqlite } from "./rpmdb.js";

const layout = {
  diskId: "6f3b2a1c-9d8e-4f70-a5b6-c7d8e9f0a1b2",
  diskSize: 450 * MiB,
  espStart: 1 * MiB,
  espSize: 64 * MiB,
  bootStart: 65 * MiB,
  bootSize: 64 * MiB,
  rootStart: 129 * MiB,
  rootSize: 320 * MiB,
  espVolumeId: "A1B2C3D4",
  espPartUuid: "1e5c7a9b-3d2f-4b6a-8c0e-9f1a2b3c4d5e",
  bootPartUuid: "2f6d8b0c-4e3a-4c7b-9d1f-0a2b3c4d5e6f",
  rootPartUuid: "3a7e9c1d-5f4b-4d8c-ae20-1b3c4d5e6f70",
  bootUuid: "7d1e5f3a-8b2c-4e9d-a6f0-3c5b7e9d1f24",
  // The second disk (sdb): one GPT partition holding the web content.
  dataDiskId: "9c4e2a7b-1d3f-4b58-8e6a-0f2d4c6b8a13",
  dataDiskSize: 34 * MiB,
  dataStart: 1 * MiB,
  dataSize: 32 * MiB,
  dataPartUuid: "4b8f0d2e-6a5c-4e9d-bf31-2c4d5e6f7081",
  dataUuid: "5c9a1e3f-7b6d-4f0e-8c42-3d5e6f708192",
  rootUuid: "e2b4d6f8-1a3c-4e5f-9b7d-0c2e4a6b8d13",
};
const espUuid = `${layout.espVolumeId.slice(0, 4)}-${layout.espVolumeId.slice(4)}`;
const machineId = "8e3f6a2b1c4d4e5f9a0b7c6d5e4f3a2b";
const kernels = ["5.14.0-362.24.1.el9_3.x86_64", "5.14.0-427.13.1.el9_4.x86_64"];
const defaultKernel = "5.14.0-427.13.1.el9_4.x86_64";
const hostname = "web03.kvm.example.com";
const services = ["NetworkManager", "nginx", "sshd"];
const cmdline = `root=UUID=${layout.rootUuid} ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M console=tty0 console=ttyS0,115200n8`;

const osRelease = lines(
  'NAME="Rocky Linux"',
  'VERSION="9.4 (Blue Onyx)"',
  'ID="rocky"',
  'ID_LIKE="rhel centos fedora"',
  'VERSION_ID="9.4"',
  'PLATFORM_ID="platform:el9"',
  'PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"',
  'ANSI_COLOR="0;32"',
  'LOGO="fedora-logo-icon"',
  'CPE_NAME="cpe:/o:rocky:rocky:9::baseos"',
  'HOME_URL="https://rockylinux.org/"',
  'BUG_REPORT_URL="https://bugs.rockylinux.org/"',
  'SUPPORT_END="2032-05-31"',
  'ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"',
  'ROCKY_SUPPORT_PRODUCT_VERSION="9.4"',
  'REDHAT_SUPPORT_PRODUCT="Rocky Linux"',
  'REDHAT_SUPPORT_PRODUCT_VERSION="9.4"',
);

/** A PE/COFF stub: EFI binaries start with "MZ" and point at a "PE\0\0" header. */
function efiStub(what: string): Buffer {
  const b = Buffer.alloc(256);
  b.write("MZ", 0, "latin1");
  b.writeUInt32LE(0x80, 0x3c);
  b.write("PE\0\0", 0x80, "latin1");
  b.writeUInt16LE(0x8664, 0x84); // IMAGE_FILE_MACHINE_AMD64
  b.write(`placeholder ${what}`, 0xa0, "latin1");
  return b;
}

function writeTree(root: string): void {
  mkGuestDirs(root, ["/boot/efi/EFI/BOOT", "/boot/efi/EFI/rocky", "/boot/grub2", "/boot/loader/entries", "/dev", "/proc", "/sys", "/run", "/home", "/mnt", "/media", "/opt", "/srv", "/afs", "/root", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/var/log/nginx", "/usr/share/nginx/html", "/etc/NetworkManager/system-connections"]);
  mkGuestDirs(root, ["/tmp", "/var/tmp"], 0o1777);
  chmodSync(join(root, "root"), 0o550);
  chmodSync(join(root, "boot/efi"), 0o700);
  for (const d of ["bin", "sbin", "lib", "lib64"]) guestSymlink(root, `/${d}`, `usr/${d}`);
  for (const bin of ["/usr/bin/bash", "/usr/bin/ls", "/usr/sbin/nginx", "/usr/sbin/sshd", "/usr/sbin/NetworkManager", "/usr/bin/qemu-ga", "/usr/lib/systemd/systemd"]) writeGuestFile(root, bin, elfExecutableX8664(), 0o755);

  writeGuestFile(root, "/etc/rocky-release", "Rocky Linux release 9.4 (Blue Onyx)\n");
  writeGuestFile(root, "/etc/rocky-release-upstream", "Derived from Red Hat Enterprise Linux 9.4\n");
  guestSymlink(root, "/etc/redhat-release", "rocky-release");
  guestSymlink(root, "/etc/system-release", "rocky-release");
  writeGuestFile(root, "/usr/lib/os-release", osRelease);
  guestSymlink(root, "/etc/os-release", "../usr/lib/os-release");
  writeGuestFile(root, "/etc/hostname", `${hostname}\n`);
  writeGuestFile(root, "/etc/machine-id", `${machineId}\n`, 0o444);
  writeGuestFile(root, "/etc/fstab", lines(
    "",
    "#",
    "# /etc/fstab",
    "# Created by anaconda on Mon May  6 09:12:44 2024",
    "#",
    "# Accessible filesystems, by reference, are maintained under '/dev/disk/'.",
    "# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info.",
    "#",
    "# After editing this file, run 'systemctl daemon-reload' to update systemd",
    "# units generated from this file.",
    "#",
    `UUID=${layout.rootUuid} /                       xfs     defaults        0 0`,
    `UUID=${layout.bootUuid} /boot                   ext4    defaults        1 2`,
    `UUID=${espUuid}          /boot/efi               vfat    umask=0077,shortname=winnt 0 2`,
    `UUID=${layout.dataUuid} /srv/data               ext4    defaults,nofail 0 2`,
  ));
  writeGuestFile(root, "/etc/NetworkManager/system-connections/ens3.nmconnection", lines(
    "[connection]", "id=ens3", "uuid=5a9c3e71-2b4d-4f68-8e0a-c1d3b5f7a902", "type=ethernet", "autoconnect=true", "interface-name=ens3", "",
    "[ethernet]", "mac-address=52:54:00:3A:7C:91", "",
    "[ipv4]", "address1=198.51.100.20/24,198.51.100.1", "dns=198.51.100.53;", "method=manual", "",
    "[ipv6]", "addr-gen-mode=eui64", "method=auto", "", "[proxy]",
  ), 0o600);

  // UEFI boot: shim and grub on the ESP, whose grub.cfg hands over to /boot/grub2/grub.cfg.
  writeGuestFile(root, "/boot/efi/EFI/BOOT/BOOTX64.EFI", efiStub("shim"), 0o700);
  writeGuestFile(root, "/boot/efi/EFI/rocky/shimx64.efi", efiStub("shim"), 0o700);
  writeGuestFile(root, "/boot/efi/EFI/rocky/grubx64.efi", efiStub("grub"), 0o700);
  writeGuestFile(root, "/boot/efi/EFI/rocky/grub.cfg", lines(
    `search --no-floppy --fs-uuid --set=dev ${layout.bootUuid}`,
    "set prefix=($dev)/grub2",
    "export $prefix",
    "configfile $prefix/grub.cfg",
  ), 0o700);
  writeGuestFile(root, "/boot/grub2/grub.cfg", lines(
    "### BEGIN /etc/grub.d/00_header ###",
    "set pager=1",
    "if [ -f ${config_directory}/grubenv ]; then",
    "  load_env -f ${config_directory}/grubenv",
    "elif [ -s $prefix/grubenv ]; then",
    "  load_env",
    "fi",
    "set default=\"${saved_entry}\"",
    "### END /etc/grub.d/00_header ###",
    "### BEGIN /etc/grub.d/10_linux ###",
    "insmod part_gpt",
    "insmod ext2",
    `search --no-floppy --fs-uuid --set=root ${layout.bootUuid}`,
    "insmod blscfg",
    "blscfg",
    "### END /etc/grub.d/10_linux ###",
  ));
  writeGuestFile(root, "/boot/grub2/grubenv", (() => {
    const head = `# GRUB Environment Block\n# WARNING: Do not edit this file by tools other than grub-editenv!!!\nsaved_entry=${machineId}-${defaultKernel}\nmenu_auto_hide=1\nboot_success=0\n`;
    return head + "#".repeat(1024 - head.length);
  })());
  writeGuestFile(root, "/etc/default/grub", lines("GRUB_TIMEOUT=5", "GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"", "GRUB_DEFAULT=saved", "GRUB_DISABLE_SUBMENU=true", 'GRUB_TERMINAL_OUTPUT="console"', `GRUB_CMDLINE_LINUX="crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M console=tty0 console=ttyS0,115200n8"`, 'GRUB_DISABLE_RECOVERY="true"', "GRUB_ENABLE_BLSCFG=true"));
  for (const k of kernels) {
    writeGuestFile(root, `/boot/vmlinuz-${k}`, `placeholder Linux kernel image ${k}\n`, 0o755);
    writeGuestFile(root, `/boot/initramfs-${k}.img`, `placeholder initramfs ${k}\n`, 0o600);
    writeGuestFile(root, `/boot/config-${k}`, "CONFIG_VIRTIO_BLK=m\nCONFIG_VIRTIO_NET=m\n");
    writeGuestFile(root, `/usr/lib/modules/${k}/modules.dep`, "kernel/drivers/block/virtio_blk.ko.xz:\nkernel/drivers/net/virtio_net.ko.xz:\n");
    writeGuestFile(root, `/boot/loader/entries/${machineId}-${k}.conf`, lines(
      `title Rocky Linux (${k}) 9.4 (Blue Onyx)`,
      `version ${k}`,
      `linux /vmlinuz-${k}`,
      `initrd /initramfs-${k}.img $tuned_initrd`,
      `options ${cmdline} $tuned_params`,
      "grub_users $grub_users",
      "grub_arg --unrestricted",
      "grub_class rocky",
    ));
  }

  const unit = (description: string, exec: string): string => lines("[Unit]", `Description=${description}`, "After=network.target", "", "[Service]", `ExecStart=${exec}`, "", "[Install]", "WantedBy=multi-user.target");
  writeGuestFile(root, "/usr/lib/systemd/system/sshd.service", unit("OpenSSH server daemon", "/usr/sbin/sshd -D $OPTIONS"));
  writeGuestFile(root, "/usr/lib/systemd/system/nginx.service", unit("The nginx HTTP and reverse proxy server", "/usr/sbin/nginx"));
  writeGuestFile(root, "/usr/lib/systemd/system/NetworkManager.service", unit("Network Manager", "/usr/sbin/NetworkManager --no-daemon"));
  writeGuestFile(root, "/usr/lib/systemd/system/qemu-guest-agent.service", lines("[Unit]", "Description=QEMU Guest Agent", "BindsTo=dev-virtio\\x2dports-org.qemu.guest_agent.0.device", "", "[Service]", "ExecStart=/usr/bin/qemu-ga --method=virtio-serial"));
  writeGuestFile(root, "/usr/lib/systemd/system/multi-user.target", lines("[Unit]", "Description=Multi-User System", "Requires=basic.target"));
  guestSymlink(root, "/etc/systemd/system/default.target", "/usr/lib/systemd/system/multi-user.target");
  for (const s of services) guestSymlink(root, `/etc/systemd/system/multi-user.target.wants/${s}.service`, `/usr/lib/systemd/system/${s}.service`);
  writeGuestFile(root, "/etc/nginx/nginx.conf", lines("user nginx;", "worker_processes auto;", "events { worker_connections 1024; }", "http { server { listen 80; root /usr/share/nginx/html; } }"));
  writeGuestFile(root, "/usr/share/nginx/html/index.html", "<h1>web03</h1>\n");
  writeGuestFile(root, "/srv/data/www/index.html", "<h1>web03 content</h1>\n");
  writeGuestFile(root, "/etc/passwd", lines("root:x:0:0:root:/root:/bin/bash", "nginx:x:992:991:Nginx web server:/var/lib/nginx:/sbin/nologin", "sshd:x:74:74:Privilege-separated SSH:/usr/share/empty.sshd:/sbin/nologin"));
  writeGuestFile(root, "/etc/selinux/config", lines("SELINUX=enforcing", "SELINUXTYPE=targeted"));
}

async function build(dir: string): Promise<void> {
  const root = join(dir, "root");
  const work = join(dir, "work");
  mkdirSync(work);
  mkdirSync(root);
  writeTree(root);
  await writeRpmdbSqlite(root, el9Packages);

  const { dirs, restore } = splitTree(root, ["/", "/boot", "/boot/efi", "/srv/data"], join(work, "split"));
  const dataFs = join(work, "data.ext4");
  makeExt4(dataFs, layout.dataSize, dirs.get("/srv/data")!, { uuid: layout.dataUuid, label: "webdata" });
  const esp = join(work, "esp.vfat");
  makeVfat(esp, layout.espSize, dirs.get("/boot/efi")!, { volumeId: layout.espVolumeId, label: "" });
  const bootFs = join(work, "boot.ext4");
  makeExt4(bootFs, layout.bootSize, dirs.get("/boot")!, { uuid: layout.bootUuid, label: "" });
  const rootFs = join(work, "root.xfs");
  makeXfs(rootFs, layout.rootSize, dirs.get("/")!, { uuid: layout.rootUuid, label: "" }, work);
  restore();
  writeDisk(join(dir, "disk1.raw"), {
    label: "gpt",
    id: layout.diskId,
    size: layout.diskSize,
    partitions: [
      { start: layout.espStart, size: layout.espSize, type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", uuid: layout.espPartUuid, name: "EFI System Partition", content: esp },
      { start: layout.bootStart, size: layout.bootSize, type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", uuid: layout.bootPartUuid, content: bootFs },
      { start: layout.rootStart, size: layout.rootSize, type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", uuid: layout.rootPartUuid, content: rootFs },
    ],
  });
  writeDisk(join(dir, "disk2.raw"), {
    label: "gpt",
    id: layout.dataDiskId,
    size: layout.dataDiskSize,
    partitions: [{ start: layout.dataStart, size: layout.dataSize, type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", uuid: layout.dataPartUuid, content: dataFs }],
  });
}

export const el9PartitionUuids = [layout.espPartUuid, layout.bootPartUuid, layout.rootPartUuid];
export const el9DataPartitionUuid = layout.dataPartUuid;

export const el9Like: GuestRecipe = {
  name: "el9-like",
  tier: "integration",
  inputs: [],
  diskCount: 2,
  build,
  expected: {
    osType: "linux",
    distro: "rocky",
    productName: "Rocky Linux 9.4 (Blue Onyx)",
    majorVersion: 9,
    minorVersion: 4,
    arch: "x86_64",
    hostname,
    packageFormat: "rpm",
    packageManagement: "dnf",
    osinfo: "rocky9",
    root: "/dev/sda3",
    mountpoints: { "/": "/dev/sda3", "/boot": "/dev/sda2", "/boot/efi": "/dev/sda1", "/srv/data": "/dev/sdb1" },
    volumeGroups: [],
    filesystems: [
      { device: "/dev/sda1", type: "vfat", uuid: espUuid, label: "" },
      { device: "/dev/sda2", type: "ext4", uuid: layout.bootUuid, label: "" },
      { device: "/dev/sda3", type: "xfs", uuid: layout.rootUuid, label: "" },
      { device: "/dev/sdb1", type: "ext4", uuid: layout.dataUuid, label: "webdata" },
    ],
    applications: rpmApplications(el9Packages),
    packageDatabase: { format: "sqlite", path: "/var/lib/rpm/rpmdb.sqlite" },
    firmware: "uefi",
    bootloader: "grub2-bls",
    kernels: kernels.map((k) => ({ version: k, path: `/boot/vmlinuz-${k}`, initrd: `/boot/initramfs-${k}.img`, xen: false })),
    defaultKernel,
    hypervisorTools: [{ hypervisor: "kvm", what: "qemu-guest-agent" }],
    initSystem: "systemd",
    services,
    interfaces: [
      { name: "ens3", configFile: "/etc/NetworkManager/system-connections/ens3.nmconnection", configFormat: "keyfile", method: "static", address: "198.51.100.20/24", gateway: "198.51.100.1", mac: "52:54:00:3a:7c:91", onBoot: true },
    ],
  },
};
