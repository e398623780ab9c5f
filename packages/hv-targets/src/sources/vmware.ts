// VMware (ESXi, Workstation). The OS plan removes open-vm-tools and VMware Tools (at first boot,
// by the guest's own package manager) and disables VMware's repositories; what only VMware's
// packaging needs is said here: its "libraries" packages replace core libraries, and removing
// them without installing the distribution's own first breaks the guest (virt-v2v asks yum for
// the replacements; leapp runs nothing in the guest, so people must).
import type { HVSource, UnconfigureContext } from "../hv-source.js";

export const vmwareSource: HVSource = {
  hypervisor: "vmware",
  defaultBus: "scsi",
  describes: (metadata) => metadata.hypervisor === "vmware",
  leftTraces: (report) => report.hypervisorTools.some((t) => t.hypervisor === "vmware"),
  async unconfigure(context: UnconfigureContext) {
    const libraries = context.report.applications.filter((a) => a.name.startsWith("vmware-tools-libraries-")).map((a) => a.name);
    if (libraries.length > 0) {
      context.warnings.push(`${libraries.join(", ")} replace libraries of the distribution: before the first boot removes VMware Tools, install the distribution's own packages that provide the same (yum resolvedep on what rpm -q --provides lists), or the removal fails`);
    }
  },
};
