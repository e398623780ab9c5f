// The proof: the bootable Debian zoo guests as Xen and VMware left them, converted by `convert`
// from their hypervisor's metadata (a Xen libvirt domain, a VMware .vmx), then booted once each
// under QEMU TCG on a virtio disk and a virtio NIC: the login prompt must come on the serial
// console and the web page through a forwarded port. Unconverted, the same guest does not find
// its root on that disk. The sources' hashes never change.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openImageGuest } from "@leapp/inspect";
import { bootableFacts, buildZooGuest, eventually, freeLocalPort, localPage } from "@leapp/zoo";
import { bootUntil } from "../../guestos/src/testing/qemu.js";
import { convert, type ConvertResult } from "./convert.js";

const scratch = mkdtempSync(join(tmpdir(), "hv-convert-slow-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** The Xen host's domain for the guest: PV, pygrub, a xen disk and a bridged NIC with Xen's MAC. */
function xenDomain(disk: string, mac: string): string {
  return `<domain type='xen'>
  <name>deb-xen</name>
  <memory unit='KiB'>1048576</memory>
  <vcpu>1</vcpu>
  <bootloader>/usr/bin/pygrub</bootloader>
  <os><type arch='x86_64' machine='xenpv'>linux</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='xvda' bus='xen'/></disk>
    <interface type='bridge'><mac address='${mac}'/><source bridge='xenbr0'/></interface>
    <console type='pty'><target type='xen' port='0'/></console>
  </devices>
</domain>
`;
}

/** What ESXi writes for the guest: a pvscsi disk and a vmxnet3 NIC with a static MAC. */
function vmx(disk: string, mac: string): string {
  return [
    '.encoding = "UTF-8"',
    'config.version = "8"',
    'virtualHW.version = "14"',
    'displayName = "deb-vmw"',
    'guestOS = "debian10-64"',
    'memSize = "1024"',
    'numvcpus = "1"',
    'scsi0.present = "TRUE"',
    'scsi0.virtualDev = "pvscsi"',
    'scsi0:0.present = "TRUE"',
    `scsi0:0.fileName = "${disk}"`,
    'ethernet0.present = "TRUE"',
    'ethernet0.virtualDev = "vmxnet3"',
    'ethernet0.networkName = "VM Network"',
    'ethernet0.addressType = "static"',
    `ethernet0.address = "${mac}"`,
    "",
  ].join("\n");
}

async function guestText(disk: string, path: string): Promise<string> {
  const guest = await openImageGuest([disk]);
  try {
    return Buffer.from(await guest.readFile(path)).toString("utf8");
  } finally {
    await guest.close();
  }
}

/** The kernel's fsck on the first partition (through a read-only loop device): the copy that left out free blocks is a clean filesystem. */
function fsckFirstPartition(disk: string): void {
  const table = JSON.parse(execFileSync("sfdisk", ["--json", disk]).toString()) as { partitiontable: { partitions: { start: number; size: number }[] } };
  const first = table.partitiontable.partitions[0]!;
  const loop = execFileSync("losetup", ["--find", "--show", "--read-only", "-o", String(first.start * 512), "--sizelimit", String(first.size * 512), disk]).toString().trim();
  try {
    execFileSync("e2fsck", ["-fn", loop], { stdio: "pipe" });
  } finally {
    execFileSync("losetup", ["-d", loop]);
  }
}

/** Every edit and creation of the plan is on the converted disk, as planned. */
async function expectPlanApplied(result: ConvertResult, disk: string): Promise<void> {
  if (result.plan.status !== "planned") throw new Error("expected a plan");
  const guest = await openImageGuest([disk]);
  try {
    for (const c of result.plan.changes) {
      if (c.kind === "edit" || c.kind === "create") expect(Buffer.from(await guest.readFile(c.path)).toString("utf8"), c.path).toBe(c.content);
      if (c.kind === "remove") await expect(guest.lstat(c.path)).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    }
  } finally {
    await guest.close();
  }
}

/** Boots `disk` once: login prompt on ttyS0, then the page through the forwarded port. */
async function expectBootsAndServes(disk: string, mac: string, page: string): Promise<void> {
  const port = await freeLocalPort();
  const vm = await bootUntil({ disk, mac, httpPort: port }, /login:/, 300_000);
  try {
    expect(await eventually(() => localPage(port), 120_000, `the web page on port ${port}`, 1000)).toBe(page);
  } finally {
    vm.kill();
  }
}

/**
 * Unconverted, the guest's own kernel and initramfs do not find their root on the virtio disk
 * (booted directly with a short rootdelay: grub's entry would wait 180 s to say the same).
 */
async function expectUnconvertedFails(disk: string, rootTree: string): Promise<void> {
  const boot = readdirSync(join(rootTree, "boot"));
  const kernel = boot.find((f) => f.startsWith("vmlinuz-"))!;
  const initrd = boot.find((f) => f.startsWith("initrd.img-"))!;
  const vm = await bootUntil({ disk, snapshot: true, kernel: { path: join(rootTree, "boot", kernel), initrd: join(rootTree, "boot", initrd), append: "root=/dev/vda1 ro console=ttyS0,115200n8 rootdelay=5" } }, /Gave up waiting for root file system device|ALERT!.*does not exist/, 240_000);
  try {
    expect(vm.output).not.toMatch(/EXT4-fs \(vda1\): mounted filesystem/);
  } finally {
    vm.kill();
  }
}

describe("debian-xen (Xen PV: /dev/xvda1, console=hvc0, Xen-only initramfs) from its libvirt domain", () => {
  it("converts (-i libvirtxml -o local -of raw), boots to login and serves its page; unconverted it does not boot", async () => {
    const zoo = await buildZooGuest("debian-xen");
    const facts = bootableFacts["debian-xen"];
    const source = zoo.rawDisks[0]!;
    const before = sha256(source);
    const domain = join(scratch, "deb-xen.xml");
    writeFileSync(domain, xenDomain(source, facts.mac));
    const out = join(scratch, "xen-out");
    mkdirSync(out);

    const dry = await convert([domain], { input: "libvirtxml", outputStorage: out, dryRun: true });
    expect(readdirSync(out)).toEqual([]);
    const result = await convert([domain], { input: "libvirtxml", outputStorage: out, outputFormat: "raw", domainType: "qemu" });
    expect(result.changes).toEqual(dry.changes);
    expect(result.source).toMatchObject({ hypervisor: "xen", os: { distro: "debian" } });
    expect(result.plan).toMatchObject({ status: "planned", deviceMap: { "/dev/xvda": "/dev/vda" } });
    expect(readdirSync(out).sort()).toEqual(["deb-xen-sda", "deb-xen.xml"]);
    const disk = join(out, "deb-xen-sda");
    execFileSync("virt-xml-validate", [join(out, "deb-xen.xml"), "domain"]);
    expect(execFileSync("virsh", ["-c", "test:///default", "define", join(out, "deb-xen.xml")]).toString()).toMatch(/Domain '?deb-xen'? defined/);
    expect(result.domainXml).toMatch(/<target dev=.vda. bus=.virtio.\/>/);
    expect(result.domainXml).toContain(facts.mac);
    await expectPlanApplied(result, disk);
    expect(await guestText(disk, "/etc/fstab")).toMatch(/^\/dev\/vda1\s/m);
    expect(sha256(source)).toBe(before);
    fsckFirstPartition(disk);

    await expectBootsAndServes(disk, facts.mac, facts.page);
    await expectUnconvertedFails(source, zoo.rootTree);
    expect(sha256(source)).toBe(before);
  });
});

describe("debian-vmware (/dev/sda1, pvscsi/vmxnet3-only initramfs, open-vm-tools) from its .vmx", () => {
  it("converts (-i vmx), as from bare disks (-i disk), boots to login and serves its page", async () => {
    const zoo = await buildZooGuest("debian-vmware");
    const facts = bootableFacts["debian-vmware"];
    const source = zoo.rawDisks[0]!;
    const before = sha256(source);
    const file = join(scratch, "deb-vmw.vmx");
    writeFileSync(file, vmx(source, facts.mac));
    const out = join(scratch, "vmw-out");
    mkdirSync(out);

    const result = await convert([file], { input: "vmx", outputStorage: out, outputFormat: "raw" });
    expect(result.source).toMatchObject({ input: "vmx", name: "deb-vmw", hypervisor: "vmware", disks: [{ bus: "scsi" }] });
    expect(result.changes.some((c) => c.kind === "remove-packages" && c.description.includes("open-vm-tools"))).toBe(true);
    const disk = join(out, "deb-vmw-sda");
    await expectPlanApplied(result, disk);
    execFileSync("virt-xml-validate", [join(out, "deb-vmw.xml"), "domain"]);

    // From the bare disk, the same guest gets the same edits (less what only the metadata knew: its MAC).
    const bare = await convert([source], { output: "null" });
    expect(bare.name).toBe("disk1");
    expect(bare.source).toMatchObject({ input: "disk", hypervisor: "vmware" });
    const names = (r: ConvertResult) => r.changes.map((c) => c.path ?? c.kind).sort();
    expect(names(result)).toEqual([...names(bare), `/etc/systemd/network/10-leapp-${facts.interfaceName}.link`].sort());
    expect(sha256(source)).toBe(before);

    await expectBootsAndServes(disk, facts.mac, facts.page);
    expect(sha256(source)).toBe(before);
  });
});
