// The README's usage example, run verbatim (its imports pointed at the sources) in a directory
// holding the images it names, made by the real qemu-img and tar.
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it, vi } from "vitest";
import { makeScatteredRaw } from "./image-conformance.js";
import { qemuImg, scratchDir } from "./testing.js";

const here = dirname(fileURLToPath(import.meta.url));
const ovf = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:capacity="24" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="appliance"><Info>vm</Info><Name>appliance</Name>
    <VirtualHardwareSection><Info>hardware</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:Address>0</rasd:Address></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>2</rasd:InstanceID><rasd:Parent>1</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;

it("runs the README's usage example as written", async () => {
  const readme = await readFile(join(here, "..", "README.md"), "utf8");
  const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const dir = await scratchDir("leapp-storage-readme-");
  const raw = await makeScatteredRaw(dir, 24 * 1024 * 1024);
  await qemuImg("convert", "-f", "raw", "-O", "qcow2", raw, join(dir, "guest.qcow2"));
  await qemuImg("convert", "-f", "raw", "-O", "vmdk", raw, join(dir, "guest.vmdk"));
  await qemuImg("convert", "-f", "raw", "-O", "qcow2", raw, join(dir, "base.qcow2"));
  await qemuImg("convert", "-f", "raw", "-O", "vmdk", raw, join(dir, "a.vmdk"));
  await qemuImg("convert", "-f", "raw", "-O", "vmdk", raw, join(dir, "b.vmdk"));
  await mkdir(join(dir, "out"));
  await mkdir(join(dir, "images"));
  await mkdir(join(dir, "overlays"));
  await copyFile(raw, join(dir, "images", "base.raw"));
  await qemuImg("create", "-q", "-f", "qcow2", "-b", "../images/base.raw", "-F", "raw", join(dir, "overlays", "vm1.qcow2"));
  const pack = join(dir, "pack");
  await mkdir(pack);
  await qemuImg("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, join(pack, "disk1.vmdk"));
  await writeFile(join(pack, "appliance.ovf"), ovf);
  execFileSync("tar", ["-cf", join(dir, "appliance.ova"), "-C", pack, "appliance.ovf", "disk1.vmdk"]);

  const sources = (name: string) => JSON.stringify(join(here, "..", "..", name, "src", "index.ts"));
  const script = join(dir, "example.ts");
  await writeFile(script, example.replace(/"@leapp\/(storage|libvirt-xml)"/g, (_m, name: string) => sources(name)));
  const printed: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void printed.push(args.join(" ")));
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    await import(script);
  } finally {
    process.chdir(cwd);
    log.mockRestore();
  }
  await qemuImg("compare", join(dir, "guest.vmdk"), join(dir, "guest.raw"));
  await qemuImg("compare", join(dir, "pack", "disk1.vmdk"), join(dir, "appliance-disk1.qcow2"));
  await qemuImg("check", join(dir, "out", "a.overlay.qcow2"));
  // The data figure is what the target allocates, as qemu-img maps it.
  const map = JSON.parse(await qemuImg("map", "--output=json", join(dir, "guest.raw"))) as { length: number; data: boolean }[];
  expect(printed).toContain(`${map.filter((e) => e.data).reduce((n, e) => n + e.length, 0)} bytes of data`);
});
