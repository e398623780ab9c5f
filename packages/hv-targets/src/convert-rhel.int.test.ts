// The RHEL-family zoo guests through the whole pipeline: el6-xen from its Xen domain (-i
// libvirtxml), el7-vmware from its .vmx (-i vmx), el9-like from bare disks (-i disk). The zoo's
// kernels are stand-ins, so each guest first gets a real module tree and initramfs (the host's
// modules under the guest's kernel version, as @leapp/guestos's tests stage them) on a copy of its
// disks. Then: the plan, every planned edit found on the converted disks file by file, the
// initramfs of the output holding the virtio drivers, the domain accepted by virt-xml-validate,
// the sources unchanged — and the typed errors of guests that cannot be converted.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listInitramfs, readInitramfs } from "@leapp/guestos";
import { openImageGuest } from "@leapp/inspect";
import { buildZooGuest, type ZooGuestName } from "@leapp/zoo";
import { stageKernel, type StagedKernel } from "../../guestos/src/testing/staging.js";
import { convert, type ConvertResult } from "./convert.js";

const scratch = mkdtempSync(join(tmpdir(), "hv-convert-rhel-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Copies of the zoo guest's disks with `kernels` staged into them; the zoo's own disks are not touched. */
async function stagedCopy(name: ZooGuestName, kernels: StagedKernel[]): Promise<string[]> {
  const zoo = await buildZooGuest(name);
  const disks = zoo.rawDisks.map((d, i) => {
    const copy = join(scratch, `${name}-disk${i + 1}.img`);
    copyFileSync(d, copy);
    return copy;
  });
  const guest = await openImageGuest(disks, { writable: true });
  try {
    for (const k of kernels) await stageKernel(guest, k);
    await guest.flush();
  } finally {
    await guest.close();
  }
  return disks;
}

function outDir(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  return dir;
}

/** Every edit, creation and removal of the plan is on the converted disks, as planned; the initramfs holds the drivers it gained. */
async function expectApplied(result: ConvertResult): Promise<void> {
  if (result.plan.status !== "planned") throw new Error("expected a plan");
  const guest = await openImageGuest(result.outputs.map((o) => o.path), { trustedBackingDirs: [scratch] });
  try {
    for (const c of result.plan.changes) {
      if (c.kind === "edit" || c.kind === "create") expect(Buffer.from(await guest.readFile(c.path)).toString("utf8"), c.path).toBe(c.content);
      if (c.kind === "remove") expect(await guest.exists(c.path), c.path).toBe(false);
      if (c.kind === "symlink") expect(await guest.readlink(c.path), c.path).toBe(c.target);
      if (c.kind === "initramfs") {
        const names = listInitramfs(await readInitramfs(await guest.readFile(c.path))).map((e) => e.path);
        for (const added of c.added) expect(names.some((n) => n.includes(`/${added}.ko`)), `${added} in ${c.path}`).toBe(true);
      }
    }
  } finally {
    await guest.close();
  }
}

const el6Kernel = "2.6.32-754.35.1.el6.x86_64";

describe("el6-xen (CentOS 6, Xen PV) from its libvirt domain", () => {
  it("converts: xvda → vda, the virtio drivers appended to the dracut initramfs, transitional virtio devices for its 2.6.32 kernel", async () => {
    const [disk] = await stagedCopy("el6-xen", [
      { version: el6Kernel, dir: `/lib/modules/${el6Kernel}`, modules: ["xen-blkfront", "xen-netfront", "virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "ext4"], initramfs: ["xen-blkfront", "xen-netfront", "ext4"], compression: "gzip", initrd: `/boot/initramfs-${el6Kernel}.img` },
    ]);
    const before = sha256(disk!);
    const domain = join(scratch, "el6.xml");
    writeFileSync(domain, readFileSync(join(import.meta.dirname, "../../../samples/el6-xen/domain.xml.in"), "utf8").replace("@DISK@", disk!));
    const out = outDir("el6");
    const result = await convert([domain], { input: "libvirtxml", outputStorage: out });
    expect(result.source).toMatchObject({ hypervisor: "xen", os: { distro: "centos", version: "6.10" } });
    expect(result.plan).toMatchObject({ status: "planned", kernel: { version: el6Kernel }, deviceMap: { "/dev/xvda": "/dev/vda" }, capabilities: { virtio10: false, blockBus: "virtio-blk" } });
    expect(readdirSync(out).sort()).toEqual(["centos6-web01-sda", "centos6-web01.xml"]);
    execFileSync("virt-xml-validate", [join(out, "centos6-web01.xml"), "domain"]);
    expect(result.domainXml).toMatch(/<disk type=.file. device=.disk. model=.virtio-transitional.>/);
    expect(result.domainXml).toMatch(/<model type=.virtio-transitional.\/>/);
    await expectApplied(result);
    const guest = await openImageGuest([result.outputs[0]!.path]);
    const fstab = Buffer.from(await guest.readFile("/etc/fstab")).toString("utf8");
    const grub = Buffer.from(await guest.readFile("/boot/grub/grub.conf")).toString("utf8");
    await guest.close();
    expect(fstab).not.toMatch(/xvd/);
    expect(grub).toMatch(/console=ttyS0/);
    expect(sha256(disk!)).toBe(before);
  });

  it("a guest whose kernels leapp cannot boot on KVM: a typed error, and nothing left in the output", async () => {
    // A copy of the zoo's disk whose pvops kernel's initramfs is no archive (truncated, or a stand-in).
    const [disk] = await stagedCopy("el6-xen", []);
    const guest = await openImageGuest([disk!], { writable: true });
    await guest.writeFile(`/boot/initramfs-${el6Kernel}.img`, new TextEncoder().encode("not an initramfs\n"));
    await guest.flush();
    await guest.close();
    const before = sha256(disk!);
    const out = outDir("el6-bad");
    await expect(convert([disk!], { outputStorage: out })).rejects.toMatchObject({ code: "GUESTOS_INITRAMFS", message: expect.stringMatching(/dracut -f/) });
    expect(readdirSync(out)).toEqual([]);
    expect(sha256(disk!)).toBe(before);
  });
});

describe("a full root filesystem", () => {
  it("no room for the new initramfs: a typed error before anything is written, nothing left in the output, the source unchanged", async () => {
    const [disk] = await stagedCopy("el6-xen", [
      { version: el6Kernel, dir: `/lib/modules/${el6Kernel}`, modules: ["xen-blkfront", "virtio_blk", "virtio_net", "virtio_pci"], initramfs: ["xen-blkfront"], compression: "gzip", initrd: `/boot/initramfs-${el6Kernel}.img` },
    ]);
    // Fill the root filesystem (8 MiB files, then smaller ones) until it refuses more.
    const guest = await openImageGuest([disk!], { writable: true });
    let n = 0;
    for (const size of [8 << 20, 1 << 20, 64 << 10, 4 << 10]) {
      for (;;) {
        try {
          await guest.writeFile(`/filler-${n++}`, new Uint8Array(size).fill(1));
        } catch (err) {
          expect(err).toMatchObject({ code: "INSPECT_NO_SPACE" });
          break;
        }
      }
    }
    await guest.flush();
    await guest.close();
    const before = sha256(disk!);
    const out = outDir("el6-full");
    await expect(convert([disk!], { outputStorage: out })).rejects.toMatchObject({ code: "GUESTOS_NO_SPACE", package: "@leapp/guestos" });
    expect(readdirSync(out)).toEqual([]);
    expect(sha256(disk!)).toBe(before);
  });
});

describe("el7-vmware (CentOS 7, LVM, XFS, open-vm-tools) from its .vmx", () => {
  it("converts: LVM names kept, the VMware tools removed at first boot, the NIC pinned to its MAC", async () => {
    const k = "3.10.0-1160.el7.x86_64";
    const [disk] = await stagedCopy("el7-vmware", [
      { version: k, dir: `/usr/lib/modules/${k}`, modules: ["vmw_pvscsi", "vmxnet3", "virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "xfs"], initramfs: ["vmw_pvscsi", "vmxnet3", "xfs"], compression: "xz", initrd: `/boot/initramfs-${k}.img`, xzModules: true },
    ]);
    const before = sha256(disk!);
    const vmx = join(scratch, "el7.vmx");
    writeFileSync(
      vmx,
      ['displayName = "el7-app"', 'memSize = "2048"', 'numvcpus = "2"', 'scsi0.present = "TRUE"', 'scsi0.virtualDev = "pvscsi"', 'scsi0:0.present = "TRUE"', `scsi0:0.fileName = "${disk}"`, 'ethernet0.present = "TRUE"', 'ethernet0.virtualDev = "vmxnet3"', 'ethernet0.addressType = "static"', 'ethernet0.address = "00:50:56:8a:1b:2c"', ""].join("\n"),
    );
    const out = outDir("el7");
    const result = await convert([vmx], { input: "vmx", outputStorage: out, outputFormat: "raw" });
    expect(result.source).toMatchObject({ input: "vmx", hypervisor: "vmware", os: { distro: "centos" } });
    expect(result.plan).toMatchObject({ status: "planned", kernel: { version: k }, capabilities: { virtio10: true, machine: "q35" } });
    expect(result.changes).toContainEqual(expect.objectContaining({ kind: "remove-packages", description: expect.stringContaining("open-vm-tools") }));
    execFileSync("virt-xml-validate", [join(out, "el7-app.xml"), "domain"]);
    expect(result.domainXml).toContain("00:50:56:8a:1b:2c");
    expect(result.changes.map((c) => c.path)).not.toContain("/etc/fstab");
    const plan = result.plan.status === "planned" ? result.plan : undefined;
    expect(plan?.changes.some((c) => (c.kind === "create" || c.kind === "edit") && c.content.toLowerCase().includes("00:50:56:8a:1b:2c"))).toBe(true);
    await expectApplied(result);
    expect(sha256(disk!)).toBe(before);
  });
});

describe("el9-like (Rocky 9, already on KVM, UEFI, two disks) from bare disks", () => {
  it("converts: named after the first image, UEFI kept, nothing to add to an initramfs that has virtio", async () => {
    const k = "5.14.0-427.13.1.el9_4.x86_64";
    const disks = await stagedCopy("el9-like", [
      { version: k, dir: `/usr/lib/modules/${k}`, modules: ["virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "xfs"], initramfs: ["virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "xfs"], compression: "zstd", initrd: `/boot/initramfs-${k}.img`, xzModules: true },
    ]);
    const before = disks.map(sha256);
    const out = outDir("el9");
    const result = await convert(disks, { outputStorage: out, storage: "snapshot" });
    expect(result.name).toBe("el9-like-disk1");
    expect(readdirSync(out).sort()).toEqual(["el9-like-disk1-sda", "el9-like-disk1-sdb", "el9-like-disk1.xml"]);
    expect(result.plan).toMatchObject({ status: "planned", capabilities: { firmware: "uefi", virtio10: true } });
    expect(result.changes.some((c) => c.kind === "initramfs")).toBe(false);
    expect(result.domainXml).toMatch(/<os firmware=.efi.>|<loader/);
    execFileSync("virt-xml-validate", [join(out, "el9-like-disk1.xml"), "domain"]);
    await expectApplied(result);
    expect(disks.map(sha256)).toEqual(before);
  });
});
