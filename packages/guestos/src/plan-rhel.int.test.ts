// The RHEL-family zoo guests (el6-xen, el7-vmware, el9-like), planned and applied to a memory
// guest, checked file by file: fstab, grub, BLS, modprobe aliases, ifcfg/NIC names, services,
// first boot — and the initramfs, listed from the cpio and unpacked again by the real cpio.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inspect, InspectError, openImageGuest, type InspectionReport, type WritableGuestFS } from "@leapp/inspect";
import { buildZooGuest, type ZooGuestName } from "@leapp/zoo";
import { applyPlan } from "./apply.js";
import { readInitramfs, listInitramfs } from "./initramfs/archive.js";
import { MemoryGuest } from "./memory-guest.js";
import { planConversion } from "./plan.js";
import type { ChangePlan, ConversionTarget } from "./plan-types.js";
import { stageKernel, unpackWithTools, type StagedKernel } from "./testing/staging.js";

const scratch = mkdtempSync(join(tmpdir(), "guestos-rhel-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const text = async (g: MemoryGuest, p: string) => Buffer.from(await g.readFile(p)).toString("utf8");
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The zoo guest, opened read-only, with real kernel files laid over it in memory. */
async function staged(name: ZooGuestName, kernels: StagedKernel[]) {
  const zoo = await buildZooGuest(name);
  const image = await openImageGuest(zoo.disks);
  const guest = new MemoryGuest(image);
  for (const k of kernels) await stageKernel(guest, k);
  const report = await inspect(guest);
  return { zoo, image, guest, report };
}

async function planned(guest: MemoryGuest, report: InspectionReport, target: ConversionTarget): Promise<ChangePlan> {
  const plan = await planConversion(guest, report, target);
  if (plan.status !== "planned") throw new Error("expected a plan");
  return plan;
}

const el6Kernel = "2.6.32-754.35.1.el6.x86_64";

describe("el6-xen (CentOS 6, Xen PV, grub legacy, dracut gzip, sysv)", () => {
  it("plans the pvops kernel with virtio drivers appended to its initramfs, and every file edit", async () => {
    const { zoo, image, guest, report } = await staged("el6-xen", [
      { version: el6Kernel, dir: `/lib/modules/${el6Kernel}`, modules: ["xen-blkfront", "xen-netfront", "virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "ext4"], initramfs: ["xen-blkfront", "xen-netfront", "ext4"], compression: "gzip", initrd: `/boot/initramfs-${el6Kernel}.img` },
    ]);
    const before = sha(zoo.disks[0]!);
    const plan = await planned(guest, report, { disks: [{ bus: "xen" }], nics: [{ mac: "00:16:3e:5d:c7:9e" }] });
    expect(plan.os).toMatchObject({ family: "rhel", distro: "centos", version: "6.10" });
    expect(plan.kernel).toMatchObject({ version: el6Kernel, wasDefault: true });
    expect(plan.capabilities).toMatchObject({ blockBus: "virtio-blk", netModel: "virtio", machine: "q35", virtio10: false, firmware: "bios", guestAgent: false, serialConsole: true });
    expect(plan.deviceMap).toEqual({ "/dev/xvda": "/dev/vda" });
    const initramfs = plan.changes.find((c) => c.kind === "initramfs");
    expect(initramfs).toMatchObject({ path: `/boot/initramfs-${el6Kernel}.img`, generator: "dracut" });
    // Every change says why.
    for (const c of plan.changes) expect(c.why.length).toBeGreaterThan(10);

    const dry = new MemoryGuest(guest);
    const result = await applyPlan(plan, dry);
    expect(result.applied).toBe(plan.changes.length);
    const changed = (await dry.changes()).map((c) => c.path);
    expect(changed).toEqual(expect.arrayContaining(["/etc/fstab", "/boot/grub/grub.conf", "/etc/modprobe.d/xen.conf", "/etc/securetty", `/boot/initramfs-${el6Kernel}.img`, "/etc/udev/rules.d/70-leapp-net.rules"]));

    const fstab = await text(dry, "/etc/fstab");
    expect(fstab).toMatch(/^\/dev\/vda1\s+\/\s+ext4/m);
    expect(fstab).toMatch(/^\/dev\/vda2\s+swap/m);
    expect(fstab).toMatch(/^tmpfs\s+\/dev\/shm/m);
    const grub = await text(dry, "/boot/grub/grub.conf");
    expect(grub).toContain(`kernel /boot/vmlinuz-${el6Kernel} ro root=/dev/vda1 console=ttyS0,115200n8 rd_NO_LUKS`);
    expect(grub.split("\n").filter((l) => !l.startsWith("#")).join("\n")).not.toMatch(/xvda|hvc0|xencons/);
    expect(grub).toMatch(/^#boot=\/dev\/vda$/m);
    expect(grub).toMatch(/^default=0$/m);
    // menu.lst and /etc/grub.conf stay links to the one edited file.
    expect(await dry.readlink("/boot/grub/menu.lst")).toBe("grub.conf");
    expect(await dry.readlink("/etc/grub.conf")).toBe("../boot/grub/grub.conf");
    expect(await text(dry, "/etc/modprobe.d/xen.conf")).toBe("alias scsi_hostadapter virtio_blk\nalias eth0 virtio_net\n");
    expect(await text(dry, "/etc/securetty")).toMatch(/^ttyS0$/m);
    // eth0 keeps its name (and ifcfg its HWADDR) on the virtio NIC with the same MAC.
    expect(await text(dry, "/etc/udev/rules.d/70-leapp-net.rules")).toContain('ATTR{address}=="00:16:3e:5d:c7:9e", ATTR{type}=="1", NAME="eth0"');
    expect(await text(dry, "/etc/sysconfig/network-scripts/ifcfg-eth0")).toBe(await text(guest as unknown as MemoryGuest, "/etc/sysconfig/network-scripts/ifcfg-eth0"));

    // The initramfs: listed by our lsinitrd, and unpacked by the real cpio segment by segment.
    const bytes = await dry.readFile(`/boot/initramfs-${el6Kernel}.img`, { maxBytes: 1 << 30 });
    const oldBytes = await guest.readFile(`/boot/initramfs-${el6Kernel}.img`, { maxBytes: 1 << 30 });
    expect(Buffer.from(bytes.subarray(0, oldBytes.length)).equals(Buffer.from(oldBytes))).toBe(true);
    const img = await readInitramfs(bytes);
    expect(img.segments.map((s) => s.compression)).toEqual(["gzip", "none"]);
    const paths = listInitramfs(img).map((e) => e.path);
    for (const m of ["virtio_blk.ko", "virtio_pci.ko", "virtio_net.ko", "virtio.ko", "virtio_ring.ko", "xen-blkfront.ko"]) expect(paths.some((p) => p.endsWith(`/${m}`))).toBe(true);
    const out = join(scratch, "el6-initramfs");
    unpackWithTools(bytes, img.segments, out);
    expect(readFileSync(join(out, "usr/lib/modules", el6Kernel, "modules.dep"), "utf8")).toMatch(/virtio_blk\.ko: /m);

    // Nothing was written to the source: not its image, not the staged guest.
    expect(sha(zoo.disks[0]!)).toBe(before);
    expect((await guest.changes()).some((c) => c.path === "/etc/fstab")).toBe(false);
    const diff = await dry.diff();
    expect(diff).toContain("-/dev/xvda1              /                       ext4    defaults        1 1");
    expect(diff).toContain("+/dev/vda1              /                       ext4    defaults        1 1");
    expect(diff).toMatch(/modified binary \/boot\/initramfs-.*: \d+ → \d+ bytes/);
    await image.close();
  });

  it("applies the initramfs archive built while planning only while every file it came from is unchanged", async () => {
    const { image, guest, report } = await staged("el6-xen", [
      { version: el6Kernel, dir: `/lib/modules/${el6Kernel}`, modules: ["xen-blkfront", "virtio_blk", "virtio_net", "virtio_pci"], initramfs: ["xen-blkfront"], compression: "gzip", initrd: `/boot/initramfs-${el6Kernel}.img` },
    ]);
    const initrd = `/boot/initramfs-${el6Kernel}.img`;
    const plan = await planned(guest, report, { disks: [{}] });
    const appliedTo = async (g: MemoryGuest, p: ChangePlan) => {
      await applyPlan(p, g);
      return Buffer.from(await g.readFile(initrd, { maxBytes: 1 << 30 }));
    };
    // The same plan as data (a copy, as one read back from JSON would be): built again on apply.
    const reused = await appliedTo(new MemoryGuest(guest), plan);
    const rebuilt = await appliedTo(new MemoryGuest(guest), structuredClone(plan));
    expect(reused.equals(rebuilt)).toBe(true);

    // A module file changed after planning: the archive is built again, with the module as it is now.
    const changed = new MemoryGuest(guest);
    const modulePath = `/lib/modules/${el6Kernel}/${listInitramfs(await readInitramfs(reused)).find((e) => e.path.endsWith("/virtio_blk.ko"))!.path.split(`/${el6Kernel}/`)[1]}`;
    const module = Buffer.from(await guest.readFile(modulePath));
    const edited = Buffer.concat([module, Buffer.from("changed after planning")]);
    await changed.writeFile(modulePath, edited);
    const img = await readInitramfs(await appliedTo(changed, plan));
    const inArchive = [...img.tree.values()].find((e) => e.name.endsWith("/virtio_blk.ko"));
    expect(inArchive?.type === "file" && Buffer.from(inArchive.data).equals(edited)).toBe(true);
    await image.close();
  });

  it("refuses a guest whose only kernel is Xen-PV (el5xen), and one with none, saying what to install", async () => {
    const { guest, report, image } = await staged("el6-xen", []);
    const xenOnly = { ...report, kernels: report.kernels.filter((k) => k.xen) };
    await expect(planConversion(guest, xenOnly, {})).rejects.toMatchObject({ code: "GUESTOS_XEN_ONLY_KERNEL", message: expect.stringMatching(/yum install kernel/) });
    await expect(planConversion(guest, { ...report, kernels: [] }, {})).rejects.toMatchObject({ code: "GUESTOS_NO_KERNEL" });
    // An initramfs that is no archive (truncated, or a stand-in): a typed error that says to rebuild it.
    const broken = new MemoryGuest(guest);
    await broken.writeFile(`/boot/initramfs-${el6Kernel}.img`, new TextEncoder().encode("not an initramfs\n"));
    await expect(planConversion(broken, report, {})).rejects.toMatchObject({ code: "GUESTOS_INITRAMFS", message: expect.stringMatching(/dracut -f/) });
    await expect(planConversion(guest, { ...report, os: { ...report.os, distro: "gentoo" as never } }, {})).rejects.toMatchObject({ code: "GUESTOS_UNSUPPORTED_OS" });
    expect(await planConversion(guest, undefined, {})).toMatchObject({ status: "nothing-to-plan", reason: "no-os" });
    await image.close();
  });

  it("a full /boot filesystem: a typed error, and every change already made is undone; an abort likewise", async () => {
    const { guest, report, image } = await staged("el6-xen", [
      { version: el6Kernel, dir: `/lib/modules/${el6Kernel}`, modules: ["xen-blkfront", "virtio_blk", "virtio_net", "virtio_pci"], initramfs: ["xen-blkfront"], compression: "gzip", initrd: `/boot/initramfs-${el6Kernel}.img` },
    ]);
    const plan = await planned(guest, report, { disks: [{}] });
    const dry = new MemoryGuest(guest);
    // A guest whose /boot is full. The writable ext4/XFS layer is not part of this package, so the
    // memory guest stands in for it and fails writes to /boot with the code that layer reports.
    const full = new Proxy(dry, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === "writeFile") {
          return async (path: string, ...rest: unknown[]) => {
            if (path.startsWith("/boot/")) throw new InspectError("INSPECT_NO_SPACE" as never, `no space left writing ${path}`, { path });
            return (v as (...a: unknown[]) => Promise<void>).call(target, path, ...rest);
          };
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as unknown as WritableGuestFS;
    await expect(applyPlan(plan, full)).rejects.toMatchObject({ code: "GUESTOS_NO_SPACE", message: expect.stringMatching(/free some space/) });
    expect(await dry.changes()).toEqual([]);

    const ac = new AbortController();
    let steps = 0;
    const aborted = applyPlan(plan, dry, { signal: ac.signal, onProgress: () => { if (++steps === 3) ac.abort(new Error("stop")); } });
    await expect(aborted).rejects.toThrow("stop");
    expect(await dry.changes()).toEqual([]);
    // A plan applied to a guest that changed since is refused before anything is written.
    await dry.writeFile("/etc/fstab", Buffer.from("changed\n"));
    await expect(applyPlan(plan, dry)).rejects.toMatchObject({ code: "GUESTOS_STALE_PLAN" });
    expect((await dry.changes()).map((c) => c.path)).toEqual(["/etc/fstab"]);
    await image.close();
  });
});

describe("el7-vmware (CentOS 7, VMware, grub2 + grubenv, LVM, dracut xz, systemd)", () => {
  it("keeps LVM names, edits every linux16 line and GRUB_CMDLINE_LINUX, disables and removes open-vm-tools, pins ens192", async () => {
    const k = "3.10.0-1160.el7.x86_64";
    const { guest, report, image } = await staged("el7-vmware", [
      { version: k, dir: `/usr/lib/modules/${k}`, modules: ["vmw_pvscsi", "vmxnet3", "virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "xfs"], initramfs: ["vmw_pvscsi", "vmxnet3", "xfs"], compression: "xz", initrd: `/boot/initramfs-${k}.img`, xzModules: true },
    ]);
    const plan = await planned(guest, report, { disks: [{ bus: "scsi" }], nics: [{ mac: "00:50:56:8a:1b:2c" }] });
    expect(plan.kernel).toMatchObject({ version: k, wasDefault: true });
    expect(plan.capabilities).toMatchObject({ blockBus: "virtio-blk", machine: "q35", virtio10: true });
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    // LVM and UUID names survive a bus change: fstab is left alone.
    expect((await dry.changes()).map((c) => c.path)).not.toContain("/etc/fstab");
    const cfg = await text(dry, "/boot/grub2/grub.cfg");
    const linux = cfg.split("\n").filter((l) => /^\s*linux16 /.test(l));
    expect(linux).toHaveLength(2);
    for (const l of linux) expect(l).toMatch(/root=\/dev\/mapper\/centos-root ro crashkernel=auto .* console=tty0 console=ttyS0,115200n8$/);
    expect(await text(dry, "/etc/default/grub")).toContain('GRUB_CMDLINE_LINUX="crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet console=tty0 console=ttyS0,115200n8"');
    // The default entry boots on KVM: grubenv is left as it was.
    expect((await dry.changes()).map((c) => c.path)).not.toContain("/boot/grub2/grubenv");
    expect(await dry.exists("/etc/systemd/system/multi-user.target.wants/vmtoolsd.service")).toBe(false);
    expect(plan.packages).toEqual([{ packages: ["open-vm-tools"], hypervisor: "vmware", when: "first-boot", why: expect.any(String) }]);
    const script = await text(dry, "/usr/local/sbin/leapp-firstboot");
    expect(script).toContain("yum -y --disablerepo='*' remove 'open-vm-tools'");
    expect(script).toContain("rm -f /etc/systemd/system/multi-user.target.wants/leapp-firstboot.service /etc/systemd/system/leapp-firstboot.service");
    expect((await dry.stat("/usr/local/sbin/leapp-firstboot")).mode).toBe(0o755);
    expect(await dry.readlink("/etc/systemd/system/multi-user.target.wants/leapp-firstboot.service")).toBe("/etc/systemd/system/leapp-firstboot.service");
    expect(await text(dry, "/etc/systemd/network/10-leapp-ens192.link")).toContain("MACAddress=00:50:56:8a:1b:2c\n\n[Link]\nName=ens192");
    const img = await readInitramfs(await dry.readFile(`/boot/initramfs-${k}.img`, { maxBytes: 1 << 30 }));
    expect(img.segments.map((s) => s.compression)).toEqual(["xz", "none"]);
    expect(listInitramfs(img).map((e) => e.path)).toContain(`usr/lib/modules/${k}/kernel/drivers/block/virtio_blk.ko.xz`);
    await image.close();
  });
});

describe("el9-like (Rocky 9, already KVM, UEFI, BLS, zstd)", () => {
  it("finds nothing to add to an initramfs that has virtio, reports UEFI and the guest agent", async () => {
    const k = "5.14.0-427.13.1.el9_4.x86_64";
    const { guest, report, image } = await staged("el9-like", [
      { version: k, dir: `/usr/lib/modules/${k}`, modules: ["virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "xfs"], initramfs: ["virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi", "xfs"], compression: "zstd", initrd: `/boot/initramfs-${k}.img`, xzModules: true },
    ]);
    const plan = await planned(guest, report, { disks: [{ bus: "virtio" }, { bus: "virtio" }] });
    expect(plan.kernel.version).toBe(k);
    expect(plan.changes.some((c) => c.kind === "initramfs")).toBe(false);
    expect(plan.capabilities).toMatchObject({ firmware: "uefi", guestAgent: true, virtio10: true, machine: "q35" });
    expect(plan.deviceMap).toEqual({});
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    // BLS options already have the serial console and UUID root: the entries are left as they are.
    const changed = (await dry.changes()).map((c) => c.path);
    expect(changed.filter((p) => p.startsWith("/boot/loader/entries/"))).toEqual([]);
    expect(changed).toContain("/etc/dracut.conf.d/leapp-virtio.conf");
    await image.close();
  });
});
