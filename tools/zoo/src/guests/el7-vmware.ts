// el7-vmware: a CentOS 7.9 application server as VMware ran it — open-vm-tools, systemd, grub2 —
// installed the anaconda default way: MBR, /boot ext4 on sda1, LVM PV on sda2 with VG "centos"
// holding "root" (XFS, in two segments around "swap", as after an lvextend) and "swap"; a later
// second PV on a logical partition (sda5, inside the extended sda3) and an ext4 "home" LV striped
// over both PVs.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MiB, splitTree, writeDisk, type PartitionPlan } from "../disk.js";
import { elfExecutableX8664 } from "../elf.js";
import { makeExt4, makeSwap, makeXfs } from "../filesystems.js";
import { lvExtents, lvSize, pvHeaderArea, type LogicalVolume, type VolumeGroup } from "../lvm2.js";
import { el7Packages } from "../rpm-catalog.js";
import { guestSymlink, lines, mkGuestDirs, writeGuestFile } from "../tree.js";
import { rpmApplications, type GuestRecipe } from "./recipe.js";
import { writeRpmdbBdb } from "./rpmdb.js";

const extent = 4 * MiB;
const layout = {
  diskId: "0x000a8c3f",
  bootStart: 1 * MiB,
  bootSize: 64 * MiB,
  pvStart: 65 * MiB,
  pvSize: 380 * MiB,
  extendedStart: 445 * MiB,
  extendedSize: 26 * MiB,
  pv2Start: 446 * MiB,
  pv2Size: 24 * MiB,
  diskSize: 471 * MiB,
  homeUuid: "61f0b3d8-2c7a-4e95-b1d6-8a4c0e2f7b39",
  bootUuid: "5b6e1f0c-2a7d-4c38-9e41-8d0f3a6b2c57",
  rootUuid: "9f2d7c61-0b3e-4a5f-8c12-e4d7a9b1f036",
  swapUuid: "c4a1e8f2-6d3b-47a9-b0e5-2f8c1d7a9e64",
};

export const el7VolumeGroup: VolumeGroup = {
  name: "centos",
  id: "s7Vq2kLmN4pRt6Wx8Yz0Ab1Cd3Ef5Gh7",
  seqno: 4,
  extentSize: extent,
  creationHost: "localhost.localdomain",
  creationTime: 1605021357,
  pvs: [
    { key: "pv0", id: "Jk2LmN4pQr6StUv8WxYz0AbCd2EfGh4I", device: "/dev/sda2", size: layout.pvSize, peStart: 1 * MiB },
    { key: "pv1", id: "Pq3RsT5uVw7XyZ9aBc1DeF3gHi5JkL7m", device: "/dev/sda5", size: layout.pv2Size, peStart: 1 * MiB },
  ],
  lvs: [
    {
      name: "root",
      id: "Rt1Uv3Wx5Yz7Ab9Cd1Ef3Gh5Ij7Kl9Mn",
      segments: [
        { startExtent: 0, extentCount: 40, stripes: [{ pv: "pv0", startExtent: 0 }] },
        { startExtent: 40, extentCount: 40, stripes: [{ pv: "pv0", startExtent: 48 }] },
      ],
    },
    { name: "swap", id: "Sw2Ap4Lv6Xy8Za0Bc2De4Fg6Hi8Jk0Lm", segments: [{ startExtent: 0, extentCount: 8, stripes: [{ pv: "pv0", startExtent: 40 }] }] },
    // Added later on a second PV, striped over both (lvcreate -i 2 -I 64k).
    {
      name: "home",
      id: "Hm4Ab6Cd8Ef0Gh2Ij4Kl6Mn8Op0Qr2St",
      segments: [{ startExtent: 0, extentCount: 8, stripes: [{ pv: "pv0", startExtent: 88 }, { pv: "pv1", startExtent: 0 }], stripeSize: 128 }],
    },
  ],
};

const kernels = ["3.10.0-1127.el7.x86_64", "3.10.0-1160.el7.x86_64"];
const defaultKernel = "3.10.0-1160.el7.x86_64";
const hostname = "app02.vmw.example.com";
const services = ["httpd", "mariadb", "sshd", "vmtoolsd"];

const osRelease = lines(
  'NAME="CentOS Linux"',
  'VERSION="7 (Core)"',
  'ID="centos"',
  'ID_LIKE="rhel fedora"',
  'VERSION_ID="7"',
  'PRETTY_NAME="CentOS Linux 7 (Core)"',
  'ANSI_COLOR="0;31"',
  'CPE_NAME="cpe:/o:centos:centos:7"',
  'HOME_URL="https://www.centos.org/"',
  'BUG_REPORT_URL="https://bugs.centos.org/"',
  "",
  'CENTOS_MANTISBT_PROJECT="CentOS-7"',
  'CENTOS_MANTISBT_PROJECT_VERSION="7"',
  'REDHAT_SUPPORT_PRODUCT="centos"',
  'REDHAT_SUPPORT_PRODUCT_VERSION="7"',
);

function menuentry(version: string, id: string): string {
  return lines(
    `menuentry 'CentOS Linux (${version}) 7 (Core)' --class centos --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'gnulinux-${version}-advanced-${id}' {`,
    "\tload_video",
    "\tset gfxpayload=keep",
    "\tinsmod gzio",
    "\tinsmod part_msdos",
    "\tinsmod ext2",
    "\tset root='hd0,msdos1'",
    `\tsearch --no-floppy --fs-uuid --set=root ${layout.bootUuid}`,
    `\tlinux16 /vmlinuz-${version} root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet LANG=en_US.UTF-8`,
    `\tinitrd16 /initramfs-${version}.img`,
    "}",
  );
}

/** grub2's environment block: exactly 1 KiB, padded with '#'. */
function grubenv(savedEntry: string): string {
  const head = `# GRUB Environment Block\nsaved_entry=${savedEntry}\n`;
  return head + "#".repeat(1024 - Buffer.byteLength(head));
}

function writeTree(root: string): void {
  mkGuestDirs(root, ["/boot/grub2", "/dev", "/proc", "/sys", "/run", "/mnt", "/media", "/opt", "/srv", "/root", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/var/log/httpd", "/var/lib/mysql", "/var/www/html", "/etc/sysconfig/network-scripts"]);
  mkGuestDirs(root, ["/tmp", "/var/tmp"], 0o1777);
  chmodSync(join(root, "root"), 0o550);
  // CentOS 7 merged /bin, /sbin, /lib, /lib64 into /usr.
  for (const d of ["bin", "sbin", "lib", "lib64"]) guestSymlink(root, `/${d}`, `usr/${d}`);
  for (const bin of ["/usr/bin/bash", "/usr/bin/ls", "/usr/sbin/httpd", "/usr/sbin/sshd", "/usr/libexec/mysqld", "/usr/bin/vmtoolsd", "/usr/lib/systemd/systemd"]) writeGuestFile(root, bin, elfExecutableX8664(), 0o755);
  guestSymlink(root, "/usr/sbin/init", "../lib/systemd/systemd");

  writeGuestFile(root, "/etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n");
  guestSymlink(root, "/etc/redhat-release", "centos-release");
  guestSymlink(root, "/etc/system-release", "centos-release");
  writeGuestFile(root, "/usr/lib/os-release", osRelease);
  guestSymlink(root, "/etc/os-release", "../usr/lib/os-release");
  writeGuestFile(root, "/etc/hostname", `${hostname}\n`);
  writeGuestFile(root, "/etc/machine-id", "4c1d8a2e9b7f46e3a05d6c8b1e2f3a47\n");
  writeGuestFile(root, "/etc/hosts", lines("127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4", "::1         localhost localhost.localdomain localhost6 localhost6.localdomain6"));
  writeGuestFile(root, "/etc/fstab", lines(
    "",
    "#",
    "# /etc/fstab",
    "# Created by anaconda on Tue Nov 10 15:15:57 2020",
    "#",
    "# Accessible filesystems, by reference, are maintained under '/dev/disk'",
    "# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info",
    "#",
    "/dev/mapper/centos-root /                       xfs     defaults        0 0",
    `UUID=${layout.bootUuid} /boot                   ext4    defaults        1 2`,
    "/dev/mapper/centos-swap swap                    swap    defaults        0 0",
    "/dev/mapper/centos-home /home                   ext4    defaults        1 2",
  ));
  writeGuestFile(root, "/etc/sysconfig/network", "# Created by anaconda\n");
  writeGuestFile(root, "/etc/sysconfig/network-scripts/ifcfg-ens192", lines(
    "TYPE=Ethernet", "PROXY_METHOD=none", "BROWSER_ONLY=no", "BOOTPROTO=dhcp", "DEFROUTE=yes", "IPV4_FAILURE_FATAL=no",
    "IPV6INIT=yes", "IPV6_AUTOCONF=yes", "NAME=ens192", "UUID=0f6e1b2c-5d4a-4e8f-9a37-b2c1d0e9f8a7", "DEVICE=ens192", "ONBOOT=yes", "HWADDR=00:50:56:8a:1b:2c",
  ));
  writeGuestFile(root, "/etc/sysconfig/network-scripts/ifcfg-lo", lines("DEVICE=lo", "IPADDR=127.0.0.1", "NETMASK=255.0.0.0", "NETWORK=127.0.0.0", "ONBOOT=yes", "NAME=loopback"));
  writeGuestFile(root, "/etc/default/grub", lines(
    "GRUB_TIMEOUT=5",
    'GRUB_DISTRIBUTOR="$(sed \'s, release .*$,,g\' /etc/system-release)"',
    "GRUB_DEFAULT=saved",
    "GRUB_DISABLE_SUBMENU=true",
    'GRUB_TERMINAL_OUTPUT="console"',
    'GRUB_CMDLINE_LINUX="crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet"',
    'GRUB_DISABLE_RECOVERY="true"',
  ));
  const id = layout.rootUuid;
  writeGuestFile(root, "/boot/grub2/grub.cfg", [
    "#\n# DO NOT EDIT THIS FILE\n#\n# It is automatically generated by grub2-mkconfig using templates\n# from /etc/grub.d and settings from /etc/default/grub\n#\n",
    "### BEGIN /etc/grub.d/00_header ###\nset pager=1\n\nif [ -s $prefix/grubenv ]; then\n  load_env\nfi\nif [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\n   set next_entry=\n   save_env next_entry\n   set boot_once=true\nelse\n   set default=\"${saved_entry}\"\nfi\n",
    "terminal_output console\nset timeout=5\n### END /etc/grub.d/00_header ###\n\n### BEGIN /etc/grub.d/10_linux ###\n",
    ...[...kernels].reverse().map((k) => menuentry(k, id)),
    "### END /etc/grub.d/10_linux ###\n",
  ].join(""), 0o644);
  writeGuestFile(root, "/boot/grub2/grubenv", grubenv(`CentOS Linux (${defaultKernel}) 7 (Core)`));
  guestSymlink(root, "/etc/grub2.cfg", "../boot/grub2/grub.cfg");
  for (const k of kernels) {
    writeGuestFile(root, `/boot/vmlinuz-${k}`, `placeholder Linux kernel image ${k}\n`, 0o755);
    writeGuestFile(root, `/boot/initramfs-${k}.img`, `placeholder initramfs ${k}\n`, 0o600);
    writeGuestFile(root, `/boot/config-${k}`, "CONFIG_VMWARE_PVSCSI=m\nCONFIG_VMXNET3=m\nCONFIG_XFS_FS=m\n");
    writeGuestFile(root, `/boot/System.map-${k}`, "ffffffff81000000 T _text\n");
    writeGuestFile(root, `/usr/lib/modules/${k}/modules.dep`, "kernel/drivers/scsi/vmw_pvscsi.ko.xz:\nkernel/drivers/net/vmxnet3/vmxnet3.ko.xz:\n");
  }

  // systemd: units where the packages put them, enabled by symlinks as systemctl enable makes them.
  const unit = (description: string, exec: string): string => lines("[Unit]", `Description=${description}`, "After=network.target", "", "[Service]", `ExecStart=${exec}`, "", "[Install]", "WantedBy=multi-user.target");
  writeGuestFile(root, "/usr/lib/systemd/system/sshd.service", unit("OpenSSH server daemon", "/usr/sbin/sshd -D $OPTIONS"));
  writeGuestFile(root, "/usr/lib/systemd/system/httpd.service", unit("The Apache HTTP Server", "/usr/sbin/httpd $OPTIONS -DFOREGROUND"));
  writeGuestFile(root, "/usr/lib/systemd/system/mariadb.service", unit("MariaDB database server", "/usr/bin/mysqld_safe --basedir=/usr"));
  writeGuestFile(root, "/usr/lib/systemd/system/vmtoolsd.service", unit("Service for virtual machines hosted on VMware", "/usr/bin/vmtoolsd"));
  writeGuestFile(root, "/usr/lib/systemd/system/multi-user.target", lines("[Unit]", "Description=Multi-User System", "Requires=basic.target"));
  guestSymlink(root, "/etc/systemd/system/default.target", "/usr/lib/systemd/system/multi-user.target");
  for (const s of services) guestSymlink(root, `/etc/systemd/system/multi-user.target.wants/${s}.service`, `/usr/lib/systemd/system/${s}.service`);
  writeGuestFile(root, "/etc/vmware-tools/tools.conf", lines("[logging]", "log = true"));
  writeGuestFile(root, "/etc/httpd/conf/httpd.conf", lines("ServerRoot \"/etc/httpd\"", "Listen 80", "User apache", "Group apache", "DocumentRoot \"/var/www/html\""));
  writeGuestFile(root, "/var/www/html/index.html", "<h1>app02</h1>\n");
  writeGuestFile(root, "/etc/passwd", lines("root:x:0:0:root:/root:/bin/bash", "apache:x:48:48:Apache:/usr/share/httpd:/sbin/nologin", "mysql:x:27:27:MariaDB Server:/var/lib/mysql:/sbin/nologin", "sshd:x:74:74:Privilege-separated SSH:/var/empty/sshd:/sbin/nologin"));
  writeGuestFile(root, "/etc/selinux/config", lines("SELINUX=enforcing", "SELINUXTYPE=targeted"));
  writeGuestFile(root, "/home/admin/.bashrc", lines("# .bashrc", "[ -f /etc/bashrc ] && . /etc/bashrc"));
  writeGuestFile(root, "/home/admin/deploy/README", "Deployment notes for app02.\n");
}

async function build(dir: string): Promise<void> {
  const root = join(dir, "root");
  const work = join(dir, "work");
  mkdirSync(work);
  mkdirSync(root);
  writeTree(root);
  await writeRpmdbBdb(root, el7Packages, work);

  const { dirs, restore } = splitTree(root, ["/", "/boot", "/home"], join(work, "split"));
  const bootFs = join(work, "boot.ext4");
  makeExt4(bootFs, layout.bootSize, dirs.get("/boot")!, { uuid: layout.bootUuid, label: "", features: "^metadata_csum,^64bit,^orphan_file,^metadata_csum_seed" });
  const vg = el7VolumeGroup;
  const lv = (name: string): LogicalVolume => vg.lvs.find((l) => l.name === name)!;
  const rootFs = join(work, "root.xfs");
  // CentOS 7's xfsprogs 4.5: v5 (crc) filesystems, none of the later features.
  makeXfs(rootFs, lvSize(vg, lv("root")), dirs.get("/")!, { uuid: layout.rootUuid, label: "", extra: ["-m", "crc=1,finobt=0,reflink=0,rmapbt=0,bigtime=0,inobtcount=0", "-i", "sparse=0"] }, work);
  const homeFs = join(work, "home.ext4");
  makeExt4(homeFs, lvSize(vg, lv("home")), dirs.get("/home")!, { uuid: layout.homeUuid, label: "", features: "^metadata_csum,^64bit,^orphan_file,^metadata_csum_seed" });
  restore();
  const swap = join(work, "swap");
  makeSwap(swap, lvSize(vg, lv("swap")), { uuid: layout.swapUuid, label: "" });

  // Each PV: its label and metadata area, then the extents of the LVs that live on it.
  const pieces = new Map<string, NonNullable<PartitionPlan["pieces"]>>();
  for (const pv of vg.pvs) {
    const header = join(work, `${pv.key}-header`);
    writeFileSync(header, pvHeaderArea(vg, pv));
    pieces.set(pv.key, [{ file: header, fileOffset: 0, length: pv.peStart, offset: 0 }]);
  }
  for (const [name, image] of [["root", rootFs], ["swap", swap], ["home", homeFs]] as const) {
    for (const e of lvExtents(vg, lv(name))) pieces.get(e.pv.key)!.push({ file: image, fileOffset: e.lvOffset, length: e.length, offset: e.pvOffset });
  }
  writeDisk(join(dir, "disk1.raw"), {
    label: "dos",
    id: layout.diskId,
    size: layout.diskSize,
    partitions: [
      { start: layout.bootStart, size: layout.bootSize, type: "83", bootable: true, content: bootFs },
      { start: layout.pvStart, size: layout.pvSize, type: "8e", pieces: pieces.get("pv0")! },
      // sfdisk makes the partition after the extended one its first logical partition, sda5.
      { start: layout.extendedStart, size: layout.extendedSize, type: "5" },
      { start: layout.pv2Start, size: layout.pv2Size, type: "8e", pieces: pieces.get("pv1")! },
    ],
  });
}

export const el7Vmware: GuestRecipe = {
  name: "el7-vmware",
  tier: "integration",
  inputs: [],
  diskCount: 1,
  build,
  expected: {
    osType: "linux",
    distro: "centos",
    // os-release has no minor version, so libguestfs takes name and version from centos-release.
    productName: "CentOS Linux release 7.9.2009 (Core)",
    majorVersion: 7,
    minorVersion: 9,
    arch: "x86_64",
    hostname,
    packageFormat: "rpm",
    packageManagement: "yum",
    osinfo: "centos7.0",
    root: "/dev/centos/root",
    mountpoints: { "/": "/dev/centos/root", "/boot": "/dev/sda1", "/home": "/dev/centos/home" },
    volumeGroups: [
      {
        name: "centos",
        pvs: ["/dev/sda2", "/dev/sda5"],
        extentSize: extent,
        lvs: [
          { name: "root", device: "/dev/centos/root", size: 320 * MiB, segments: 2, layout: "linear" },
          { name: "swap", device: "/dev/centos/swap", size: 32 * MiB, segments: 1, layout: "linear" },
          { name: "home", device: "/dev/centos/home", size: 32 * MiB, segments: 1, layout: "striped" },
        ],
      },
    ],
    filesystems: [
      { device: "/dev/centos/home", type: "ext4", uuid: layout.homeUuid, label: "" },
      { device: "/dev/centos/root", type: "xfs", uuid: layout.rootUuid, label: "" },
      { device: "/dev/centos/swap", type: "swap", uuid: layout.swapUuid, label: "" },
      { device: "/dev/sda1", type: "ext4", uuid: layout.bootUuid, label: "" },
    ],
    applications: rpmApplications(el7Packages),
    packageDatabase: { format: "bdb", path: "/var/lib/rpm/Packages" },
    firmware: "bios",
    bootloader: "grub2",
    kernels: kernels.map((k) => ({ version: k, path: `/boot/vmlinuz-${k}`, initrd: `/boot/initramfs-${k}.img`, xen: false })),
    defaultKernel,
    hypervisorTools: [{ hypervisor: "vmware", what: "open-vm-tools" }],
    initSystem: "systemd",
    services,
    interfaces: [
      { name: "ens192", configFile: "/etc/sysconfig/network-scripts/ifcfg-ens192", configFormat: "ifcfg", method: "dhcp", address: null, gateway: null, mac: "00:50:56:8a:1b:2c", onBoot: true },
    ],
  },
};
