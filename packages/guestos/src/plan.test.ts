// Planning on small guest trees made here, for the cases no zoo guest has: RHEL 5 (mkinitrd's
// nash initrd, Xen kernel as the default), an Ubuntu guest on Xen with netplan and an upstart-era
// console job, and the pure pieces (device names, command lines, shell variables).
import { gzipSync } from "node:zlib";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { inspect, openDirectoryGuest } from "@leapp/inspect";
import { applyPlan } from "./apply.js";
import { editShellVar, grub2EntryPath } from "./boot.js";
import { editCmdline } from "./cmdline.js";
import { deviceMapper, remapDevicesIn } from "./devices.js";
import { readInitramfs } from "./initramfs/archive.js";
import { writeCpio } from "./initramfs/cpio.js";
import { MemoryGuest } from "./memory-guest.js";
import { planConversion } from "./plan.js";
import type { ChangePlan } from "./plan-types.js";

const scratch = mkdtempSync(join(tmpdir(), "guestos-plan-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string | Uint8Array | { link: string }>): string {
  const root = join(scratch, name);
  for (const [path, content] of Object.entries(files)) {
    const at = join(root, path);
    mkdirSync(dirname(at), { recursive: true });
    if (typeof content === "object" && "link" in content) symlinkSync(content.link, at);
    else writeFileSync(at, content);
  }
  return root;
}

const text = async (g: MemoryGuest, p: string) => Buffer.from(await g.readFile(p)).toString("utf8");

describe("device names and command lines", () => {
  it("maps every disk naming scheme to virtio names, only for the disks there are", () => {
    const m = deviceMapper("vd", 2);
    expect(["/dev/xvda1", "/dev/sdb", "/dev/hda2", "/dev/nvme1n1p3", "/dev/cciss/c0d0p1", "/dev/hdc", "/dev/sr0", "/dev/mapper/vg-root"].map((d) => m.map(d) ?? d)).toEqual(["/dev/vda1", "/dev/vdb", "/dev/vda2", "/dev/vdb3", "/dev/vda1", "/dev/hdc", "/dev/sr0", "/dev/mapper/vg-root"]);
    expect(remapDevicesIn("resume=/dev/xvda2 root=/dev/xvda1 x=/dev/xvda1x", deviceMapper("vd", undefined))).toBe("resume=/dev/vda2 root=/dev/vda1 x=/dev/xvda1x");
  });

  it("edits a kernel command line: devices, the Xen console in place, an added serial console", () => {
    const o = { mapper: deviceMapper("vd", 1), serialConsole: true };
    expect(editCmdline("ro root=/dev/xvda1 console=hvc0 xencons=tty quiet", o)).toBe("ro root=/dev/vda1 console=ttyS0,115200n8 quiet");
    expect(editCmdline("ro root=UUID=x quiet", o)).toBe("ro root=UUID=x quiet console=tty0 console=ttyS0,115200n8");
    expect(editCmdline("root=/dev/sda1 console=ttyS0,9600", o)).toBe("root=/dev/vda1 console=ttyS0,9600");
    expect(editCmdline("root=/dev/xvda1 console=hvc0", { ...o, serialConsole: false })).toBe("root=/dev/vda1 console=tty0");
  });

  it("edits command lines idempotently, whatever they hold", () => {
    const o = { mapper: deviceMapper("vd", undefined), serialConsole: true };
    fc.assert(
      fc.property(fc.array(fc.constantFrom("root=/dev/xvda1", "resume=/dev/sdb2", "console=hvc0", "console=xvc0,38400", "xencons=tty", "console=ttyS0", "console=tty0", "quiet", "ro", "root=UUID=ab", "$kernelopts", "rd.lvm.lv=vg/root", "x=/dev/hda"), { maxLength: 10 }), (tokens) => {
        const once = editCmdline(tokens.join(" "), o);
        expect(editCmdline(once, o)).toBe(once);
        expect(once).not.toMatch(/hvc0|xvc0|xencons|\/dev\/(xvd|sd)/);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it("finds grub's path to an entry, inside submenus too", () => {
    const cfg = ["menuentry 'Debian' {", "\tlinux /boot/vmlinuz-6.1.0-1-amd64 root=/dev/xvda1", "}", "submenu 'Advanced' {", "\tmenuentry 'Xen' {", "\t\tlinux /boot/vmlinuz-2.6.32-5-xen-amd64", "\t}", "\tmenuentry 'old' {", "\t\tlinux /boot/vmlinuz-5.10.0-9-amd64 ro", "\t}", "}", "menuentry 'memtest' {", "\tlinux16 /boot/memtest86+.bin", "}", ""].join("\n");
    expect(grub2EntryPath(cfg, "6.1.0-1-amd64")).toBe("0");
    expect(grub2EntryPath(cfg, "5.10.0-9-amd64")).toBe("1>1");
    expect(grub2EntryPath(cfg, "4.19.0-1-amd64")).toBeUndefined();
  });

  it("edits shell variables keeping their quotes", () => {
    const t = `A="x y"\nexport B='z'\nC=w\n# A="no"\n`;
    expect(editShellVar(t, "A", (v) => `${v} 1`)).toBe(`A="x y 1"\nexport B='z'\nC=w\n# A="no"\n`);
    expect(editShellVar(t, "B", () => "q")).toBe(`A="x y"\nexport B='q'\nC=w\n# A="no"\n`);
    expect(editShellVar(t, "C", () => "p q")).toBe(`A="x y"\nexport B='z'\nC="p q"\n# A="no"\n`);
  });
});

describe("RHEL 8 on VMware: BLS entries with device names, grubenv kernelopts", () => {
  const k = "4.18.0-513.5.1.el8_9.x86_64";
  const root = tree("el8", {
    "etc/redhat-release": "Red Hat Enterprise Linux release 8.9 (Ootpa)\n",
    "etc/os-release": 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="8.9"\nPRETTY_NAME="Red Hat Enterprise Linux 8.9 (Ootpa)"\n',
    "etc/fstab": "/dev/sda2 / xfs defaults 0 0\n/dev/sda1 /boot xfs defaults 0 0\n/dev/sda3 none swap defaults 0 0\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "usr/bin/bash": "x",
    "bin": { link: "usr/bin" },
    "usr/lib/systemd/systemd": "x",
    "etc/default/grub": 'GRUB_CMDLINE_LINUX="resume=/dev/sda3 rhgb quiet"\nGRUB_ENABLE_BLSCFG=true\n',
    "boot/grub2/grub.cfg": "insmod blscfg\nblscfg\n",
    "boot/grub2/grubenv": (() => {
      const head = `# GRUB Environment Block\nsaved_entry=abc-${k}\nkernelopts=root=/dev/sda2 ro resume=/dev/sda3 rhgb quiet\n`;
      return head + "#".repeat(1024 - head.length);
    })(),
    [`boot/loader/entries/abc-${k}.conf`]: `title Red Hat Enterprise Linux (${k}) 8.9\nversion ${k}\nlinux /vmlinuz-${k}\ninitrd /initramfs-${k}.img\noptions $kernelopts\n`,
    "boot/loader/entries/abc-0-rescue.conf": "title Rescue\nversion 0-rescue\nlinux /vmlinuz-0-rescue-abc\noptions root=/dev/sda2 ro resume=/dev/sda3\n",
    [`boot/vmlinuz-${k}`]: "k",
    [`usr/lib/modules/${k}/modules.builtin`]: "kernel/drivers/virtio/virtio_pci.ko\n",
    [`usr/lib/modules/${k}/modules.dep`]: "kernel/drivers/block/virtio_blk.ko.xz:\nkernel/drivers/net/virtio_net.ko.xz:\n",
  });

  it("remaps the BLS options and grubenv's kernelopts, keeping grubenv 1024 bytes; no initramfs is a typed error", async () => {
    const guest = await openDirectoryGuest(root);
    const report = await inspect(guest);
    await expect(planConversion(guest, report, { disks: [{ bus: "scsi" }] })).rejects.toMatchObject({ code: "GUESTOS_INITRAMFS", message: expect.stringMatching(/has no initramfs/) });
    // With virtio built into this kernel, there is nothing to load and no initramfs to amend.
    const builtin = { ...report };
    const dir = join(root, "usr/lib/modules", k);
    writeFileSync(join(dir, "modules.builtin"), "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\n");
    writeFileSync(join(dir, "modules.dep"), "");
    const plan = (await planConversion(guest, builtin, { disks: [{ bus: "scsi" }], serialConsole: false })) as ChangePlan;
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    expect(await text(dry, "/etc/fstab")).toBe("/dev/vda2 / xfs defaults 0 0\n/dev/vda1 /boot xfs defaults 0 0\n/dev/vda3 none swap defaults 0 0\n");
    expect(await text(dry, "/boot/loader/entries/abc-0-rescue.conf")).toContain("options root=/dev/vda2 ro resume=/dev/vda3\n");
    expect(await text(dry, `/boot/loader/entries/abc-${k}.conf`)).toContain("options $kernelopts\n");
    const env = await text(dry, "/boot/grub2/grubenv");
    expect(env).toContain("kernelopts=root=/dev/vda2 ro resume=/dev/vda3 rhgb quiet\n");
    expect(Buffer.byteLength(env)).toBe(1024);
    expect(await text(dry, "/etc/default/grub")).toContain('GRUB_CMDLINE_LINUX="resume=/dev/vda3 rhgb quiet"');
  });
});

describe("Debian 6 on Xen: the -xen kernel first in grub.cfg, the generic one in a submenu", () => {
  const xen = "2.6.32-5-xen-amd64";
  const generic = "2.6.32-5-amd64";
  const itools = gzipSync(writeCpio([{ name: "conf", type: "directory" }, { name: "conf/initramfs.conf", type: "file", data: "MODULES=most\n" }, { name: "scripts", type: "directory" }, { name: "scripts/functions", type: "file", data: "" }, { name: "lib", type: "directory" }, { name: "lib/modules", type: "directory" }, { name: `lib/modules/${generic}`, type: "directory" }, { name: `lib/modules/${generic}/modules.dep`, type: "file", data: "" }]));
  const root = tree("squeeze", {
    "etc/debian_version": "6.0.10\n",
    "etc/fstab": "/dev/xvda1 / ext3 errors=remount-ro 0 1\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "bin/bash": "x",
    "etc/inittab": "id:2:initdefault:\nhvc0:2345:respawn:/sbin/getty 38400 hvc0\n",
    "etc/default/grub": "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"console=hvc0\"\n",
    "boot/grub/grub.cfg": ["set default=\"0\"", "menuentry 'Debian GNU/Linux, with Linux " + xen + "' {", `\tlinux /boot/vmlinuz-${xen} root=/dev/xvda1 ro console=hvc0`, `\tinitrd /boot/initrd.img-${xen}`, "}", "submenu 'Other kernels' {", `\tmenuentry 'Debian GNU/Linux, with Linux ${generic}' {`, `\t\tlinux /boot/vmlinuz-${generic} root=/dev/xvda1 ro console=hvc0`, `\t\tinitrd /boot/initrd.img-${generic}`, "\t}", "}", ""].join("\n"),
    [`boot/vmlinuz-${xen}`]: "k",
    [`boot/initrd.img-${xen}`]: "i",
    [`boot/vmlinuz-${generic}`]: "k",
    [`boot/initrd.img-${generic}`]: itools,
    [`lib/modules/${generic}/modules.dep`]: "kernel/drivers/virtio/virtio.ko:\nkernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\nkernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n",
    ...Object.fromEntries(["virtio/virtio", "virtio/virtio_ring", "virtio/virtio_pci", "block/virtio_blk", "net/virtio_net"].map((m) => [`lib/modules/${generic}/kernel/drivers/${m}.ko`, `module ${m}`])),
    [`lib/modules/${xen}/modules.dep`]: "",
  });

  it("makes the generic kernel the default by its submenu path, in grub.cfg and GRUB_DEFAULT; the hvc0 getty moves to ttyS0", async () => {
    const guest = await openDirectoryGuest(root);
    const report = await inspect(guest);
    const plan = (await planConversion(guest, report, { disks: [{}] })) as ChangePlan;
    expect(plan.kernel).toMatchObject({ version: generic, wasDefault: false });
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    const cfg = await text(dry, "/boot/grub/grub.cfg");
    expect(cfg).toMatch(/^set default="1>0"$/m);
    expect(cfg).toContain(`linux /boot/vmlinuz-${generic} root=/dev/vda1 ro console=ttyS0,115200n8`);
    expect(await text(dry, "/etc/default/grub")).toBe('GRUB_DEFAULT="1>0"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200n8"\n');
    expect(await text(dry, "/etc/inittab")).toContain("hvc0:2345:respawn:/sbin/getty 115200 ttyS0\n");
    const img = await readInitramfs(await dry.readFile(`/boot/initrd.img-${generic}`));
    expect(Buffer.from(img.tree.get("conf/modules")!.data).toString()).toBe("virtio_blk\nvirtio_net\nvirtio_pci\n");
  });
});

describe("RHEL 5 on Xen: nash initrd, the Xen kernel as default", () => {
  const el5 = "2.6.18-419.el5";
  const nashInit = ["#!/bin/nash", "mount -t proc /proc /proc", 'echo "Loading xenblk.ko module"', "insmod /lib/xenblk.ko", "mkblkdevs", "echo Creating root device.", "mkrootdev -t ext3 -o defaults,ro /dev/xvda1", "echo Mounting root filesystem.", "switchroot", ""].join("\n");
  const initrd = gzipSync(writeCpio([{ name: "init", type: "file", data: nashInit, mode: 0o755 }, { name: "lib", type: "directory" }, { name: "lib/xenblk.ko", type: "file", data: "xenblk" }, { name: "bin", type: "directory" }, { name: "bin/nash", type: "file", data: "nash" }]));
  const root = tree("el5", {
    "etc/redhat-release": "CentOS release 5.11 (Final)\n",
    "etc/fstab": "/dev/xvda1 / ext3 defaults 1 1\n/dev/xvda2 swap swap defaults 0 0\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "bin/bash": "x",
    "etc/inittab": "id:3:initdefault:\nco:2345:respawn:/sbin/agetty xvc0 9600 vt100-nav\n1:2345:respawn:/sbin/mingetty tty1\n",
    "etc/securetty": "console\ntty1\nxvc0\n",
    "etc/modprobe.conf": "alias eth0 xennet\nalias scsi_hostadapter xenblk\nalias scsi_hostadapter1 ata_piix\n",
    "etc/rc.d/rc3.d/S05kudzu": { link: "../init.d/kudzu" },
    "etc/rc.d/init.d/kudzu": "#!/bin/sh\n",
    "etc/sysconfig/kernel": "UPDATEDEFAULT=yes\nDEFAULTKERNEL=kernel-xen\n",
    "etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nBOOTPROTO=dhcp\nHWADDR=00:16:3E:11:22:33\nONBOOT=yes\n",
    "boot/grub/grub.conf": ["#boot=/dev/xvda", "default=0", "timeout=5", `title CentOS (${el5}xen)`, "\troot (hd0,0)", `\tkernel /boot/vmlinuz-${el5}xen ro root=/dev/xvda1 console=xvc0`, `\tinitrd /boot/initrd-${el5}xen.img`, `title CentOS (${el5})`, "\troot (hd0,0)", `\tkernel /boot/vmlinuz-${el5} ro root=/dev/xvda1`, `\tinitrd /boot/initrd-${el5}.img`, ""].join("\n"),
    "boot/grub/device.map": "(hd0)     /dev/xvda\n",
    [`boot/vmlinuz-${el5}xen`]: "k",
    [`boot/initrd-${el5}xen.img`]: "i",
    [`boot/vmlinuz-${el5}`]: "k",
    [`boot/initrd-${el5}.img`]: initrd,
    [`lib/modules/${el5}/modules.dep`]: [`/lib/modules/${el5}/kernel/drivers/virtio/virtio.ko:`, `/lib/modules/${el5}/kernel/drivers/virtio/virtio_ring.ko: /lib/modules/${el5}/kernel/drivers/virtio/virtio.ko`, `/lib/modules/${el5}/kernel/drivers/virtio/virtio_pci.ko: /lib/modules/${el5}/kernel/drivers/virtio/virtio_ring.ko /lib/modules/${el5}/kernel/drivers/virtio/virtio.ko`, `/lib/modules/${el5}/kernel/drivers/block/virtio_blk.ko: /lib/modules/${el5}/kernel/drivers/virtio/virtio_ring.ko /lib/modules/${el5}/kernel/drivers/virtio/virtio.ko`, `/lib/modules/${el5}/kernel/drivers/net/virtio_net.ko: /lib/modules/${el5}/kernel/drivers/virtio/virtio_ring.ko /lib/modules/${el5}/kernel/drivers/virtio/virtio.ko`, ""].join("\n"),
    ...Object.fromEntries(["virtio/virtio", "virtio/virtio_ring", "virtio/virtio_pci", "block/virtio_blk", "net/virtio_net"].map((m) => [`lib/modules/${el5}/kernel/drivers/${m}.ko`, `module ${m}`])),
    [`lib/modules/${el5}xen/modules.dep`]: "",
  });

  it("boots the non-Xen kernel, with insmod lines in nash's init, xvc0 moved to ttyS0 and kudzu off", async () => {
    const guest = await openDirectoryGuest(root);
    const report = await inspect(guest);
    expect(report.boot?.defaultKernel).toBe(`${el5}xen`);
    const plan = (await planConversion(guest, report, { disks: [{}], nics: [{ mac: "00:16:3e:11:22:33" }] })) as ChangePlan;
    expect(plan.kernel).toMatchObject({ version: el5, wasDefault: false });
    expect(plan.capabilities).toMatchObject({ blockBus: "virtio-blk", virtio10: false });
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    const grub = await text(dry, "/boot/grub/grub.conf");
    expect(grub).toMatch(/^default=1$/m);
    expect(grub).toContain(`kernel /boot/vmlinuz-${el5} ro root=/dev/vda1 console=tty0 console=ttyS0,115200n8`);
    expect(await text(dry, "/boot/grub/device.map")).toBe("(hd0)     /dev/vda\n");
    expect(await text(dry, "/etc/modprobe.conf")).toBe("alias eth0 virtio_net\nalias scsi_hostadapter virtio_blk\n");
    expect(await text(dry, "/etc/inittab")).toContain("co:2345:respawn:/sbin/agetty ttyS0 115200 vt100-nav");
    expect(await text(dry, "/etc/securetty")).toMatch(/^ttyS0$/m);
    expect(await text(dry, "/etc/sysconfig/kernel")).toContain("DEFAULTKERNEL=kernel\n");
    expect(await dry.exists("/etc/rc.d/rc3.d/S05kudzu")).toBe(false);
    expect(await dry.readlink("/etc/rc.d/rc3.d/K95kudzu")).toBe("../init.d/kudzu");
    const img = await readInitramfs(await dry.readFile(`/boot/initrd-${el5}.img`));
    const init = Buffer.from(img.tree.get("init")!.data).toString();
    expect(init).toContain('insmod /lib/xenblk.ko\necho "Loading virtio.ko module"\ninsmod /lib/virtio.ko\n');
    expect(init.indexOf("insmod /lib/virtio_ring.ko")).toBeLessThan(init.indexOf("insmod /lib/virtio_blk.ko"));
    expect(init.indexOf("insmod /lib/virtio_pci.ko")).toBeLessThan(init.indexOf("mkblkdevs"));
    expect(Buffer.from(img.tree.get("lib/virtio_blk.ko")!.data).toString()).toBe("module block/virtio_blk");
    expect(img.tree.get("init")!.mode).toBe(0o755);
  });
});

describe("Ubuntu 18.04 on Xen: netplan, grub2, initramfs-tools, console job", () => {
  const k = "4.15.0-213-generic";
  const initrd = gzipSync(writeCpio([{ name: "conf", type: "directory" }, { name: "conf/initramfs.conf", type: "file", data: "MODULES=dep\n" }, { name: "conf/conf.d", type: "directory" }, { name: "conf/conf.d/resume", type: "file", data: "RESUME=/dev/xvda2\n" }, { name: "scripts", type: "directory" }, { name: "scripts/functions", type: "file", data: "" }, { name: "init", type: "file", data: "#!/bin/sh\n", mode: 0o755 }]));
  const root = tree("ubuntu", {
    "etc/os-release": 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="18.04"\nPRETTY_NAME="Ubuntu 18.04.6 LTS"\n',
    "etc/fstab": "UUID=1234 / ext4 defaults 0 1\n/dev/xvda2 none swap sw 0 0\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "bin/bash": "x",
    "lib/systemd/systemd": "x",
    "lib/systemd/network/99-default.link": "[Link]\n",
    "sbin/init": { link: "/lib/systemd/systemd" },
    "etc/netplan/50-cloud-init.yaml": "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n",
    "etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="console=hvc0"\nGRUB_CMDLINE_LINUX=""\n',
    "etc/initramfs-tools/modules": "# List of modules\n",
    "etc/initramfs-tools/conf.d/resume": "RESUME=/dev/xvda2\n",
    "boot/grub/grub.cfg": ["set default=\"0\"", "menuentry 'Ubuntu' {", `\tlinux /boot/vmlinuz-${k} root=UUID=1234 ro console=hvc0`, `\tinitrd /boot/initrd.img-${k}`, "}", ""].join("\n"),
    "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service": { link: "/lib/systemd/system/serial-getty@.service" },
    "lib/systemd/system/serial-getty@.service": "[Unit]\n",
    [`boot/vmlinuz-${k}`]: "k",
    [`boot/initrd.img-${k}`]: initrd,
    [`lib/modules/${k}/modules.builtin`]: "kernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/scsi/virtio_scsi.ko\n",
    [`lib/modules/${k}/modules.dep`]: "kernel/drivers/block/xen-blkfront.ko:\n",
  });

  it("keeps the drivers built into the kernel, pins eth0 to the source MAC, moves the console getty", async () => {
    const guest = await openDirectoryGuest(root);
    const report = await inspect(guest);
    const plan = (await planConversion(guest, report, { disks: [{ bus: "xen" }], nics: [{ mac: "00:16:3E:AA:BB:CC" }] })) as ChangePlan;
    expect(plan.os.family).toBe("debian");
    expect(plan.capabilities).toMatchObject({ blockBus: "virtio-blk", netModel: "virtio", virtio10: true });
    // Built-in virtio: no driver to add to the initramfs, only its copy of the resume device to fix.
    expect(plan.changes.find((c) => c.kind === "initramfs")).toMatchObject({ added: [], texts: [{ path: "conf/conf.d/resume", content: "RESUME=/dev/vda2\n" }] });
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    expect(await text(dry, "/etc/fstab")).toBe("UUID=1234 / ext4 defaults 0 1\n/dev/vda2 none swap sw 0 0\n");
    expect(await text(dry, "/etc/initramfs-tools/conf.d/resume")).toBe("RESUME=/dev/vda2\n");
    expect(await text(dry, "/boot/grub/grub.cfg")).toContain(`linux /boot/vmlinuz-${k} root=UUID=1234 ro console=ttyS0,115200n8`);
    expect(await text(dry, "/etc/default/grub")).toBe('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=""\nGRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"\n');
    expect(await text(dry, "/etc/initramfs-tools/modules")).toBe("# List of modules\n# Added by leapp for KVM\nvirtio_blk\nvirtio_scsi\nvirtio_net\nvirtio_pci\n");
    expect(await text(dry, "/etc/systemd/network/10-leapp-eth0.link")).toContain("MACAddress=00:16:3e:aa:bb:cc");
    expect(await dry.exists("/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")).toBe(false);
    expect(await dry.readlink("/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service")).toBe("/lib/systemd/system/serial-getty@.service");
    expect(plan.deviceMap).toEqual({ "/dev/xvda": "/dev/vda" });
    const img = await readInitramfs(await dry.readFile(`/boot/initrd.img-${k}`));
    expect(Buffer.from(img.tree.get("conf/conf.d/resume")!.data).toString()).toBe("RESUME=/dev/vda2\n");
    expect(img.segments.map((s) => s.compression)).toEqual(["gzip", "none"]);
  });

  it("a UEFI guest without the removable-media path gets its shim and grub copied there", async () => {
    writeFileSync(join(root, "etc/fstab"), "UUID=1234 / ext4 defaults 0 1\nUUID=AB-CD /boot/efi vfat umask=0077 0 1\n");
    mkdirSync(join(root, "boot/efi/EFI/ubuntu"), { recursive: true });
    writeFileSync(join(root, "boot/efi/EFI/ubuntu/shimx64.efi"), "MZ shim");
    writeFileSync(join(root, "boot/efi/EFI/ubuntu/grubx64.efi"), "MZ grub");
    try {
      const guest = await openDirectoryGuest(root);
      const report = await inspect(guest);
      const plan = (await planConversion(guest, report, { disks: [{}], firmware: "uefi" })) as ChangePlan;
      expect(plan.capabilities.firmware).toBe("uefi");
      const dry = new MemoryGuest(guest);
      await applyPlan(plan, dry);
      expect(await text(dry, "/boot/efi/EFI/BOOT/BOOTX64.EFI")).toBe("MZ shim");
      expect(await text(dry, "/boot/efi/EFI/BOOT/grubx64.efi")).toBe("MZ grub");
    } finally {
      rmSync(join(root, "boot/efi"), { recursive: true, force: true });
      writeFileSync(join(root, "etc/fstab"), "UUID=1234 / ext4 defaults 0 1\n/dev/xvda2 none swap sw 0 0\n");
    }
  });

  it("no OS: nothing to plan; an unknown Linux: a typed error", async () => {
    const guest = await openDirectoryGuest(root);
    expect(await planConversion(guest, undefined)).toMatchObject({ status: "nothing-to-plan" });
    const report = await inspect(guest);
    await expect(planConversion(guest, { ...report, os: { ...report.os, distro: "unknown" } })).rejects.toMatchObject({ code: "GUESTOS_UNSUPPORTED_OS", package: "@leapp/guestos" });
  });
});
