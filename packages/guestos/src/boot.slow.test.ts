// The proof on real guests: the bootable Debian zoo guests as Xen and VMware left them, planned
// and applied (to a memory guest, carried onto a copy of the disk through a loop mount), then
// booted under QEMU TCG from their own grub on a virtio disk and a virtio NIC with the source's
// MAC: the login prompt must come on the serial console and the web page must answer.
// Unconverted, their kernel and initramfs do not find the root on the same virtio disk.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inspect, openImageGuest } from "@leapp/inspect";
import { bootableFacts, buildZooGuest, eventually, freeLocalPort, localPage } from "@leapp/zoo";
import { applyPlan } from "./apply.js";
import { MemoryGuest } from "./memory-guest.js";
import { planConversion } from "./plan.js";
import type { ChangePlan } from "./plan-types.js";
import { applyChangesToDisk, withMountedPartition } from "./testing/loop-apply.js";
import { bootUntil, monitorCommand } from "./testing/qemu.js";

const scratch = mkdtempSync(join(tmpdir(), "guestos-boot-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function convert(name: "debian-xen" | "debian-vmware") {
  const zoo = await buildZooGuest(name);
  const facts = bootableFacts[name];
  const image = await openImageGuest(zoo.disks);
  const report = await inspect(image);
  const plan = (await planConversion(image, report, { disks: [{ bus: name === "debian-xen" ? "xen" : "scsi" }], nics: [{ mac: facts.mac }] })) as ChangePlan;
  expect(plan.status).toBe("planned");
  const dry = new MemoryGuest(image);
  await applyPlan(plan, dry);
  return { zoo, facts, image, report, plan, dry };
}

/**
 * Unconverted, the guest's kernel with its own initramfs does not find its root on a virtio disk
 * (booted directly, with a short rootdelay: grub's entry would wait 180 s to say the same).
 */
async function expectOriginalInitramfsFails(disk: string, tree: string, plan: ChangePlan): Promise<void> {
  const vm = await bootUntil({ disk, snapshot: true, kernel: { path: join(tree, plan.kernel.path), initrd: join(tree, plan.kernel.initrd!), append: "root=/dev/vda1 ro console=ttyS0,115200n8 rootdelay=5" } }, /Gave up waiting for root file system device|ALERT!.*does not exist/, 240_000);
  try {
    expect(vm.output).not.toMatch(/EXT4-fs \(vda1\): mounted filesystem/);
  } finally {
    vm.kill();
  }
}

describe("debian-xen: Xen-only initramfs, /dev/xvda1, console=hvc0", () => {
  it("converted, boots from its own grub to the login prompt on ttyS0 and serves its page; its original initramfs cannot find a virtio root", async () => {
    const { zoo, facts, dry, image, plan } = await convert("debian-xen");
    expect(plan.deviceMap).toEqual({ "/dev/xvda": "/dev/vda" });
    expect(plan.changes.find((c) => c.kind === "initramfs")).toMatchObject({ generator: "initramfs-tools", added: expect.arrayContaining(["virtio_blk", "virtio_pci", "virtio_net"]) });
    const disk = join(scratch, "xen-converted.raw");
    execFileSync("cp", ["--sparse=always", zoo.disks[0]!, disk]);
    await applyChangesToDisk(dry, disk);
    await image.close();
    const port = await freeLocalPort();
    const vm = await bootUntil({ disk, mac: facts.mac, httpPort: port }, /login:/, 300_000);
    try {
      expect(await eventually(() => localPage(port), 120_000, `the web page on port ${port}`, 1000)).toBe(facts.page);
    } finally {
      vm.kill();
    }
    await expectOriginalInitramfsFails(zoo.disks[0]!, zoo.rootTree, plan);
  });
});

describe("debian-vmware: pvscsi/vmxnet3-only initramfs, /dev/sda1, open-vm-tools", () => {
  it("converted, boots to the login prompt and serves its page; its first boot removes open-vm-tools with apt and keeps a log", async () => {
    const { zoo, facts, dry, image, plan } = await convert("debian-vmware");
    expect(plan.packages.map((p) => p.packages)).toEqual([["open-vm-tools"]]);
    const disk = join(scratch, "vmw-converted.raw");
    execFileSync("cp", ["--sparse=always", zoo.disks[0]!, disk]);
    await applyChangesToDisk(dry, disk);
    await image.close();
    const port = await freeLocalPort();
    const monitor = join(scratch, "vmw.monitor");
    const vm = await bootUntil({ disk, mac: facts.mac, httpPort: port, monitor }, /login:/, 300_000);
    try {
      expect(await eventually(() => localPage(port), 120_000, `the web page on port ${port}`, 1000)).toBe(facts.page);
      await vm.waitFor(/leapp-firstboot: done/, 300_000);
      // A clean power-down if the guest takes the ACPI button; else ext4's journal (5 s commits) has the log.
      await monitorCommand(monitor, "system_powerdown");
      await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 30_000))]);
    } finally {
      vm.kill();
    }
    await withMountedPartition(disk, (root) => {
      const log = readFileSync(join(root, "var/log/leapp-firstboot.log"), "utf8");
      expect(log).toMatch(/remove vmware tools/);
      const status = execFileSync("dpkg-query", ["--admindir", join(root, "var/lib/dpkg"), "-W", "-f", "${db:Status-Abbrev} ${Package}\\n"]).toString();
      expect(status).not.toMatch(/^ii +open-vm-tools$/m);
      // The service removed itself.
      expect(existsSync(join(root, "usr/local/sbin/leapp-firstboot"))).toBe(false);
      expect(existsSync(join(root, "etc/systemd/system/leapp-firstboot.service"))).toBe(false);
    });
    await expectOriginalInitramfsFails(zoo.disks[0]!, zoo.rootTree, plan);
  });
});
