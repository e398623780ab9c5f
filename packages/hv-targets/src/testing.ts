// Test support (not exported by the package): the metadata of a minimal VM, for tests that
// need a GuestSource without reading one from a file.
import type { GuestSource } from "@leapp/libvirt-xml";

/** A one-vCPU, 1 GiB BIOS guest with no disks, removables or NICs, and what `overrides` say. */
export function guestSource(overrides: Partial<GuestSource> = {}): GuestSource {
  return {
    name: "g",
    hypervisor: "unknown",
    genid: undefined,
    memoryBytes: 1 << 30,
    vcpus: 1,
    cpu: { vendor: undefined, model: undefined, sockets: undefined, cores: undefined, threads: undefined },
    features: [],
    firmware: "bios",
    secureBoot: false,
    display: undefined,
    sound: undefined,
    disks: [],
    removables: [],
    nics: [],
    ...overrides,
  } as GuestSource;
}
