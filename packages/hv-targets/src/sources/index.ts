import type { InspectionReport } from "@leapp/inspect";
import type { GuestSource } from "@leapp/libvirt-xml";
import type { HVSource } from "../hv-source.js";
import { kvmSource } from "./kvm.js";
import { virtualboxSource } from "./virtualbox.js";
import { vmwareSource } from "./vmware.js";
import { xenSource } from "./xen.js";

/** Every HVSource driver; KVM last, as the one for guests that show no other hypervisor. */
export const sourceDrivers: readonly HVSource[] = [xenSource, vmwareSource, virtualboxSource, kvmSource];

/**
 * The hypervisor the guest leaves: the one its metadata names, else (bare disks, or metadata that
 * does not say) the one whose traces inspection found in the guest, else KVM.
 */
export function chooseSource(metadata: GuestSource, report: InspectionReport | undefined): HVSource {
  return sourceDrivers.find((d) => d.describes(metadata)) ?? (report && sourceDrivers.find((d) => d.leftTraces(report))) ?? kvmSource;
}
