/** The hypervisor a source VM ran on (virt-v2v's "source hypervisor"). */
export type Hypervisor = "kvm" | "qemu" | "xen" | "vmware" | "vbox" | "hyperv" | "lxc" | "uml" | "openvz" | "bhyve" | "physical" | "test" | "unknown";

export type Firmware = "bios" | "uefi" | "unknown";

/** Disk and removable-media buses, as libvirt names them. */
export type Bus = "ide" | "sata" | "scsi" | "virtio" | "xen" | "usb" | "fdc" | "nvme" | "sd";

export interface SourceDisk {
  /** File or device path (absolute, or as the metadata wrote it when it can't be resolved). */
  path: string | undefined;
  /** Disk format when the metadata says (raw, qcow2, vmdk…). */
  format: string | undefined;
  bus: Bus | undefined;
  /** Target device name when the metadata gives one (xvda, sda, hda…). */
  targetDev: string | undefined;
  /** Controller index and unit/slot on it, when known. */
  controller: number | undefined;
  slot: number | undefined;
  /** Where the data lives, as libvirt's disk `type` says (file, block, network, volume, dir). */
  sourceType?: string | undefined;
  readonly?: boolean | undefined;
}

export interface SourceRemovable {
  type: "cdrom" | "floppy";
  bus: Bus | undefined;
  /** Slot (unit) on the bus, as virt-v2v reports it. */
  slot: number | undefined;
  path: string | undefined;
}

export interface SourceNic {
  kind: "network" | "bridge" | "user";
  /** Network or bridge name (undefined for user networking). */
  name: string | undefined;
  mac: string | undefined;
  /** NIC model (virtio, e1000, rtl8139, vmxnet3, pcnet…). */
  model: string | undefined;
}

export interface SourceCpu {
  vendor: string | undefined;
  model: string | undefined;
  sockets: number | undefined;
  cores: number | undefined;
  threads: number | undefined;
}

/** The normalized VM, whatever described it: what virt-v2v calls the source. */
export interface GuestSource {
  name: string;
  hypervisor: Hypervisor;
  /** VM generation id (Windows guests), when set. */
  genid: string | undefined;
  memoryBytes: number;
  vcpus: number;
  cpu: SourceCpu;
  /** Hypervisor features turned on (acpi, apic, pae…). */
  features: string[];
  firmware: Firmware;
  secureBoot: boolean;
  /** Display (vnc, spice, …) and its listen address, when there is one. */
  display: { type: string; listen: string | undefined; port: number | undefined } | undefined;
  /** Sound card model, when there is one. */
  sound: string | undefined;
  disks: SourceDisk[];
  removables: SourceRemovable[];
  nics: SourceNic[];
  /** Guest OS type as libvirt names it: `hvm` (full virtualization), `xen`/`linux` (Xen PV), `exe`. */
  osType?: string | undefined;
  /** Architecture and machine type the source declared (x86_64, pc-i440fx-…, q35…). */
  arch?: string | undefined;
  machine?: string | undefined;
  /** Xen PV boot: a host-side bootloader (pygrub) or a direct kernel/initrd/cmdline. */
  bootloader?: string | undefined;
  kernel?: string | undefined;
  initrd?: string | undefined;
  cmdline?: string | undefined;
  /** Video adapter model (vga, qxl, cirrus, virtio…), when there is one. */
  video?: string | undefined;
  /** The guest OS as the metadata names it (VMX guestOS, OVF OperatingSystemSection), when it does. */
  guestOs?: string | undefined;
}

/**
 * The CPU as VMware describes it (VMX `cpuid.coresPerSocket`, OVF `vmw:CoresPerSocket`): a core
 * count per socket and no vendor or model; sockets follow from the vCPU count, one thread a core.
 */
export function vmwareCpu(vcpus: number, coresPerSocket: number | undefined): SourceCpu {
  return {
    vendor: undefined,
    model: undefined,
    sockets: coresPerSocket === undefined ? undefined : Math.max(1, Math.floor(vcpus / coresPerSocket)),
    cores: coresPerSocket,
    threads: coresPerSocket === undefined ? undefined : 1,
  };
}
