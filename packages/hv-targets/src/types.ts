// The values a conversion passes from stage to stage, as virt-v2v's types: the source (metadata
// and disks), the inspection, the conversion decided (which hypervisor the guest leaves, the plan,
// what the guest can use on KVM), and the target (where the disks go, the domain that runs them).
import type { ChangePlan, GuestCapabilities, NothingToPlan } from "@leapp/guestos";
import type { InspectionReport } from "@leapp/inspect";
import type { Bus, GuestSource } from "@leapp/libvirt-xml";
import type { BlockDevice, DiskFormat } from "@leapp/storage";

/** How the source is described: bare disk images, or the metadata of a hypervisor. */
export type InputKind = "disk" | "libvirtxml" | "ova" | "vmx" | "xen";
/** Where the converted guest goes. */
export type OutputKind = "local" | "libvirt" | "qemu" | "null";
/**
 * How the target disks are made, as in virt-v2v: `copy` (standalone images, no backing file),
 * `snapshot` (qcow2 overlays on the untouched source disks), `in-place` (the source disks themselves).
 */
export type StorageStrategy = "copy" | "snapshot" | "in-place";

/** The hypervisors a guest is converted from. */
export type SourceHypervisor = "xen" | "vmware" | "virtualbox" | "kvm";

/** One source disk, opened read-only. */
export interface SourceDisk {
  /** 0 for the first disk (sda on the target), 1 for the second… */
  index: number;
  /** The disk as the user knows it: its file, or `archive.ova:entry` for a disk inside an OVA. */
  name: string;
  /** The host file holding it, when it is a file of its own (snapshot and in-place need one). */
  file: string | undefined;
  device: BlockDevice;
  format: DiskFormat;
  /** Virtual size in bytes. */
  size: number;
  /** The bus the source VM had it on, when the metadata says. */
  bus: Bus | undefined;
}

/** Stage 1: the source VM — its metadata, normalized, and its disks. */
export interface Source {
  input: InputKind;
  /** The metadata file (or, for `disk`, the first image). */
  location: string;
  metadata: GuestSource;
  disks: SourceDisk[];
  /** Directories whose backing files the disks may open (the disks' own, and the caller's). */
  trustedBackingDirs: string[];
  /** Closes the disks. */
  close(): Promise<void>;
}

/** Stage 2: what is inside the guest. */
export interface Inspection {
  /** Undefined when no operating system was found on the disks: they move unchanged. */
  report: InspectionReport | undefined;
  /** Why there is no report. */
  reason?: string;
}

/** Stage 3: the conversion decided, before anything is written. */
export interface Conversion {
  /** The hypervisor the guest leaves (its HVSource driver). */
  from: SourceHypervisor;
  /** The OS plan with the hypervisor drivers' own edits folded in. */
  plan: ChangePlan | NothingToPlan;
  /** What the target domain is written from (defaults that any guest runs on when there is no plan). */
  capabilities: GuestCapabilities | undefined;
  warnings: string[];
}

/** One disk of the target. */
export interface TargetDisk {
  /** Where it ends up (for in-place: the source file itself). */
  path: string;
  format: "qcow2" | "raw";
}

/** Stage 4: where the converted guest is. */
export interface Target {
  name: string;
  output: OutputKind;
  strategy: StorageStrategy;
  disks: TargetDisk[];
  /** The libvirt domain of the converted guest. */
  domainXml: string;
  /** Files written besides the disks (NAME.xml, NAME.sh). */
  files: string[];
}
