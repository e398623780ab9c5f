// The KVM domain follows what the guest's kernel drives: virtio balloon and RNG only with their drivers.
import { describe, expect, it } from "vitest";
import type { GuestCapabilities } from "@leapp/guestos";
import { readDomainXml, type GuestSource } from "@leapp/libvirt-xml";
import { guestSource } from "../testing.js";
import type { Source } from "../types.js";
import { kvmTarget } from "./kvm.js";

const metadata = guestSource({
  name: "web01",
  hypervisor: "xen",
  disks: [{ path: "/srv/web01.img", format: "raw", bus: "xen", targetDev: "xvda", controller: undefined, slot: undefined }],
} as Partial<GuestSource>);
const source = { input: "libvirtxml", location: "/srv/web01.xml", metadata, disks: [], trustedBackingDirs: [], close: async () => {} } as unknown as Source;

const el6: GuestCapabilities = { blockBus: "virtio-blk", netModel: "virtio", virtioScsi: true, virtioRng: true, virtioBalloon: true, machine: "q35", virtio10: false, firmware: "bios", guestAgent: false, serialConsole: true, rtcUtc: true };

function domain(caps: GuestCapabilities): string {
  return kvmTarget.configure({ source, name: "web01", disks: [{ path: "/out/web01-sda", format: "qcow2" }], capabilities: caps });
}

describe("kvm target", () => {
  it("gives a guest with the drivers a transitional virtio balloon and RNG", () => {
    const xml = domain(el6);
    expect(xml).toContain("<memballoon model='virtio-transitional'/>");
    expect(xml).toMatch(/<rng model='virtio-transitional'>/);
    expect(readDomainXml(xml).disks[0]).toMatchObject({ bus: "virtio", path: "/out/web01-sda" });
  });

  it("gives a kernel without virtio_rng no RNG, and one without virtio_balloon no balloon (libvirt would add one)", () => {
    const xml = domain({ ...el6, virtioRng: false, virtioBalloon: false });
    expect(xml).toContain("<memballoon model='none'/>");
    expect(xml).not.toContain("<rng");
  });
});
