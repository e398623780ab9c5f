// The conformance suite every HVSource driver passes: it claims the metadata of its own hypervisor
// and no other's, recognises the traces its hypervisor leaves in a guest, names a disk bus
// @leapp/guestos knows, and its unconfigure only reads the guest (its edits go into the change
// set; the guest — a MemoryGuest over an empty tree — stays as it was).
import { describe, expect, it } from "vitest";
import { InspectError, type InspectionReport } from "@leapp/inspect";
import type { GuestSource, Hypervisor } from "@leapp/libvirt-xml";
import { ChangeSet } from "./change-set.js";
import type { HVSource } from "./hv-source.js";
import { chooseSource, sourceDrivers } from "./sources/index.js";
import { guestSource } from "./testing.js";
import type { Source, SourceHypervisor } from "./types.js";

const metadataHypervisor: Record<SourceHypervisor, Hypervisor> = { xen: "xen", vmware: "vmware", virtualbox: "vbox", kvm: "kvm" };
const toolHypervisor: Record<SourceHypervisor, "xen" | "vmware" | "virtualbox" | "kvm"> = { xen: "xen", vmware: "vmware", virtualbox: "virtualbox", kvm: "kvm" };

function metadata(hypervisor: Hypervisor): GuestSource {
  return guestSource({ hypervisor });
}

function report(tools: InspectionReport["hypervisorTools"]): InspectionReport {
  return {
    source: { kind: "image", location: [] },
    root: "/dev/sda1",
    os: { type: "linux", distro: "debian", productName: undefined, majorVersion: 12, minorVersion: 0, osinfo: "debian12" },
    mountpoints: [],
    filesystems: [],
    applications: [],
    kernels: [],
    boot: undefined,
    init: { type: "systemd", default: undefined },
    hypervisorTools: tools,
    services: [],
    network: [],
    warnings: [],
  } as unknown as InspectionReport;
}

/** A guest with no files at all: reads say "not found", and any write fails the test. */
const emptyGuest = {
  async readFile(path: string): Promise<Uint8Array> {
    throw new InspectError("INSPECT_NOT_FOUND", `${path} not found`);
  },
  async lstat(path: string) {
    throw new InspectError("INSPECT_NOT_FOUND", `${path} not found`);
  },
  async exists() {
    return false;
  },
} as never;

describe.each(sourceDrivers.map((d) => [d.hypervisor, d] as [SourceHypervisor, HVSource]))("HVSource %s", (name, driver) => {
  it("claims its own hypervisor's metadata and no other's", () => {
    for (const other of sourceDrivers) expect(driver.describes(metadata(metadataHypervisor[other.hypervisor]))).toBe(other === driver);
    expect(chooseSource(metadata(metadataHypervisor[name]), undefined)).toBe(driver);
  });

  it("recognises the tools its hypervisor leaves in a guest, and nothing in a guest without any", () => {
    expect(driver.leftTraces(report([{ hypervisor: toolHypervisor[name], name: "tools", evidence: "package" }]))).toBe(true);
    expect(driver.leftTraces(report([]))).toBe(false);
    expect(chooseSource(metadata("unknown" as Hypervisor), report([{ hypervisor: toolHypervisor[name], name: "tools", evidence: "package" }]))).toBe(driver);
  });

  it("names a disk bus @leapp/guestos knows", () => {
    expect(["xen", "scsi", "ide", "sata", "virtio", "nvme"]).toContain(driver.defaultBus);
  });

  it("unconfigures a guest with nothing of its hypervisor without changing anything", async () => {
    const changes = new ChangeSet(emptyGuest, []);
    const warnings: string[] = [];
    const device = { size: 1 << 20, async read(b: Uint8Array) { b.fill(0); } };
    const source = { input: "disk", location: "/x", metadata: metadata("unknown" as Hypervisor), disks: [{ index: 0, name: "x", file: "/x", device, format: "raw", size: 1 << 20, bus: undefined }], trustedBackingDirs: [], close: async () => {} } as unknown as Source;
    await driver.unconfigure({ source, guest: emptyGuest, report: report([]), changes, warnings });
    expect(changes.changes).toEqual([]);
  });
});

it("a guest that shows no hypervisor is KVM's", () => {
  expect(chooseSource(metadata("unknown" as Hypervisor), report([])).hypervisor).toBe("kvm");
});
