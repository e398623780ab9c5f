import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { confineHref, parseOvf, readOvf, unitBytes } from "./ovf.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof LibvirtXmlError) return err.code;
    throw err;
  }
}

// The shape VirtualBox 7 writes with "Export Appliance" (OVF 1.0): a SATA (AHCI) controller,
// MegaBytes memory, capacities in plain bytes, and its own machine settings in <vbox:Machine>.
const virtualBox = `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="debian12-disk001.vmdk"/>
    <File ovf:id="file2" ovf:href="debian12-disk002.vmdk"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="21474836480" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" vbox:uuid="0c5ee4e8-4a4a-4b6d-9b0e-0a7d7b7c1f01"/>
    <Disk ovf:capacity="8" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="debian12">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="96">
      <Info>The kind of installed guest operating system</Info>
      <Description>Debian_64</Description>
      <vbox:OSType ovf:required="false">Debian_64</vbox:OSType>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>debian12</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Caption>2 virtual CPU</rasd:Caption>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:Caption>2048 MB of memory</rasd:Caption>
        <rasd:ElementName>2048 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>ideController0</rasd:Caption>
        <rasd:ElementName>ideController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>sataController0</rasd:Caption>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
        <rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:Caption>disk1</rasd:Caption>
        <rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:Caption>disk2</rasd:Caption>
        <rasd:ElementName>disk2</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk2</rasd:HostResource>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>cdrom1</rasd:Caption>
        <rasd:ElementName>cdrom1</rasd:ElementName>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>15</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
    <vbox:Machine ovf:required="false" version="1.19-linux" uuid="{6d5c2f4e-8a41-4b3c-9f4e-6c1d2b3a4f50}" name="debian12" OSType="Debian_64">
      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>
      <Hardware>
        <CPU count="2"/>
        <Memory RAMSize="2048"/>
        <Firmware type="EFI"/>
      </Hardware>
    </vbox:Machine>
  </VirtualSystem>
</Envelope>
`;

describe("readOvf, VirtualBox flavour", () => {
  it("reads CPUs, MegaBytes memory, SATA disks, the IDE CD-ROM, the NIC and EFI firmware", () => {
    const d = parseOvf(virtualBox, { baseDir: "/exports/" });
    expect(d.source).toMatchObject({ name: "debian12", guestOs: "Debian_64", hypervisor: "vbox", vcpus: 2, memoryBytes: 2048 * 1024 ** 2, firmware: "uefi", secureBoot: false });
    expect(d.source.disks).toEqual([
      { path: "/exports/debian12-disk001.vmdk", format: "vmdk", bus: "sata", targetDev: undefined, controller: 0, slot: 0 },
      { path: "/exports/debian12-disk002.vmdk", format: "vmdk", bus: "sata", targetDev: undefined, controller: 0, slot: 1 },
    ]);
    expect(d.diskCapacities).toEqual([21474836480, 8 * 1024 ** 3]);
    expect(d.source.removables).toEqual([{ type: "cdrom", bus: "ide", slot: 1, path: undefined }]);
    expect(d.source.nics).toEqual([{ kind: "bridge", name: "NAT", mac: undefined, model: "e1000" }]);
  });
});

// VMware's flavour (ovftool): byte * 2^20 memory, a SCSI controller, vmw:Config firmware and secure boot.
const vmware = (extra = "", href = "web-disk1.vmdk") => `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References><File ovf:href="${href}" ovf:id="file1" ovf:size="1024"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:capacity="40960" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="web">
    <Info>A virtual machine</Info>
    <Name>web</Name>
    <VirtualHardwareSection>
      <Info>hw</Info>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity><vmw:CoresPerSocket ovf:required="false">2</vmw:CoresPerSocket></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>8192</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>3</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Address>00:50:56:AB:CD:EF</rasd:Address><rasd:Connection>VM Network</rasd:Connection><rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <Item ovf:required="false"><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:InstanceID>8</rasd:InstanceID><rasd:ResourceType>14</rasd:ResourceType></Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
      <vmw:Config ovf:required="false" vmw:key="uefi.secureBoot.enabled" vmw:value="true"/>
      ${extra}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;

describe("readOvf, VMware flavour", () => {
  it("reads topology, byte * 2^20 memory, controller buses, MAC, floppy, EFI with secure boot", () => {
    const d = parseOvf(vmware());
    expect(d.source).toMatchObject({ name: "web", hypervisor: "vmware", vcpus: 4, memoryBytes: 8 * 1024 ** 3, firmware: "uefi", secureBoot: true });
    expect(d.source.cpu).toMatchObject({ sockets: 2, cores: 2, threads: 1 });
    expect(d.source.disks.map((x) => [x.path, x.format, x.bus, x.slot])).toEqual([
      ["web-disk1.vmdk", "vmdk", "scsi", 3],
      [undefined, undefined, "nvme", 0],
    ]);
    expect(d.diskCapacities[0]).toBe(40 * 1024 ** 3);
    expect(d.source.nics).toEqual([{ kind: "bridge", name: "VM Network", mac: "00:50:56:ab:cd:ef", model: "vmxnet3" }]);
    expect(d.source.removables).toEqual([{ type: "floppy", bus: "fdc", slot: 0, path: undefined }]);
  });

  it("knows the programmatic units", () => {
    expect(unitBytes("byte * 2^20")).toBe(1024 ** 2);
    expect(unitBytes("byte*2^30")).toBe(1024 ** 3);
    expect(unitBytes("byte * 10^3")).toBe(1000);
    expect(unitBytes("MegaBytes")).toBe(1024 ** 2);
    expect(unitBytes("GB")).toBe(1024 ** 3);
    expect(unitBytes("byte")).toBe(1);
    expect(unitBytes("furlongs")).toBeUndefined();
    expect(unitBytes("byte * 2^99")).toBeUndefined();
  });
});

describe("hostile OVF", () => {
  it("refuses file references outside the descriptor's directory", () => {
    expect(codeOf(() => readOvf(vmware("", "../../etc/shadow")))).toBe("LIBVIRT_XML_PATH_ESCAPE");
    expect(codeOf(() => readOvf(vmware("", "/etc/shadow")))).toBe("LIBVIRT_XML_PATH_ESCAPE");
    expect(codeOf(() => readOvf(vmware("", "disks/..\\..\\x.vmdk")))).toBe("LIBVIRT_XML_PATH_ESCAPE");
    expect(codeOf(() => readOvf(vmware("", "https://example.invalid/x.vmdk")))).toBe("LIBVIRT_XML_UNSUPPORTED");
    expect(confineHref("./disks//a.vmdk")).toBe("disks/a.vmdk");
  });

  it("never expands or fetches entities", () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Envelope><VirtualSystem><Name>&c;</Name></VirtualSystem></Envelope>`;
    expect(codeOf(() => readOvf(laughs))).toBe("LIBVIRT_XML_ENTITY");
    const external = `<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]><Envelope><VirtualSystem><Name>&x;</Name></VirtualSystem></Envelope>`;
    expect(codeOf(() => readOvf(external))).toBe("LIBVIRT_XML_ENTITY");
    expect(codeOf(() => readOvf(vmware().replace("<Name>web</Name>", "<Name>&undeclared;</Name>")))).toBe("LIBVIRT_XML_ENTITY");
  });

  it("refuses malformed XML, huge attributes and wrong documents", () => {
    expect(codeOf(() => readOvf(vmware().replace("</VirtualSystem>", "")))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => readOvf(vmware(`<vmw:Config vmw:key="x" vmw:value="${"A".repeat(200_000)}"/>`)))).toBe("LIBVIRT_XML_TOO_LARGE");
    expect(codeOf(() => readOvf("<domain type='kvm'><name>x</name></domain>"))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readOvf(vmware().replace("byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2", "parsecs</rasd:AllocationUnits><rasd:InstanceID>2")))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readOvf(vmware().replace("<rasd:VirtualQuantity>8192", "<rasd:VirtualQuantity>99999999999999999")))).toBe("LIBVIRT_XML_INVALID");
  });
});

describe("bounded work on hostile OVF", () => {
  it("rejects deep nesting, node floods and oversized documents quickly", () => {
    const started = Date.now();
    expect(codeOf(() => readOvf(`<Envelope>${"<a>".repeat(5000)}${"</a>".repeat(5000)}</Envelope>`))).toBe("LIBVIRT_XML_TOO_LARGE");
    expect(codeOf(() => readOvf(`<Envelope>${"<b/>".repeat(600_000)}</Envelope>`))).toBe("LIBVIRT_XML_TOO_LARGE");
    expect(codeOf(() => readOvf(`<Envelope>${" ".repeat(17 * 1024 * 1024)}</Envelope>`))).toBe("LIBVIRT_XML_TOO_LARGE");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

function outcome(text: string): void {
  try {
    const s = readOvf(text);
    expect(typeof s.name).toBe("string");
    expect(Number.isSafeInteger(s.memoryBytes)).toBe(true);
  } catch (err) {
    if (!(err instanceof LibvirtXmlError)) throw err;
  }
}

const corpus = join(fileURLToPath(new URL("../../..", import.meta.url)), "..", "shared", "corpus", "virt-v2v");
const seeds = [virtualBox, vmware(), ...(existsSync(corpus) ? readdirSync(corpus).filter((f) => f.endsWith(".ovf")).slice(0, 3).map((f) => readFileSync(join(corpus, f), "utf8")) : [])];

describe("OVF fuzzing", () => {
  it("mutated real descriptors", () => {
    const mutation = fc.record({
      seed: fc.nat({ max: seeds.length - 1 }),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.constantFrom("<", ">", "/", "&", "&amp;", '"', "0", "-1", "99999999999999999999", "ovf:", "Item", "17", "</Item>", "x"), fc.nat({ max: 40 })), { minLength: 1, maxLength: 6 }),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let text = seeds[seed]!;
        for (const [at, kind, token, len] of edits) {
          const i = at % (text.length + 1);
          text = kind === 0 ? text.slice(0, i) + token + text.slice(i) : kind === 1 ? text.slice(0, i) + text.slice(i + len) : text.slice(0, i) + token + text.slice(i + token.length);
        }
        outcome(text);
      }),
      { numRuns: 600 },
    );
  });

  it("random text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => outcome(s)), { numRuns: 1000 });
  });
});
