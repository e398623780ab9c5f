// KVM under libvirt: a domain with the devices the converted guest drives — virtio where its
// kernel has the drivers (transitional devices for kernels before virtio 1.0), SATA/IDE and e1000
// where it has not — its firmware, and a serial console. A guest leapp could not look into keeps
// the buses and NIC models its source had wherever KVM has them: no guessing at its drivers.
import { writeDomainXml, type WriteDomainOptions } from "@leapp/libvirt-xml";
import type { ConfigureContext, HVTarget } from "../hv-target.js";

export const kvmTarget: HVTarget = {
  hypervisor: "kvm",
  configure({ source, name, disks, capabilities, domainType }: ConfigureContext): string {
    const options: WriteDomainOptions = {
      type: domainType ?? "kvm",
      name,
      disks: disks.map((d) => ({ path: d.path, format: d.format })),
      graphics: "vnc",
    };
    if (capabilities) {
      options.machine = capabilities.machine;
      options.firmware = capabilities.firmware;
      options.diskBus = capabilities.blockBus === "virtio-blk" ? "virtio" : capabilities.blockBus;
      options.nicModel = capabilities.netModel;
      options.virtioTransitional = !capabilities.virtio10;
      options.balloon = capabilities.virtioBalloon;
      options.rng = capabilities.virtioRng;
    } else {
      options.diskBus = "keep";
      options.nicModel = "keep";
    }
    return writeDomainXml(source.metadata, options);
  },
};
