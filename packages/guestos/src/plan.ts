// planConversion: what converting a guest to KVM changes inside it, as a ChangePlan — every file
// edit, created or removed file, package removal and first-boot action, each with why — for the
// RHEL family (RHEL/CentOS 5–9 and clones) and the Debian family (Debian, Ubuntu).
import type { GuestFS, InspectionReport } from "@leapp/inspect";
import { planBoot } from "./boot.js";
import { planConsole } from "./console.js";
import { deviceMapper, remapDevicesIn, type DeviceMapper } from "./devices.js";
import { GuestOSError } from "./errors.js";
import { planFirstBoot } from "./firstboot.js";
import { capabilities, chooseKernel, planInitramfs, VIRTIO_DRIVERS } from "./kernel.js";
import { planNetwork } from "./network.js";
import type { ChangePlan, ConversionTarget, FirstBootAction, GuestFamily, NothingToPlan } from "./plan-types.js";
import { planTools } from "./tools.js";
import { mapLines, PlanWorkspace } from "./workspace.js";

const rhelFamily = new Set(["rhel", "centos", "rocky", "oraclelinux", "scientificlinux", "redhat-based", "fedora"]);
const debianFamily = new Set(["debian", "ubuntu", "linuxmint"]);

export function familyOf(distro: string): GuestFamily | undefined {
  return rhelFamily.has(distro) ? "rhel" : debianFamily.has(distro) ? "debian" : undefined;
}

/**
 * Plans the conversion of `guest` (described by `report`, from `inspect`) to KVM. Reads the
 * guest, never writes it. With no report (inspection found no operating system) the answer is
 * "nothing to plan": the disks move unchanged.
 */
export async function planConversion(guest: GuestFS, report: InspectionReport | undefined, target: ConversionTarget = {}): Promise<ChangePlan | NothingToPlan> {
  if (report === undefined) {
    return { status: "nothing-to-plan", reason: "no-os", message: "no operating system was found on the disks: they are copied unchanged and the guest is defined from its metadata alone; it may not boot on KVM" };
  }
  if (target.hypervisor !== undefined && target.hypervisor !== "kvm") throw new GuestOSError("GUESTOS_BAD_INPUT", `leapp converts guests to KVM, not to ${String(target.hypervisor)}`);
  const family = report.os.type === "linux" ? familyOf(report.os.distro) : undefined;
  if (family === undefined) {
    const what = report.os.type === "linux" ? `${report.os.productName ?? report.os.distro} (${report.os.distro})` : "an operating system leapp does not know";
    throw new GuestOSError("GUESTOS_UNSUPPORTED_OS", `the guest runs ${what}: leapp converts RHEL-family (RHEL, CentOS, Rocky, Oracle, Scientific Linux) and Debian-family (Debian, Ubuntu) guests. Move its disks unchanged and adapt the guest by hand`);
  }
  const ws = new PlanWorkspace(guest);
  const facts = await chooseKernel(ws, report);
  const caps = await capabilities(ws, report, family, facts, target);
  const prefix = caps.blockBus === "virtio-blk" ? "vd" : caps.blockBus === "sata" || (family === "rhel" && report.os.majorVersion > 5) || family === "debian" ? "sd" : "hd";
  const diskCount = target.disks?.length;
  if (diskCount === undefined) ws.warnings.push("the number of source disks is unknown: every disk name (…a to …zz) is mapped; a name past the last disk (a CD-ROM) may be mapped too");
  const mapper = deviceMapper(prefix, diskCount);
  const cmdline = { mapper, serialConsole: caps.serialConsole };

  const wanted = VIRTIO_DRIVERS.filter((d) => facts.db.builtin.has(d) || facts.db.modules.has(d));
  if (caps.blockBus === "virtio-blk") await planInitramfs(ws, facts, wanted, mapper);
  await planFutureInitramfs(ws, family, report.os.majorVersion, wanted);
  await planModprobe(ws, caps.blockBus === "virtio-blk", caps.netModel === "virtio");
  await planFstab(ws, mapper);
  await planBoot(ws, report, facts.kernel.version, cmdline);
  if (caps.serialConsole) await planConsole(ws, report);
  const tools = await planTools(ws, report, family);
  await planNetwork(ws, report, target);
  await planCaches(ws);
  if (caps.firmware === "uefi") await planUefiFallback(ws);
  await ws.edit("/etc/sysconfig/kernel", "new kernels from yum must be the non-Xen kernel", (t) => mapLines(t, (l) => l.replace(/^(DEFAULTKERNEL=)"?kernel-xen"?\s*$/, "$1kernel")));
  const firstBoot: FirstBootAction[] = [...tools.firstBoot];
  if (target.installGuestAgent && !report.applications.some((a) => a.name === "qemu-guest-agent")) {
    const cmd = report.os.packageManagement === "apt" ? "DEBIAN_FRONTEND=noninteractive apt-get -y install qemu-guest-agent" : report.os.packageManagement === "dnf" ? "dnf -y install qemu-guest-agent" : "yum -y install qemu-guest-agent";
    const start = report.init.type === "systemd" ? "systemctl enable --now qemu-guest-agent" : "service qemu-ga start || service qemu-guest-agent start";
    firstBoot.push({ name: "install qemu-guest-agent", script: `${cmd} && ${start}`, why: "the guest agent lets the host freeze filesystems for snapshots and shut the guest down cleanly" });
  }
  await planFirstBoot(ws, report, firstBoot);

  const deviceMap = Object.fromEntries([...mapper.used].sort());
  return {
    status: "planned",
    os: { family, distro: report.os.distro, version: `${report.os.majorVersion}.${report.os.minorVersion}`, osinfo: report.os.osinfo, productName: report.os.productName },
    kernel: { version: facts.kernel.version, path: facts.kernel.path, initrd: facts.kernel.initrd, wasDefault: facts.wasDefault },
    capabilities: caps,
    deviceMap,
    changes: ws.changes(),
    packages: tools.packages,
    firstBoot,
    warnings: [...report.warnings.map((w) => `inspection: ${w}`), ...ws.warnings],
  };
}

/** Later kernel updates rebuild the initramfs in the guest: make those keep the virtio drivers too. */
async function planFutureInitramfs(ws: PlanWorkspace, family: GuestFamily, major: number, wanted: string[]): Promise<void> {
  if (wanted.length === 0) return;
  const why = "initramfs images the guest builds itself later (kernel updates) must also hold the virtio drivers";
  if (family === "debian" || (await ws.read("/etc/initramfs-tools/modules")) !== undefined) {
    const text = await ws.read("/etc/initramfs-tools/modules");
    if (text !== undefined) {
      const listed = new Set(text.split("\n").map((l) => l.trim().split(/\s+/)[0]));
      const extra = wanted.filter((w) => !listed.has(w) && !listed.has(w.replace(/_/g, "-")));
      if (extra.length > 0) await ws.edit("/etc/initramfs-tools/modules", why, (t) => `${t}${t === "" || t.endsWith("\n") ? "" : "\n"}# Added by leapp for KVM\n${extra.join("\n")}\n`);
    }
  }
  // dracut builds every RHEL initramfs since RHEL 6 (RHEL 5's mkinitrd reads the modprobe aliases instead).
  if (family === "rhel" && (major >= 6 || (await ws.guest.exists("/etc/dracut.conf.d")))) {
    await ws.write("/etc/dracut.conf.d/leapp-virtio.conf", `# Written by leapp when the guest moved to KVM.\nadd_drivers+=" ${wanted.join(" ")} "\n`, why);
  }
}

/** modprobe aliases (what RHEL 5's mkinitrd and kudzu-era tools read): the NIC and disk drivers of KVM. */
async function planModprobe(ws: PlanWorkspace, virtioBlk: boolean, virtioNet: boolean): Promise<void> {
  const files = ["/etc/modprobe.conf", "/etc/modprobe.conf.local", "/etc/modules.conf"];
  try {
    for (const n of await ws.guest.readdir("/etc/modprobe.d")) if (n.endsWith(".conf")) files.push(`/etc/modprobe.d/${n}`);
  } catch {
    // No modprobe.d: fine.
  }
  const why = "driver aliases name the old hypervisor's devices: the NIC and disk controller are virtio on KVM";
  let firstHostAdapter = true;
  for (const path of files.slice(0, 500)) {
    await ws.edit(path, why, (t) =>
      mapLines(t, (line) => {
        const m = /^(\s*alias\s+)(eth\d+|scsi_hostadapter\d*)(\s+)(\S+)(.*)$/.exec(line);
        if (!m) return line;
        const [, head, alias, sp, , tail] = m as unknown as [string, string, string, string, string, string];
        if (alias.startsWith("eth")) return virtioNet ? `${head}${alias}${sp}virtio_net${tail}` : line;
        if (!virtioBlk) return line;
        if (!firstHostAdapter) return null;
        firstHostAdapter = false;
        return `${head}${alias}${sp}virtio_blk${tail}`;
      }),
    );
  }
}

async function planFstab(ws: PlanWorkspace, mapper: DeviceMapper): Promise<void> {
  const why = "disks are named after the virtio bus on KVM";
  await ws.edit("/etc/fstab", why, (t) => mapLines(t, (line) => (line.trimStart().startsWith("#") ? line : line.replace(/^(\s*)(\S+)/, (_, sp: string, spec: string) => `${sp}${remapDevicesIn(spec, mapper)}`))));
  await ws.edit("/etc/crypttab", why, (t) => mapLines(t, (line) => (line.trimStart().startsWith("#") ? line : line.replace(/^(\s*\S+\s+)(\S+)/, (_, head: string, dev: string) => `${head}${remapDevicesIn(dev, mapper)}`))));
  for (const p of ["/etc/initramfs-tools/conf.d/resume", "/etc/uswsusp.conf"]) {
    await ws.edit(p, "the swap partition to resume from is named after the virtio bus on KVM", (t) => remapDevicesIn(t, mapper));
  }
  for (const p of ["/etc/mdadm.conf", "/etc/mdadm/mdadm.conf"]) {
    await ws.edit(p, why, (t) => mapLines(t, (line) => (/^\s*DEVICE\b/.test(line) ? remapDevicesIn(line, mapper) : line)));
  }
}

/**
 * UEFI boot entries live in the source's NVRAM, which does not move with the disks: without the
 * removable-media path EFI/BOOT/BOOTX64.EFI the firmware finds nothing to boot. Copy the guest's
 * shim (or grub) there, with the grub shim loads from its own folder.
 */
async function planUefiFallback(ws: PlanWorkspace): Promise<void> {
  const esp = "/boot/efi/EFI";
  if (await ws.guest.exists(`${esp}/BOOT/BOOTX64.EFI`)) return;
  let dirs: string[] = [];
  try {
    dirs = (await ws.guest.readdir(esp)).filter((d) => d !== "BOOT").sort();
  } catch {
    ws.warnings.push("the guest boots with UEFI but its EFI system partition cannot be read: check that it boots, its NVRAM boot entries do not move with the disks");
    return;
  }
  const why = "the source's UEFI boot entries stay in its NVRAM: the firmware's fallback path EFI/BOOT/BOOTX64.EFI must start the guest's boot loader";
  for (const d of dirs) {
    for (const loader of ["shimx64.efi", "grubx64.efi"]) {
      if (!(await ws.guest.exists(`${esp}/${d}/${loader}`))) continue;
      ws.add({ kind: "copy", from: `${esp}/${d}/${loader}`, path: `${esp}/BOOT/BOOTX64.EFI`, why });
      if (loader === "shimx64.efi" && (await ws.guest.exists(`${esp}/${d}/grubx64.efi`))) ws.add({ kind: "copy", from: `${esp}/${d}/grubx64.efi`, path: `${esp}/BOOT/grubx64.efi`, why });
      return;
    }
  }
  ws.warnings.push("the guest boots with UEFI but no shim or grub was found on its EFI system partition: it may not boot without its NVRAM entries");
}

/** Caches that remember the old device names: blkid rebuilds its own, LVM scans again without its devices file. */
async function planCaches(ws: PlanWorkspace): Promise<void> {
  for (const p of ["/etc/blkid/blkid.tab", "/etc/blkid.tab", "/etc/lvm/cache/.cache", "/etc/lvm/devices/system.devices"]) {
    if (await ws.guest.exists(p)) ws.add({ kind: "remove", path: p, why: "remembers the old hypervisor's device names or IDs (the virtio disks have others); rebuilt on demand" });
  }
}
