// The pipeline's storage and outputs on guests whose disks hold no OS (they move unchanged): the
// outputs are judged by qemu-img, e2fsck, debugfs, virt-xml-validate and QEMU; the sources'
// hashes never change. Guests with an OS are converted (and booted) in convert.slow.test.ts.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { convert } from "./convert.js";
import { HvTargetsError } from "./errors.js";

const scratch = mkdtempSync(join(tmpdir(), "hv-convert-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const qemuInfo = (path: string) => JSON.parse(execFileSync("qemu-img", ["info", "--output=json", path]).toString()) as { format: string; "virtual-size": number; "backing-filename"?: string };
let n = 0;
const freshDir = () => {
  const dir = join(scratch, `out-${n++}`);
  mkdirSync(dir);
  return dir;
};

/** A data disk: ext4 holding a small file and a large one deleted since (its blocks still hold data). */
function dataDisk(name: string): string {
  const tree = join(scratch, `${name}-tree`);
  mkdirSync(tree);
  writeFileSync(join(tree, "records.csv"), "id,name\n1,alpha\n");
  writeFileSync(join(tree, "old-backup.bin"), randomBytes(24 * 1024 * 1024));
  const image = join(scratch, `${name}.img`);
  execFileSync("truncate", ["-s", "64M", image]);
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", tree, image]);
  execFileSync("debugfs", ["-w", "-R", "rm /old-backup.bin", image], { stdio: "ignore" });
  return image;
}

/** A Xen host's domain for a disk, as libvirt writes it. */
function xenDomain(name: string, disk: string): string {
  const file = join(scratch, `${name}.xml`);
  writeFileSync(
    file,
    `<domain type='xen'><name>${name}</name><memory unit='KiB'>524288</memory><vcpu>2</vcpu><os><type arch='x86_64' machine='xenfv'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk><interface type='bridge'><mac address='00:16:3e:01:02:03'/><source bridge='xenbr0'/><model type='e1000'/></interface></devices></domain>\n`,
  );
  return file;
}

const catFile = (image: string, path: string) => execFileSync("debugfs", ["-R", `cat ${path}`, image], { stdio: ["ignore", "pipe", "ignore"] }).toString();
/** Bytes of data a raw or qcow2 image stores (what qemu-img map reports as data). */
const storedBytes = (image: string) => (JSON.parse(execFileSync("qemu-img", ["map", "--output=json", image]).toString()) as { length: number; data: boolean }[]).filter((e) => e.data).reduce((n, e) => n + e.length, 0);

describe("-i libvirtxml, a guest with no OS (a Xen HVM data VM)", () => {
  it("dry run: reports the source and the warning, writes nothing anywhere", async () => {
    const image = dataDisk("dry");
    const before = sha256(image);
    const dir = freshDir();
    const result = await convert([xenDomain("xen-data", image)], { input: "libvirtxml", outputStorage: dir, dryRun: true });
    expect(result).toMatchObject({ name: "xen-data", dryRun: true, changes: [], files: [], source: { input: "libvirtxml", hypervisor: "xen", os: null, disks: [{ format: "raw", bus: "ide" }] } });
    expect(result.outputs).toEqual([{ path: join(dir, "xen-data-sda"), format: "qcow2" }]);
    expect(result.warnings.join("\n")).toMatch(/no operating system/);
    expect(readdirSync(dir)).toEqual([]);
    expect(sha256(image)).toBe(before);
  });

  it("-o local: a standalone qcow2 without the deleted file's blocks, and a domain that keeps the source's devices", async () => {
    const image = dataDisk("copy");
    const before = sha256(image);
    const dir = freshDir();
    const phases = new Set<string>();
    const result = await convert([xenDomain("xen-data", image)], { input: "libvirtxml", outputStorage: dir, onProgress: (e) => phases.add(e.phase) });
    expect(readdirSync(dir).sort()).toEqual(["xen-data-sda", "xen-data.xml"]);
    const disk = join(dir, "xen-data-sda");
    const info = qemuInfo(disk);
    expect(info).toMatchObject({ format: "qcow2", "virtual-size": 64 * 1024 * 1024 });
    expect(info["backing-filename"]).toBeUndefined();
    execFileSync("qemu-img", ["check", disk]);
    // The deleted 24 MiB are free in ext4: not copied (the source still stores them).
    expect(storedBytes(image)).toBeGreaterThan(24 * 1024 * 1024);
    expect(storedBytes(disk)).toBeLessThan(8 * 1024 * 1024);
    expect(result.freeBytesSkipped).toBeGreaterThan(24 * 1024 * 1024);
    const raw = join(scratch, "copy-check.raw");
    execFileSync("qemu-img", ["convert", "-O", "raw", disk, raw]);
    execFileSync("e2fsck", ["-fn", raw], { stdio: "pipe" });
    expect(catFile(raw, "/records.csv")).toBe("id,name\n1,alpha\n");
    const xml = readFileSync(join(dir, "xen-data.xml"), "utf8");
    expect(xml).toBe(result.domainXml);
    execFileSync("virt-xml-validate", [join(dir, "xen-data.xml"), "domain"]);
    // libvirt's own parser takes it (its test driver: no daemon needed).
    expect(execFileSync("virsh", ["-c", "test:///default", "define", join(dir, "xen-data.xml")]).toString()).toMatch(/Domain '?xen-data'? defined/);
    expect(xml).toContain(disk);
    expect(xml).toContain("00:16:3e:01:02:03");
    expect(xml).toMatch(/<model type=.e1000.\/>/);
    expect(xml).not.toMatch(/bus=.virtio./);
    expect([...phases]).toEqual(expect.arrayContaining(["inspect", "copy"]));
    expect(sha256(image)).toBe(before);
    // The same name again: refused before anything is written.
    await expect(convert([xenDomain("xen-data", image)], { input: "libvirtxml", outputStorage: dir })).rejects.toMatchObject({ code: "HV_EXISTS" });
    expect(readdirSync(dir).sort()).toEqual(["xen-data-sda", "xen-data.xml"]);
  });

  it("an abort midway leaves nothing in the output directory", async () => {
    const image = dataDisk("abort");
    const before = sha256(image);
    const dir = freshDir();
    const controller = new AbortController();
    const run = convert([xenDomain("xen-abort", image)], { input: "libvirtxml", outputStorage: dir, signal: controller.signal, onProgress: (e) => e.phase === "copy" && controller.abort() });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(readdirSync(dir)).toEqual([]);
    expect(sha256(image)).toBe(before);
  });

  it("--storage snapshot: a qcow2 overlay backed by the untouched source", async () => {
    const image = dataDisk("snap");
    const before = sha256(image);
    const dir = freshDir();
    const result = await convert([xenDomain("xen-data", image)], { input: "libvirtxml", outputStorage: dir, storage: "snapshot", name: "snap01" });
    const disk = join(dir, "snap01-sda");
    expect(result.outputs).toEqual([{ path: disk, format: "qcow2" }]);
    expect(qemuInfo(disk)["backing-filename"]).toBe(image);
    execFileSync("qemu-img", ["compare", disk, image]);
    expect(sha256(image)).toBe(before);
  });
});

describe("-i xen: an xl.cfg", () => {
  it("names the guest and its disks; the disk is copied, the domain written from the cfg", async () => {
    const image = dataDisk("xl-data");
    const before = sha256(image);
    const cfg = join(scratch, "xl-data.cfg");
    writeFileSync(cfg, `name = "xl-data"\nmemory = 768\nvcpus = 2\nbuilder = "hvm"\ndisk = [ 'format=raw, vdev=xvda, access=rw, target=${image}' ]\nvif = [ 'mac=00:16:3e:aa:bb:cc, bridge=xenbr0' ]\n`);
    const dir = freshDir();
    const result = await convert([cfg], { input: "xen", outputStorage: dir });
    expect(result.source).toMatchObject({ input: "xen", name: "xl-data", hypervisor: "xen", disks: [{ format: "raw", bus: "xen" }] });
    expect(readdirSync(dir).sort()).toEqual(["xl-data-sda", "xl-data.xml"]);
    execFileSync("virt-xml-validate", [join(dir, "xl-data.xml"), "domain"]);
    expect(result.domainXml).toContain("00:16:3e:aa:bb:cc");
    expect(result.domainXml).toMatch(/<memory unit=.KiB.>786432</);
    // Its data, not the deleted file's blocks: compare what the filesystem holds.
    const raw = join(scratch, "xl-check.raw");
    execFileSync("qemu-img", ["convert", "-O", "raw", join(dir, "xl-data-sda"), raw]);
    execFileSync("e2fsck", ["-fn", raw], { stdio: "pipe" });
    expect(catFile(raw, "/records.csv")).toBe("id,name\n1,alpha\n");
    expect(sha256(image)).toBe(before);
  });
});

describe("-i ova: a VMware export", () => {
  it("the streamOptimized disk is read inside the tar (nothing unpacked) and copied; snapshot is refused", async () => {
    const image = dataDisk("ova-data");
    const dir = join(scratch, "ova-src");
    mkdirSync(dir);
    execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", image, join(dir, "disk1.vmdk")]);
    writeFileSync(
      join(dir, "app01.ovf"),
      `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References><File ovf:href="disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:capacity="64" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="app01"><Info>vm</Info><Name>app01</Name>
    <OperatingSystemSection ovf:id="96"><Info>os</Info></OperatingSystemSection>
    <VirtualHardwareSection><Info>hw</Info>
      <System><vssd:VirtualSystemType xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">vmx-14</vssd:VirtualSystemType></System>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>7</rasd:AddressOnParent><rasd:Connection>VM Network</rasd:Connection><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`,
    );
    const ova = join(scratch, "app01.ova");
    execFileSync("tar", ["-cf", ova, "-C", dir, "app01.ovf", "disk1.vmdk"]);
    const before = sha256(ova);
    const out = freshDir();
    const result = await convert([ova], { input: "ova", outputStorage: out });
    expect(result.source).toMatchObject({ input: "ova", name: "app01", hypervisor: "vmware", disks: [{ name: `${ova}:disk1.vmdk`, format: "vmdk" }] });
    expect(readdirSync(out).sort()).toEqual(["app01-sda", "app01.xml"]);
    execFileSync("virt-xml-validate", [join(out, "app01.xml"), "domain"]);
    const raw = join(scratch, "ova-check.raw");
    execFileSync("qemu-img", ["convert", "-O", "raw", join(out, "app01-sda"), raw]);
    execFileSync("e2fsck", ["-fn", raw], { stdio: "pipe" });
    expect(catFile(raw, "/records.csv")).toBe("id,name\n1,alpha\n");
    const refused = freshDir();
    await expect(convert([ova], { input: "ova", outputStorage: refused, storage: "snapshot" })).rejects.toMatchObject({ code: "HV_UNSUPPORTED" });
    expect(readdirSync(refused)).toEqual([]);
    expect(sha256(ova)).toBe(before);
    // Unpacked, its disk is a file: a snapshot can be backed by it.
    const unpacked = await convert([dir], { input: "ova", outputStorage: refused, storage: "snapshot" });
    expect(qemuInfo(unpacked.outputs[0]!.path)["backing-filename"]).toBe(join(dir, "disk1.vmdk"));
    execFileSync("qemu-img", ["compare", unpacked.outputs[0]!.path, join(dir, "disk1.vmdk")]);
  });
});

describe("guests leapp cannot edit still move", () => {
  it("-i disk, -of raw, -o qemu: named after the image, copied unchanged with a warning, a boot script; --require-os refuses it", async () => {
    const image = dataDisk("data01");
    const before = sha256(image);
    const refused = freshDir();
    await expect(convert([image], { outputStorage: refused, requireOs: true })).rejects.toMatchObject({ code: "HV_NO_OS" });
    expect(readdirSync(refused)).toEqual([]);
    const dir = freshDir();
    const result = await convert([image], { output: "qemu", outputStorage: dir, outputFormat: "raw" });
    expect(result.name).toBe("data01");
    expect(result.plan.status).toBe("nothing-to-plan");
    expect(result.warnings.join("\n")).toMatch(/no operating system/);
    expect(readdirSync(dir).sort()).toEqual(["data01-sda", "data01.sh", "data01.xml"]);
    const disk = join(dir, "data01-sda");
    expect(qemuInfo(disk).format).toBe("raw");
    execFileSync("e2fsck", ["-fn", disk], { stdio: "pipe" });
    expect(catFile(disk, "/records.csv")).toBe("id,name\n1,alpha\n");
    const script = join(dir, "data01.sh");
    expect(readFileSync(script, "utf8")).toContain(`file=${disk},format=raw`);
    execFileSync("sh", ["-n", script]);
    // The script starts QEMU on the disk (here: checked with -S, stopped before the guest runs).
    const qemu = spawnSync("sh", [script, "-S"], { timeout: 3000, killSignal: "SIGKILL", encoding: "utf8", input: "" });
    expect((qemu.error as NodeJS.ErrnoException | undefined)?.code, qemu.stderr).toBe("ETIMEDOUT");
    expect(sha256(image)).toBe(before);
  });

  it("--storage in-place: the domain points at the source disk itself, and nothing is copied", async () => {
    const image = dataDisk("inplace");
    const dir = freshDir();
    const result = await convert([image], { outputStorage: dir, storage: "in-place" });
    expect(result.outputs).toEqual([{ path: image, format: "raw" }]);
    expect(readdirSync(dir)).toEqual(["inplace.xml"]);
    expect(result.domainXml).toContain(image);
    execFileSync("e2fsck", ["-fn", image], { stdio: "pipe" });
  });

  it("bad input gets typed errors and leaves nothing", async () => {
    const dir = freshDir();
    await expect(convert([join(scratch, "missing.img")], { outputStorage: dir })).rejects.toBeInstanceOf(HvTargetsError);
    await expect(convert([join(scratch, "missing.img")], { outputStorage: dir })).rejects.toMatchObject({ code: "HV_SOURCE_DISK" });
    await expect(convert([join(scratch, "missing.img")], { outputStorage: join(scratch, "no-such-dir") })).rejects.toMatchObject({ code: "HV_SOURCE_DISK" });
    const domain = xenDomain("bad", dataDisk("bad"));
    await expect(convert([domain], { input: "vmx", outputStorage: dir })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    await expect(convert([domain], { input: "libvirtxml", outputStorage: join(scratch, "no-such-dir") })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    await expect(convert([domain], { input: "libvirtxml", outputStorage: dir, storage: "snapshot", outputFormat: "raw" })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    await expect(convert([domain], { input: "libvirtxml", outputStorage: dir, name: "../escape" })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    writeFileSync(join(scratch, "garbage.img"), "");
    await expect(convert([join(scratch, "garbage.img")], { outputStorage: dir })).rejects.toMatchObject({ code: "HV_SOURCE_DISK" });
    await expect(convert([scratch], { outputStorage: dir })).rejects.toMatchObject({ code: "HV_SOURCE_DISK" });
    // An unreadable disk: a qcow2 header whose tables lie outside the file.
    const broken = join(scratch, "broken.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", broken, "64M"]);
    const bytes = readFileSync(broken);
    bytes.writeBigUInt64BE(1n << 50n, 40); // l1_table_offset
    writeFileSync(broken, bytes);
    await expect(convert([broken], { outputStorage: dir })).rejects.toMatchObject({ package: "@leapp/storage" });
    expect(readdirSync(dir)).toEqual([]);
  });
});
