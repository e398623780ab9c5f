import { describe, expect, it } from "vitest";
import { compareFacts, parsePrintSource } from "./virt-v2v-corpus.js";

describe("parsePrintSource", () => {
  it("reads every line shape virt-v2v prints", () => {
    const facts = parsePrintSource(
      [
        "    source name: x",
        "hypervisor type: kvm",
        "       VM genid: 8312995e-57b8-f814-4013-c1ba795f05ba",
        "         memory: 1073741824 (bytes)",
        "       nr vCPUs: 64",
        "   CPU topology: sockets: 4 cores/socket: 8 threads/core: 2",
        "   CPU features: acpi,apic",
        "disks:",
        '\tjson:{ "file": { "driver": "raw" } } (vmdk) [scsi]',
        "\t0 [virtio-blk]",
        "removable media:",
        "\tCD-ROM [ide] in slot 2",
        "\tFloppy",
        "NICs:",
        '\tNetwork "VM Network" mac: 00:0C:29:36:EF:31 [vmxnet3]',
        '\tBridge "br0" [e1000]',
        "\tUser",
      ].join("\n"),
    );
    expect(facts).toMatchObject({
      name: "x",
      hypervisor: "kvm",
      genid: "8312995e-57b8-f814-4013-c1ba795f05ba",
      memoryBytes: 1073741824,
      vcpus: 64,
      topology: { sockets: 4, cores: 8, threads: 2 },
      features: ["acpi", "apic"],
      secureBoot: undefined,
      disks: [
        { format: "vmdk", bus: "scsi" },
        { label: "0", bus: "virtio" },
      ],
      removables: [
        { type: "cdrom", bus: "ide", slot: 2 },
        { type: "floppy", bus: undefined, slot: undefined },
      ],
      nics: [
        { kind: "network", name: "VM Network", mac: "00:0c:29:36:ef:31", model: "vmxnet3" },
        { kind: "bridge", name: "br0", mac: undefined, model: "e1000" },
        { kind: "user", name: undefined },
      ],
    });
  });

  it("reports each differing fact", () => {
    const expected = parsePrintSource("    source name: a\nhypervisor type: vmware\n         memory: 1 (bytes)\n       nr vCPUs: 1\n       firmware: bios\nNICs:\n\tBridge \"x\" [e1000]\n");
    const result = compareFacts(expected, { name: "b", hypervisor: "vmware", memoryBytes: 1, vcpus: 1, firmware: "uefi", secureBoot: false, disks: [], removables: [], nics: [{ kind: "network", name: "x", mac: null, model: "e1000" }] });
    expect(result.mismatches).toEqual(['name: expected "a", got "b"', 'firmware: expected "bios", got "uefi"', 'NIC 0 kind: expected "bridge", got "network"']);
  });
});
