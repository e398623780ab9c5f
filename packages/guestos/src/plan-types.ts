import type { InitramfsGenerator } from "./initramfs/amend.js";

/** What the converted guest will run on. Everything is optional: the planner picks safe defaults. */
export interface ConversionTarget {
  /** Only KVM (QEMU) today. */
  hypervisor?: "kvm";
  /** The firmware the source booted with, from its metadata, when known. */
  firmware?: "bios" | "uefi";
  /** The source's disks in order, with the bus each was on: the i-th disk becomes the i-th virtio disk. */
  disks?: { bus?: "xen" | "scsi" | "ide" | "sata" | "virtio" | "nvme" }[];
  /** The source's NICs in order; their MACs are kept on the target, so configurations bound to a MAC keep working. */
  nics?: { mac: string }[];
  /** Put the console on the first serial port (console=ttyS0, a getty there). Default true. */
  serialConsole?: boolean;
  /** Install qemu-guest-agent at first boot when the guest lacks it (needs the network). Default false. */
  installGuestAgent?: boolean;
}

/** What the guest can use on KVM: the target's domain is written from this. */
export interface GuestCapabilities {
  /** virtio-blk when the chosen kernel has the driver; IDE (pc) or SATA (q35) otherwise. */
  blockBus: "virtio-blk" | "sata" | "ide";
  netModel: "virtio" | "e1000";
  virtioScsi: boolean;
  virtioRng: boolean;
  virtioBalloon: boolean;
  /** Machine type by the guest's age: q35 for anything with PCIe-era drivers, pc (i440fx) before. */
  machine: "q35" | "pc";
  /** The kernel drives modern (1.0) virtio devices; false: use transitional devices. */
  virtio10: boolean;
  firmware: "bios" | "uefi";
  /** qemu-guest-agent is (or will be) installed: give the domain its channel. */
  guestAgent: boolean;
  /** The guest's console is on the first serial port. */
  serialConsole: boolean;
  /** Linux keeps the RTC in UTC. */
  rtcUtc: true;
}

export interface FileState {
  sha256: string;
  size: number;
}

/** One change a plan makes to the guest's files, with why. */
export type Change =
  | { kind: "edit"; path: string; why: string; before: FileState; content: string }
  | { kind: "create"; path: string; why: string; content: string; mode: number }
  | { kind: "symlink"; path: string; target: string; why: string }
  | { kind: "remove"; path: string; why: string }
  | { kind: "rename"; from: string; to: string; why: string }
  | { kind: "copy"; from: string; path: string; why: string }
  | {
      kind: "initramfs";
      path: string;
      kernel: string;
      why: string;
      before: FileState;
      generator: InitramfsGenerator;
      /** The drivers asked for; `added` are the module files the image gains for them. */
      modules: string[];
      added: string[];
      /** Files of the image that name devices, with the new names (dracut cmdline.d, initramfs-tools resume). */
      texts: { path: string; content: string; why: string }[];
      files: { path: string; size: number; why: string }[];
    };

/** Something the conversion leaves to the guest's first boot on KVM, run once by a service that then removes itself. */
export interface FirstBootAction {
  name: string;
  /** Shell commands (POSIX sh). */
  script: string;
  why: string;
}

/** A package the conversion removes, and when. */
export interface PackageRemoval {
  packages: string[];
  hypervisor: "xen" | "vmware" | "virtualbox";
  /** now: by the conversion (dpkg packages with nothing to run on removal); first-boot: by the guest's own package manager. */
  when: "now" | "first-boot";
  why: string;
}

export type GuestFamily = "rhel" | "debian";

/** Every edit, removal and first-boot action a conversion makes, each with why: the dry run. */
export interface ChangePlan {
  status: "planned";
  os: { family: GuestFamily; distro: string; version: string; osinfo: string; productName: string | undefined };
  /** The kernel the converted guest boots, and the initramfs it boots with. */
  kernel: { version: string; path: string; initrd: string | undefined; wasDefault: boolean };
  capabilities: GuestCapabilities;
  /** Source device name → name on the target (`/dev/xvda` → `/dev/vda`). */
  deviceMap: Record<string, string>;
  changes: Change[];
  packages: PackageRemoval[];
  firstBoot: FirstBootAction[];
  /** Things the conversion cannot settle, for people to check. */
  warnings: string[];
}

/** What `planConversion` returns for disks without an operating system: copy them unchanged. */
export interface NothingToPlan {
  status: "nothing-to-plan";
  reason: "no-os";
  message: string;
}
