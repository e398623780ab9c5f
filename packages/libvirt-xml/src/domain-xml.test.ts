import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { deviceLetters, parseDomainXml, readDomainXml, serializeDomainXml, slotFromDeviceName } from "./domain-xml.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const corpus = join(repoRoot, "..", "shared", "corpus", "virt-v2v");
const haveCorpus = existsSync(corpus);
const corpusFile = (name: string) => readFileSync(join(corpus, name), "utf8");

describe("readDomainXml against virt-v2v --print-source", () => {
  it.skipIf(!haveCorpus)("test-print-source: every fact virt-v2v printed", () => {
    const expected = corpusFile("test-print-source.expected");
    const fact = (label: string) => new RegExp(`^\\s*${label}: ?(.*)$`, "m").exec(expected)?.[1]?.trim();
    const s = readDomainXml(corpusFile("test-print-source.xml.in"));
    expect(s.name).toBe(fact("source name"));
    expect(s.hypervisor).toBe(fact("hypervisor type"));
    expect(s.genid ?? "").toBe(fact("VM genid"));
    expect(`${s.memoryBytes} (bytes)`).toBe(fact("memory"));
    expect(String(s.vcpus)).toBe(fact("nr vCPUs"));
    expect(s.cpu.vendor).toBe(fact("CPU vendor"));
    expect(s.cpu.model).toBe(fact("CPU model"));
    expect(`sockets: ${s.cpu.sockets} cores/socket: ${s.cpu.cores} threads/core: ${s.cpu.threads}`).toBe(fact("CPU topology"));
    expect(s.features.join(",")).toBe(fact("CPU features"));
    expect(s.firmware).toBe(fact("firmware"));
    expect(String(s.secureBoot)).toBe(fact("UEFI secureboot"));
    expect(s.display).toBeUndefined();
    expect(s.sound).toBeUndefined();
    expect(s.disks.map((d) => d.bus)).toEqual(["virtio"]);
    expect(expected).toContain("0 [virtio-blk]");
    expect(s.removables).toEqual([]);
    const nic = s.nics[0];
    expect(`Network "${nic?.name}" mac: ${nic?.mac} [${nic?.model}]`).toBe(/^\s*(Network .*)$/m.exec(expected)?.[1]);
  });

  it.skipIf(!haveCorpus)("removable media: cdrom on ide slot 2, floppy in slot 0 without a bus", () => {
    const cdrom = readDomainXml(corpusFile("test-cdrom.xml.in"));
    expect(cdrom.hypervisor).toBe("test");
    expect(cdrom.disks).toMatchObject([{ bus: "ide", targetDev: "hda", format: "raw" }]);
    expect(cdrom.removables).toMatchObject([{ type: "cdrom", bus: "ide", slot: 2 }]);
    const floppy = readDomainXml(corpusFile("test-floppy.xml.in"));
    expect(floppy.removables).toEqual([{ type: "floppy", bus: undefined, slot: 0, path: "@abs_top_builddir@/test-data/phony-guests/blank-disk.img" }]);
  });

  it.skipIf(!haveCorpus)("NICs keep kind, name, MAC and model in device order", () => {
    const s = readDomainXml(corpusFile("test-networks-and-bridges.xml.in"));
    expect(s.nics.map((n) => `${n.kind}:${n.name}:${n.mac}:${n.model}`)).toEqual([
      "bridge:VM Network:52:54:00:99:99:99:e1000",
      "bridge:bob:52:54:00:01:02:03:e1000",
      "network:default:52:54:00:01:02:04:virtio",
      "network:john:52:54:00:01:02:05:virtio",
      "network:paul:52:54:00:01:02:06:virtio",
      "network:george:52:54:00:01:02:07:rtl8139",
      "network:ringo:52:54:00:01:02:08:virtio",
    ]);
    expect(readDomainXml(corpusFile("test-sound.xml.in")).sound).toBe("ich9");
    expect(readDomainXml(corpusFile("test-rhbz1232192.xml.in")).disks.map((d) => d.targetDev)).toEqual(["hda", "hdb"]);
  });
});

describe("readDomainXml: hypervisor flavours", () => {
  it("Xen PV with pygrub and xen disks", () => {
    const s = readDomainXml(`<domain type='xen' id='3'>
      <name>pv-guest</name><uuid>4f9c3e4c-7a5b-4b4e-8a7a-1f2e3d4c5b6a</uuid>
      <memory unit='KiB'>524288</memory><vcpu placement='static'>2</vcpu>
      <bootloader>/usr/lib/xen/bin/pygrub</bootloader>
      <os><type arch='x86_64' machine='xenpv'>linux</type></os>
      <devices>
        <disk type='block' device='disk'><driver name='phy'/><source dev='/dev/vg/pv-root'/><target dev='xvda' bus='xen'/></disk>
        <interface type='bridge'><mac address='00:16:3e:11:22:33'/><source bridge='xenbr0'/><script path='vif-bridge'/></interface>
        <console type='pty'><target type='xen' port='0'/></console>
      </devices></domain>`);
    expect(s).toMatchObject({ hypervisor: "xen", osType: "linux", bootloader: "/usr/lib/xen/bin/pygrub", memoryBytes: 512 * 1024 ** 2, vcpus: 2 });
    expect(s.disks).toEqual([{ path: "/dev/vg/pv-root", format: undefined, bus: "xen", targetDev: "xvda", controller: undefined, slot: undefined, sourceType: "block", readonly: false }]);
    expect(s.nics).toEqual([{ kind: "bridge", name: "xenbr0", mac: "00:16:3e:11:22:33", model: undefined }]);
  });

  it("Xen PV with a direct kernel, Xen HVM with hvmloader", () => {
    const pv = readDomainXml(`<domain type='xen'><name>k</name><memory unit='MiB'>256</memory>
      <os><type>xen</type><kernel>/boot/vmlinuz-xen</kernel><initrd>/boot/initrd-xen</initrd><cmdline>root=/dev/xvda1 ro</cmdline></os></domain>`);
    expect(pv).toMatchObject({ osType: "xen", kernel: "/boot/vmlinuz-xen", initrd: "/boot/initrd-xen", cmdline: "root=/dev/xvda1 ro", memoryBytes: 256 * 1024 ** 2 });
    const hvm = readDomainXml(`<domain type='xen'><name>h</name><memory>1048576</memory>
      <os><type>hvm</type><loader type='rom'>/usr/lib/xen/boot/hvmloader</loader><boot dev='hd'/></os>
      <devices><disk type='file' device='disk'><source file='/var/lib/xen/images/h.img'/><target dev='hda' bus='ide'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
      <interface type='bridge'><source bridge='xenbr0'/><model type='e1000'/></interface>
      <graphics type='vnc' port='5901' listen='0.0.0.0'/></devices></domain>`);
    expect(hvm).toMatchObject({ osType: "hvm", firmware: "bios", display: { type: "vnc", port: 5901, listen: "0.0.0.0" } });
    expect(hvm.removables).toEqual([{ type: "cdrom", bus: "ide", slot: 2, path: undefined }]);
  });

  it("KVM with UEFI secure boot from os firmware features, q35, spice", () => {
    const s = readDomainXml(`<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
      <name>uefi</name><genid>e9392370-2917-565e-692b-d057f46512d6</genid><memory unit='GiB'>4</memory><vcpu>4</vcpu>
      <os firmware='efi'><type arch='x86_64' machine='pc-q35-8.2'>hvm</type>
        <firmware><feature enabled='yes' name='secure-boot'/><feature enabled='yes' name='enrolled-keys'/></firmware></os>
      <cpu mode='host-passthrough'/>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/v/uefi.qcow2'/><target dev='sda' bus='sata'/><address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>
        <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>
        <interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface>
        <interface type='direct'><source dev='eth0' mode='bridge'/></interface>
        <graphics type='spice' autoport='yes' port='-1'><listen type='address' address='127.0.0.1'/></graphics>
        <sound model='ich9'/><video><model type='qxl'/></video>
      </devices><qemu:commandline/></domain>`);
    expect(s).toMatchObject({ firmware: "uefi", secureBoot: true, memoryBytes: 4 * 1024 ** 3, machine: "pc-q35-8.2", genid: "e9392370-2917-565e-692b-d057f46512d6", video: "qxl", sound: "ich9" });
    expect(s.display).toEqual({ type: "spice", listen: "127.0.0.1", port: undefined });
    expect(s.disks[0]).toMatchObject({ bus: "sata", controller: 0, slot: 1, format: "qcow2" });
    expect(s.removables).toEqual([{ type: "cdrom", bus: "sata", slot: 1, path: undefined }]);
    expect(s.nics).toEqual([{ kind: "user", name: undefined, mac: "52:54:00:aa:bb:cc", model: "virtio" }]);
  });

  it("UEFI from a pflash loader with secure='yes'; VMware domains", () => {
    const s = readDomainXml(`<domain type='kvm'><name>p</name><memory unit='bytes'>1073741824</memory>
      <os><type>hvm</type><loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader><nvram>/v/p_VARS.fd</nvram></os></domain>`);
    expect(s).toMatchObject({ firmware: "uefi", secureBoot: true, memoryBytes: 1073741824 });
    expect(readDomainXml("<domain type='kvm'><name>n</name><os><type>hvm</type><nvram>/v/n_VARS.fd</nvram></os></domain>").firmware).toBe("uefi");
    const vmw = readDomainXml(`<domain type='vmware'><name>esx</name><memory>2097152</memory><vcpu>2</vcpu>
      <os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='[datastore1] esx/esx.vmdk'/><target dev='sda' bus='scsi'/><address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>
      <controller type='scsi' index='0' model='vmpvscsi'/><interface type='bridge'><mac address='00:50:56:a1:b2:c3'/><source bridge='VM Network'/><model type='vmxnet3'/></interface></devices></domain>`);
    expect(vmw).toMatchObject({ hypervisor: "vmware", memoryBytes: 2 * 1024 ** 3 });
    expect(vmw.disks[0]).toMatchObject({ path: "[datastore1] esx/esx.vmdk", bus: "scsi", slot: 0 });
    expect(vmw.nics[0]).toMatchObject({ kind: "bridge", name: "VM Network", model: "vmxnet3" });
  });

  it("virt-v2v's edge cases: srN slots, sourceless disks and NICs, bridge='', zero MACs, aio", () => {
    const s = readDomainXml(`<domain type='vmware'><name>e</name><memory>1024</memory><devices>
      <disk type='file' device='disk'><driver name='tap' type='aio'/><source file='/x.img'/><target dev='xvda'/></disk>
      <disk type='file' device='disk'><target dev='xvdb'/></disk>
      <disk type='block' device='cdrom'><target dev='sr1'/></disk>
      <interface type='bridge'><source bridge=''/><mac address='00:00:00:00:00:00'/></interface>
      <interface type='network'><mac address='52:54:00:00:00:09'/></interface>
      <interface type='bridge'><source bridge='VM Network'/></interface>
      <graphics type='vnc' autoport='yes' port='5900' listen='0.0.0.0'><listen type='address' address='127.0.0.1'/></graphics>
    </devices></domain>`);
    expect(s.disks.map((d) => [d.path, d.format])).toEqual([["/x.img", "raw"]]);
    expect(s.removables).toEqual([{ type: "cdrom", bus: undefined, slot: 1, path: undefined }]);
    expect(s.nics).toEqual([
      { kind: "bridge", name: "eth0", mac: undefined, model: undefined },
      { kind: "bridge", name: "VM Network", mac: undefined, model: undefined },
    ]);
    expect(s.display).toEqual({ type: "vnc", listen: "127.0.0.1", port: undefined });
  });

  it("typed errors for broken facts", () => {
    const bad = (xml: string) => {
      try {
        readDomainXml(xml);
      } catch (err) {
        expect(err).toBeInstanceOf(LibvirtXmlError);
        return (err as LibvirtXmlError).code;
      }
      return "no error";
    };
    expect(bad("<domain type='kvm'><memory>1</memory></domain>")).toBe("LIBVIRT_XML_INVALID");
    expect(bad("<domain><name>x</name><memory unit='furlongs'>1</memory></domain>")).toBe("LIBVIRT_XML_INVALID");
    expect(bad("<domain><name>x</name><memory>99999999999999999</memory></domain>")).toBe("LIBVIRT_XML_INVALID");
    expect(bad("<domain><name>x</name><vcpu>-1</vcpu></domain>")).toBe("LIBVIRT_XML_INVALID");
    expect(bad("<domain><name>x</name><cpu><topology sockets='999' cores='999' threads='999'/></cpu></domain>")).toBe("LIBVIRT_XML_INVALID");
    expect(bad("<network><name>x</name></network>")).toBe("LIBVIRT_XML_INVALID");
  });
});

describe("parseDomainXml / serializeDomainXml", () => {
  it("keeps comments, namespaces, unknown elements and order", () => {
    const text = `<?xml version="1.0" encoding="UTF-8"?>
<!-- generated -->
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>a &amp; b</name>
  <!-- keep me -->
  <future-element x='1' y='&lt;2&gt;'><inner/>text</future-element>
  <qemu:commandline><qemu:arg value='-no-reboot'/></qemu:commandline>
</domain>
`;
    const out = serializeDomainXml(parseDomainXml(text));
    expect(out).toBe(text);
  });

  it("device names and slots", () => {
    expect(slotFromDeviceName("hdc")).toBe(2);
    expect(slotFromDeviceName("sdaa")).toBe(26);
    expect(slotFromDeviceName("fda")).toBe(0);
    expect(slotFromDeviceName("xvdb")).toBe(1);
    expect(slotFromDeviceName("cdrom")).toBeUndefined();
    for (const i of [0, 1, 25, 26, 27, 701, 702]) expect(slotFromDeviceName(`sd${deviceLetters(i)}`)).toBe(i);
  });
});
