// KVM from elsewhere (another KVM host, OpenStack, oVirt, Proxmox) — and the driver for guests
// that show no other hypervisor: the guest already drives virtio; the OS plan still settles disk
// names, the console and NIC names for the new host, and nothing of the old one needs undoing.
import type { HVSource } from "../hv-source.js";

export const kvmSource: HVSource = {
  hypervisor: "kvm",
  defaultBus: "virtio",
  describes: (metadata) => metadata.hypervisor === "kvm" || metadata.hypervisor === "qemu",
  leftTraces: (report) => report.hypervisorTools.some((t) => t.hypervisor === "kvm"),
  async unconfigure() {},
};
