import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readDomainXml } from "./domain-xml.js";
import { LibvirtXmlError } from "./errors.js";
import type { GuestSource } from "./guest-source.js";
import { writeDomainXml } from "./write-domain.js";
import { attr, childElements, findPath, firstChild, parseXml } from "./xml.js";

const windows: GuestSource = {
  name: "windows",
  hypervisor: "test",
  genid: undefined,
  memoryBytes: 1024 ** 3,
  vcpus: 1,
  cpu: { vendor: undefined, model: undefined, sockets: undefined, cores: undefined, threads: undefined },
  features: [],
  firmware: "unknown",
  secureBoot: false,
  display: undefined,
  sound: undefined,
  disks: [{ path: "/srv/windows.img", format: "raw", bus: "ide", targetDev: "hda", controller: undefined, slot: undefined }],
  removables: [{ type: "cdrom", bus: "ide", slot: 2, path: "/srv/blank.iso" }],
  nics: [{ kind: "bridge", name: "VM Network", mac: "52:54:00:99:99:99", model: "e1000" }],
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LibvirtXmlError);
    return (err as LibvirtXmlError).code;
  }
  return "no error";
}

const corpus = join(fileURLToPath(new URL("../../..", import.meta.url)), "..", "shared", "corpus", "virt-v2v");

describe("writeDomainXml against virt-v2v's own output", () => {
  // test-cdrom/test-floppy.expected hold the <disk> elements virt-v2v wrote for those inputs.
  it.skipIf(!existsSync(corpus))("disk and removable targets match virt-v2v's for test-cdrom and test-floppy", () => {
    for (const name of ["test-cdrom", "test-floppy"]) {
      const expected = parseXml(`<devices>${readFileSync(join(corpus, `${name}.expected`), "utf8")}</devices>`).root;
      const ours = parseXml(writeDomainXml(readDomainXml(readFileSync(join(corpus, `${name}.xml.in`), "utf8")), { type: "qemu", baseDir: "/srv" })).root;
      const targets = (devices: ReturnType<typeof firstChild>) =>
        childElements(devices!, "disk").map((d) => `${attr(d, "device")}:${attr(firstChild(d, "target"), "dev")}`);
      expect(targets(findPath(ours, "devices")), name).toEqual(targets(expected));
      const buses = (devices: ReturnType<typeof firstChild>) =>
        childElements(devices!, "disk").map((d) => attr(firstChild(d, "target"), "bus") ?? "(default)");
      // virt-v2v leaves the floppy's bus implicit; libvirt's default for fd* is fdc, which we write out.
      expect(buses(findPath(ours, "devices")), name).toEqual(buses(expected).map((b) => (b === "(default)" ? "fdc" : b)));
    }
  });
});

describe("writeDomainXml", () => {
  it("turns IDE disks into virtio and keeps the CD-ROM's index on SATA (virt-v2v's test-cdrom)", () => {
    const xml = writeDomainXml(windows, { type: "qemu" });
    const root = parseXml(xml).root;
    expect(attr(root, "type")).toBe("qemu");
    const [disk, cdrom] = childElements(firstChild(root, "devices")!, "disk");
    expect(attr(firstChild(disk, "target"), "dev")).toBe("vda");
    expect(attr(firstChild(disk, "target"), "bus")).toBe("virtio");
    expect(attr(firstChild(cdrom, "target"), "dev")).toBe("sdc");
    expect(attr(firstChild(cdrom, "target"), "bus")).toBe("sata");
    expect(attr(findPath(root, "os", "type"), "machine")).toBe("q35");
    expect(attr(findPath(root, "devices", "interface", "model"), "type")).toBe("virtio");
    expect(attr(findPath(root, "devices", "interface", "mac"), "address")).toBe("52:54:00:99:99:99");
    expect(attr(findPath(root, "devices", "console", "target"), "type")).toBe("serial");
  });

  it("reads back as the same VM", () => {
    const back = readDomainXml(writeDomainXml({ ...windows, cpu: { ...windows.cpu, sockets: 1, cores: 2, threads: 2 }, vcpus: 4 }, { type: "kvm" }));
    expect(back).toMatchObject({ name: "windows", hypervisor: "kvm", memoryBytes: 1024 ** 3, vcpus: 4, firmware: "bios" });
    expect(back.cpu).toMatchObject({ sockets: 1, cores: 2, threads: 2 });
    expect(back.nics).toEqual([{ kind: "bridge", name: "VM Network", mac: "52:54:00:99:99:99", model: "virtio" }]);
    expect(back.removables).toEqual([{ type: "cdrom", bus: "sata", slot: 2, path: "/srv/blank.iso" }]);
  });

  it("UEFI with secure boot, kept buses and models on i440fx", () => {
    const uefi = readDomainXml(writeDomainXml({ ...windows, firmware: "uefi", secureBoot: true }));
    expect(uefi).toMatchObject({ firmware: "uefi", secureBoot: true, features: ["acpi", "apic", "smm"] });
    const kept = readDomainXml(writeDomainXml(windows, { machine: "pc", diskBus: "keep", nicModel: "keep" }));
    expect(kept.disks[0]).toMatchObject({ bus: "ide", targetDev: "hda" });
    expect(kept.removables[0]).toMatchObject({ bus: "ide", slot: 2 });
    expect(kept.nics[0]?.model).toBe("e1000");
  });

  it("a virtio balloon and RNG unless the guest has no driver for them: then no RNG, and a balloon libvirt does not replace", () => {
    const devices = (xml: string) => firstChild(parseXml(xml).root, "devices")!;
    const all = devices(writeDomainXml(windows, { virtioTransitional: true }));
    expect(attr(firstChild(all, "memballoon"), "model")).toBe("virtio-transitional");
    expect(attr(firstChild(all, "rng"), "model")).toBe("virtio-transitional");
    const none = devices(writeDomainXml(windows, { balloon: false, rng: false }));
    expect(attr(firstChild(none, "memballoon"), "model")).toBe("none");
    expect(firstChild(none, "rng")).toBeUndefined();
  });

  it("disk paths and formats from the options map; relative paths only with a baseDir", () => {
    const mapped = readDomainXml(writeDomainXml({ ...windows, disks: [{ ...windows.disks[0]!, path: "windows.img" }] }, { disks: [{ path: "/var/lib/libvirt/images/w.qcow2", format: "qcow2" }] }));
    expect(mapped.disks[0]).toMatchObject({ path: "/var/lib/libvirt/images/w.qcow2", format: "qcow2" });
    const byPath = readDomainXml(writeDomainXml(windows, { disks: { "/srv/windows.img": { path: "/var/lib/libvirt/images/w.raw" } } }));
    expect(byPath.disks[0]).toMatchObject({ path: "/var/lib/libvirt/images/w.raw", format: "raw" });
    expect(readDomainXml(writeDomainXml(windows, { disks: { __proto__: { path: "/x" } } as Record<string, { path: string }> })).disks[0]?.path).toBe("/srv/windows.img");
    const relative = { ...windows, disks: [{ ...windows.disks[0]!, path: "../images/windows.img" }] };
    expect(codeOf(() => writeDomainXml(relative))).toBe("LIBVIRT_XML_INVALID");
    expect(readDomainXml(writeDomainXml(relative, { baseDir: "/srv/vm" })).disks[0]?.path).toBe("/srv/images/windows.img");
  });

  it("maps source networks to target networks or bridges", () => {
    const mapped = readDomainXml(writeDomainXml(windows, { networks: { "VM Network": { kind: "network", name: "default" } } }));
    expect(mapped.nics).toEqual([{ kind: "network", name: "default", mac: "52:54:00:99:99:99", model: "virtio" }]);
    const odd = { ...windows, nics: [{ kind: "bridge" as const, name: "port group 'α'", mac: undefined, model: undefined }] };
    expect(codeOf(() => writeDomainXml(odd))).toBe("LIBVIRT_XML_INVALID");
    expect(readDomainXml(writeDomainXml(odd, { networks: { "port group 'α'": { kind: "bridge", name: "br0" } } })).nics[0]?.name).toBe("br0");
  });

  it("refuses what libvirt would refuse, with typed errors", () => {
    expect(codeOf(() => writeDomainXml({ ...windows, nics: [{ kind: "network", name: "x", mac: "zz:zz", model: undefined }] }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, nics: [{ kind: "network", name: "x", mac: "01:00:5e:00:00:01", model: undefined }] }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, name: "a/b" }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, name: "bell\u0007" }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, secureBoot: true }, { machine: "pc" }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml(windows, { cdromBus: "ide" }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, disks: [{ ...windows.disks[0]!, path: undefined }] }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, disks: [{ ...windows.disks[0]!, format: "evil'" }] }))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => writeDomainXml({ ...windows, memoryBytes: 5 }))).toBe("LIBVIRT_XML_INVALID");
  });

  it("escapes names and paths instead of breaking the XML", () => {
    const odd = { ...windows, name: "Tom & Jerry's <VM>", disks: [{ ...windows.disks[0]!, path: "/srv/a'b&c.img" }] };
    const back = readDomainXml(writeDomainXml(odd));
    expect(back.name).toBe("Tom & Jerry's <VM>");
    expect(back.disks[0]?.path).toBe("/srv/a'b&c.img");
  });
});
