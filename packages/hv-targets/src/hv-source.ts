// A hypervisor the guest leaves: how its virtual hardware looked to the guest (disk buses, NICs,
// firmware), and what it left in the guest that the OS plan of @leapp/guestos does not undo.
// One driver per hypervisor (sources/*.ts), all behind this interface.
import type { ConversionTarget } from "@leapp/guestos";
import type { GuestFS, InspectionReport } from "@leapp/inspect";
import type { Bus, GuestSource } from "@leapp/libvirt-xml";
import type { ChangeSet } from "./change-set.js";
import type { Source, SourceHypervisor } from "./types.js";

export interface UnconfigureContext {
  source: Source;
  /** The guest, read-only: drivers read it and put their edits into `changes`. */
  guest: GuestFS;
  report: InspectionReport;
  changes: ChangeSet;
  /** What people must check after the conversion. */
  warnings: string[];
}

export interface HVSource {
  readonly hypervisor: SourceHypervisor;
  /** Whether the metadata says the VM ran on this hypervisor. */
  describes(metadata: GuestSource): boolean;
  /** Whether the guest itself shows it ran here (its tools, drivers, kernels): for bare disks. */
  leftTraces(report: InspectionReport): boolean;
  /** The bus a disk the metadata says nothing about was on (how the guest named it). */
  readonly defaultBus: NonNullable<ConversionTarget["disks"]>[number]["bus"];
  /** Reads the guest and adds the edits and warnings leaving this hypervisor needs beyond the OS plan. */
  unconfigure(context: UnconfigureContext): Promise<void>;
}

/** Source buses as @leapp/guestos names them. */
const guestBus: Partial<Record<Bus, NonNullable<ConversionTarget["disks"]>[number]["bus"]>> = { xen: "xen", scsi: "scsi", ide: "ide", sata: "sata", virtio: "virtio", nvme: "nvme" };

/** What @leapp/guestos must know of the old hardware: each disk's bus, the NICs' MACs, the firmware. */
export function sourceHardware(driver: HVSource, source: Source): ConversionTarget {
  const { metadata } = source;
  return {
    hypervisor: "kvm",
    disks: source.disks.map((d) => ({ bus: (d.bus && guestBus[d.bus]) ?? driver.defaultBus })),
    nics: metadata.nics.filter((n): n is typeof n & { mac: string } => n.mac !== undefined).map((n) => ({ mac: n.mac })),
    ...(metadata.firmware === "bios" || metadata.firmware === "uefi" ? { firmware: metadata.firmware } : {}),
  };
}
