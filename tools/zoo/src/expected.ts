// The ground truth each zoo guest carries: what an inspection of it must report. Written by hand per
// guest (never computed by the code under test), in libguestfs's vocabulary where it has one.

export type ZooGuestName = "el6-xen" | "el7-vmware" | "el9-like" | "debian-12" | "debian-xen" | "debian-vmware";
export type ZooContainer = "raw" | "qcow2" | "vmdk" | "vhdx";

/** One filesystem on the guest's disks, as virt-inspector lists it (swap included, LVM PVs not). */
export interface ZooFilesystem {
  /** libguestfs device name: `/dev/sda1`, `/dev/centos/root` (LVs as /dev/VG/LV). */
  device: string;
  /** blkid type: ext4, xfs, vfat, swap. */
  type: "ext2" | "ext3" | "ext4" | "xfs" | "vfat" | "swap";
  /** blkid UUID as printed (lower-case with dashes; vfat as `ABCD-EF01`). */
  uuid: string;
  /** Label, "" when none. */
  label: string;
}

/** A logical volume of a VG, as `lvs` reports it. */
export interface ZooLogicalVolume {
  name: string;
  /** libguestfs name: /dev/VG/LV. */
  device: string;
  /** Bytes. */
  size: number;
  segments: number;
  /** "linear" when every segment has one stripe. */
  layout: "linear" | "striped";
}

/** An LVM2 volume group on the guest's disks. */
export interface ZooVolumeGroup {
  name: string;
  /** PV devices, libguestfs names (/dev/sda2). */
  pvs: string[];
  /** Bytes per extent. */
  extentSize: number;
  lvs: ZooLogicalVolume[];
}

/** An installed package, as the package database holds it. */
export interface ZooApplication {
  name: string;
  /** 0 when the package has no epoch (virt-inspector prints none then). */
  epoch: number;
  version: string;
  release: string;
  /** `x86_64`, `noarch`; for Debian the dpkg architecture (`amd64`, `all`). */
  arch: string;
  summary: string;
}

/** An installed kernel (a `vmlinuz-*` in /boot that the boot loader can reach). */
export interface ZooKernel {
  /** `uname -r` of the kernel: 2.6.32-754.35.1.el6.x86_64. */
  version: string;
  /** Guest path of the image: /boot/vmlinuz-…. */
  path: string;
  /** Guest path of its initrd/initramfs, if there is one. */
  initrd: string | null;
  /** A Xen PV (xenU/el5xen) kernel rather than a generic one. */
  xen: boolean;
}

/** Evidence that the guest carries a hypervisor's tools or paravirtual drivers. */
export interface ZooHypervisorTool {
  hypervisor: "xen" | "vmware" | "kvm" | "virtualbox" | "hyperv";
  /** What: a package name (open-vm-tools), a kernel (kernel-xen), a driver alias (xenblk). */
  what: string;
}

/** A configured network interface (loopback left out). */
export interface ZooInterface {
  name: string;
  /** Guest path of the file that configures it. */
  configFile: string;
  /** ifcfg (RHEL network-scripts), keyfile (NetworkManager), interfaces (Debian ifupdown). */
  configFormat: "ifcfg" | "keyfile" | "interfaces";
  method: "static" | "dhcp";
  /** Address with prefix length for static configuration: 192.0.2.10/24. */
  address: string | null;
  gateway: string | null;
  /** MAC the configuration is bound to, lower-case, or null. */
  mac: string | null;
  onBoot: boolean;
}

/** What an inspection of the guest must report. */
export interface ZooExpected {
  osType: "linux";
  /** libguestfs distro id: centos, rocky, debian. */
  distro: "centos" | "rocky" | "debian";
  /** libguestfs product name: os-release PRETTY_NAME, or the release file's first line when os-release lacks the minor version (CentOS, Debian). */
  productName: string;
  majorVersion: number;
  minorVersion: number;
  arch: "x86_64";
  hostname: string;
  packageFormat: "rpm" | "deb";
  /** libguestfs package management: yum, dnf, apt. */
  packageManagement: "yum" | "dnf" | "apt";
  /** libosinfo short id as libguestfs derives it: centos6.10, centos7.0, rocky9, debian12. */
  osinfo: string;
  /** The root filesystem's device. */
  root: string;
  /** fstab mountpoint → device (libguestfs names, swap and pseudo filesystems left out). */
  mountpoints: Record<string, string>;
  /** LVM2 volume groups (none on most guests). */
  volumeGroups: ZooVolumeGroup[];
  /** Every filesystem, sorted by device name. */
  filesystems: ZooFilesystem[];
  /** Every installed package, sorted by name. */
  applications: ZooApplication[];
  /** Package-database format: BDB `Packages`, `rpmdb.sqlite`, or dpkg `status`. */
  packageDatabase: { format: "bdb" | "sqlite" | "dpkg"; path: string };
  firmware: "bios" | "uefi";
  /** null: no boot loader installed (debian-12 has no kernel either). */
  bootloader: "grub" | "grub2" | "grub2-bls" | null;
  /** Installed kernels, sorted by version text. */
  kernels: ZooKernel[];
  /** Version of the kernel the boot loader starts by default, or null (no kernel installed). */
  defaultKernel: string | null;
  hypervisorTools: ZooHypervisorTool[];
  initSystem: "sysv" | "systemd";
  /**
   * Services started at boot, sorted: sysv — the init scripts with an S link in the default
   * runlevel; systemd — the .service units (name without the suffix) in the default target's
   * .wants folder under /etc/systemd/system.
   */
  services: string[];
  interfaces: ZooInterface[];
}

/** One zoo guest, built and cached. */
export interface ZooGuest {
  name: ZooGuestName;
  container: ZooContainer;
  /** Disk images in guest disk order (every guest so far has one). */
  disks: string[];
  /** The raw disk images the containers were converted from (same order). */
  rawDisks: string[];
  /** The root tree the image was built from, with every filesystem's content in place. */
  rootTree: string;
  expected: ZooExpected;
}
