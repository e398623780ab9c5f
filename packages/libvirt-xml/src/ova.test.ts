// Hostile and broken OVAs, packed in-process with tar-stream (archives the real tar refuses to
// write, like absolute or `..` names). Archives packed by the real tar are in the CLI's
// source.int.test.ts.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { pack, type Header } from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { readOva, readOvaDirectory } from "./ova.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ova-unit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ovf = (href = "disk1.vmdk", compression = "") => `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="${href}" ovf:id="file1"${compression}/></References>
  <DiskSection><Info>d</Info><Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="vm"><Info>i</Info><Name>vm</Name>
    <VirtualHardwareSection><Info>h</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:Address>0</rasd:Address></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;

type Entry = { name: string; data?: string | Buffer; type?: Header["type"]; linkname?: string };
let counter = 0;

async function ova(entries: Entry[]): Promise<string> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on("end", () => resolve()));
  for (const e of entries) {
    const header: Partial<Header> & { name: string } = { name: e.name, type: e.type ?? "file" };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.type === "symlink") p.entry(header);
    else p.entry(header, e.data ?? "");
  }
  p.finalize();
  await done;
  const file = join(work, `t${counter++}.ova`);
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}

const sum = (algorithm: string, data: string | Buffer) => createHash(algorithm).update(data).digest("hex");
const disk = Buffer.concat([Buffer.from("KDMV"), Buffer.alloc(4096, 7)]);

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof LibvirtXmlError) return err.code;
    throw err;
  }
}

describe("readOva", () => {
  it("reads the descriptor, verifies SHA1 and SHA256 manifest lines, and locates the disks", async () => {
    const manifest = `SHA1(vm.ovf)= ${sum("sha1", ovf())}\nSHA256(disk1.vmdk) = ${sum("sha256", disk).toUpperCase()}\n`;
    const r = await readOva(await ova([{ name: "vm.ovf", data: ovf() }, { name: "vm.mf", data: manifest }, { name: "disk1.vmdk", data: disk }]));
    expect(r.source).toMatchObject({ name: "vm", disks: [{ path: "disk1.vmdk", bus: "scsi", format: "vmdk" }] });
    expect(r).toMatchObject({ ovf: "vm.ovf", manifest: "vm.mf", checksumsVerified: 2, disks: [{ entry: "disk1.vmdk", size: disk.length, capacityBytes: 1024 ** 3 }] });
  });

  it("accepts ./ prefixes and gzip-compressed disks the OVF declares", async () => {
    const gz = gzipSync(disk);
    const file = await ova([{ name: "./vm.ovf", data: ovf("disk1.vmdk.gz", ' ovf:compression="gzip"') }, { name: "./disk1.vmdk.gz", data: gz }]);
    const r = await readOva(file);
    expect(r.disks).toEqual([{ entry: "disk1.vmdk.gz", size: gz.length, offset: expect.any(Number) as number, compression: "gzip", capacityBytes: 1024 ** 3 }]);
    // The offset is where the disk's bytes really are in the archive.
    const offset = r.disks[0]!.offset!;
    expect(readFileSync(file).subarray(offset, offset + gz.length).equals(gz)).toBe(true);
  });

  it("refuses a manifest mismatch, and a manifest naming a file that is not there", async () => {
    const wrong = `SHA1(disk1.vmdk)= ${sum("sha1", "something else")}\n`;
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: ovf() }, { name: "vm.mf", data: wrong }, { name: "disk1.vmdk", data: disk }])))).toBe("LIBVIRT_XML_CHECKSUM");
    const missing = `SHA256(disk2.vmdk)= ${sum("sha256", disk)}\n`;
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: ovf() }, { name: "vm.mf", data: missing }, { name: "disk1.vmdk", data: disk }])))).toBe("LIBVIRT_XML_CHECKSUM");
  });

  it("refuses entries and links pointing outside the archive", async () => {
    for (const entries of [
      [{ name: "vm.ovf", data: ovf() }, { name: "../disk1.vmdk", data: disk }],
      [{ name: "vm.ovf", data: ovf() }, { name: "/etc/cron.d/x", data: "x" }],
      [{ name: "vm.ovf", data: ovf() }, { name: "a/../../x", data: "x" }],
      [{ name: "vm.ovf", data: ovf() }, { name: "disk1.vmdk", type: "symlink" as const, linkname: "../../etc/shadow" }],
      [{ name: "vm.ovf", data: ovf() }, { name: "vm.mf", data: `SHA1(../../etc/passwd)= ${sum("sha1", "")}\n` }, { name: "disk1.vmdk", data: disk }],
    ]) {
      expect(await codeOf(readOva(await ova(entries))), entries[1]!.name).toBe("LIBVIRT_XML_PATH_ESCAPE");
    }
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: ovf("../../x.vmdk") }])))).toBe("LIBVIRT_XML_PATH_ESCAPE");
  });

  it("refuses archives that are not one complete VM export", async () => {
    expect(await codeOf(readOva(await ova([{ name: "disk1.vmdk", data: disk }])))).toBe("LIBVIRT_XML_INVALID");
    expect(await codeOf(readOva(await ova([{ name: "a.ovf", data: ovf() }, { name: "b.ovf", data: ovf() }])))).toBe("LIBVIRT_XML_INVALID");
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: ovf() }])))).toBe("LIBVIRT_XML_INVALID");
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: ovf("disk1.vmdk.gz", ' ovf:compression="gzip"') }, { name: "disk1.vmdk.gz", data: disk }])))).toBe("LIBVIRT_XML_INVALID");
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: ovf() }, { name: "disk1.vmdk", data: disk }, { name: "./disk1.vmdk", data: disk }])))).toBe("LIBVIRT_XML_INVALID");
  });

  it("refuses a descriptor larger than any real one without reading it all", async () => {
    expect(await codeOf(readOva(await ova([{ name: "vm.ovf", data: Buffer.alloc(17 * 1024 * 1024, 0x20) }])))).toBe("LIBVIRT_XML_TOO_LARGE");
  });

  it("refuses files that are not tar, and truncated archives", async () => {
    const garbage = join(work, "garbage.ova");
    writeFileSync(garbage, Buffer.alloc(2048, 0x41));
    expect(await codeOf(readOva(garbage))).toBe("LIBVIRT_XML_MALFORMED");
    const whole = await ova([{ name: "vm.ovf", data: ovf() }, { name: "disk1.vmdk", data: disk }]);
    const truncated = join(work, "truncated.ova");
    writeFileSync(truncated, readFileSync(whole).subarray(0, 1500));
    expect(await codeOf(readOva(truncated))).toBe("LIBVIRT_XML_MALFORMED");
  });
});

describe("readOvaDirectory", () => {
  it("reads an unpacked OVA and verifies its manifest", async () => {
    const dir = join(work, "unpacked");
    mkdirSync(dir);
    writeFileSync(join(dir, "vm.ovf"), ovf());
    writeFileSync(join(dir, "disk1.vmdk"), disk);
    writeFileSync(join(dir, "vm.mf"), `SHA256(disk1.vmdk)= ${sum("sha256", disk)}\n`);
    const r = await readOvaDirectory(dir);
    expect(r.checksumsVerified).toBe(1);
    expect(r.source.disks[0]!.path).toBe(join(dir, "disk1.vmdk"));
  });

  it("refuses a link that leads out of the directory", async () => {
    const dir = join(work, "linked");
    mkdirSync(dir);
    writeFileSync(join(dir, "vm.ovf"), ovf());
    writeFileSync(join(work, "outside.vmdk"), disk);
    symlinkSync(join(work, "outside.vmdk"), join(dir, "disk1.vmdk"));
    expect(await codeOf(readOvaDirectory(dir))).toBe("LIBVIRT_XML_PATH_ESCAPE");
  });
});
