import type { Application } from "../os/application.js";
import type { BootEntry } from "../os/boot-config.js";
import type { ListeningPort } from "../guestfs/listening-ports.js";
import type { NetworkInterfaceConfig } from "../os/network-config.js";
import type { Distro } from "../os/os-release.js";

/** Everything `inspect` finds out about a guest. Documented field by field in the README. */
export interface InspectionReport {
  source: { kind: "image" | "directory" | "ssh"; location: string[] };
  /** The root filesystem: its device for an image source, `/` otherwise. */
  root: string;
  os: OperatingSystem;
  /** Filesystems mounted by the guest's fstab (and the root), shortest mountpoint first. */
  mountpoints: { device: string; mountpoint: string }[];
  /** Filesystems (and swap) the guest uses, by device. */
  filesystems: { device: string; type?: string; label?: string; uuid?: string }[];
  applications: Application[];
  kernels: InstalledKernel[];
  boot: BootConfiguration | undefined;
  init: InitSystem;
  hypervisorTools: HypervisorTool[];
  services: EnabledService[];
  network: NetworkInterfaceConfig[];
  /** Live sources only: what the running host does now. */
  live?: { listeningPorts: ListeningPort[] };
  /** Facts that could not be read (a corrupt database, a file too large…) — the rest still holds. */
  warnings: string[];
}

export interface OperatingSystem {
  /** virt-inspector's <name>: "linux", or "unknown". */
  type: "linux" | "unknown";
  distro: Distro;
  productName: string | undefined;
  majorVersion: number;
  minorVersion: number;
  /** libosinfo short id, as virt-inspector derives it ("centos6.10", "rhel7.9", "debian12"). */
  osinfo: string;
  arch: string | undefined;
  hostname: string | undefined;
  packageFormat: string | undefined;
  packageManagement: string | undefined;
}

export interface InstalledKernel {
  /** `uname -r` of the kernel (from its file name). */
  version: string;
  /** Guest path of the kernel image. */
  path: string;
  /** Its initrd/initramfs (guest path), if there is one. */
  initrd: string | undefined;
  /** Whether /lib/modules/VERSION exists. */
  modules: boolean;
  /** A Xen (PV) kernel, as el5's kernel-xen. */
  xen: boolean;
}

export interface BootConfiguration {
  loader: "grub" | "grub2" | "grub2-bls";
  /** The configuration file read. */
  config: string;
  entries: BootEntry[];
  default: BootEntry | undefined;
  /** Version of the kernel the default entry boots (from its kernel file name). */
  defaultKernel: string | undefined;
}

export interface InitSystem {
  type: "systemd" | "sysv" | "upstart" | undefined;
  /** systemd: the default target (`multi-user.target`); SysV/upstart: the default runlevel (`3`). */
  default: string | undefined;
}

export interface HypervisorTool {
  hypervisor: "xen" | "vmware" | "virtualbox" | "hyperv" | "kvm";
  /** What it is: a package name, a kernel, a driver alias, a daemon. */
  name: string;
  /** Where we saw it (a guest path, or `package`). */
  evidence: string;
}

export interface EnabledService {
  name: string;
  manager: "systemd" | "sysv" | "upstart";
  /** systemd: the targets that want it; sysv: the runlevels it starts in (`3`). */
  targets: string[];
  /** Started when the guest boots to its default target or runlevel. */
  atBoot: boolean;
}
