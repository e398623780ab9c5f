import type { Application } from "./application.js";
import { parseBlsEntry, parseDefaultGrub, parseGrub2Cfg, parseGrubEnv, parseGrubLegacy, pickDefault } from "./boot-config.js";
import { parseDpkgStatus } from "./dpkg-status.js";
import { architectureProbes, elfArchitecture } from "./elf.js";
import { InspectError } from "../errors.js";
import { canonicalMountpoint, isIgnoredFstabEntry, parseFstab, resolveFstabSpec } from "../guestfs/fstab.js";
import type { GuestContext, InspectableGuest } from "../guestfs/guest-source.js";
import type { GuestFS } from "../guestfs/guestfs.js";
import { GuestReader, looksLikeLinuxRoot } from "../guestfs/guest-reader.js";
import { openImageGuest } from "../guestfs/image-guest.js";
import { openGuest, type OpenGuestOptions } from "../guestfs/open-guest.js";
import { parseDebianInterfaces, parseIfcfg, parseNetplan, parseNmKeyfile, type NetworkInterfaceConfig } from "./network-config.js";
import { osinfoShortId, packageFormatOf, packageManagementOf, parseLsbRelease, parseOsRelease, parseReleaseFile, releaseFiles, type OsIdentity } from "./os-release.js";
import { PACKAGE_DB_BYTES } from "../read-limits.js";
import type { BootEntry } from "./boot-config.js";
import type { BootConfiguration, EnabledService, HypervisorTool, InitSystem, InspectionReport, InstalledKernel, OperatingSystem } from "../report/report.js";
import { readRpmDb, rpmDbLocations } from "./rpmdb.js";
import { firstLine, isUpstartJobStartedOnEvent, parseModprobeAliases, parseShellVars } from "../text.js";

/** Most small files read from one directory (ifcfg-*, BLS entries, modprobe.d…). */
const MAX_FILES_PER_DIR = 500;

export interface InspectOptions {
  /** Skip the package database (faster when only the OS is wanted). */
  applications?: boolean;
  /** Stops the inspection: it rejects with the signal's reason at once (close the guest to end a read still pending). */
  signal?: AbortSignal;
}

/**
 * Inspects a guest as virt-inspector does — OS, version, architecture, hostname, mountpoints,
 * filesystems, packages — and adds what a migration needs: kernels, the default boot entry,
 * hypervisor tools, enabled services, network configuration, and live facts for live sources.
 */
export async function inspect(guest: GuestFS | InspectableGuest, options: InspectOptions = {}): Promise<InspectionReport> {
  const { signal } = options;
  signal?.throwIfAborted();
  if (!signal) return inspectGuest(guest, options);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([inspectGuest(guest, options), aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

async function inspectGuest(guest: GuestFS | InspectableGuest, options: InspectOptions): Promise<InspectionReport> {
  const context: GuestContext = "context" in guest ? guest.context : { kind: "directory", location: [] };
  const r = new GuestReader(guest, options.signal);
  if (!(await looksLikeLinuxRoot(guest))) {
    throw new InspectError("INSPECT_NO_OS", `no operating system found in ${context.location.join(", ") || "the guest"}: there is no Linux root (/etc with fstab or hosts, and /bin)`);
  }
  const ident = await identify(r);
  const arch = await architecture(r);
  const hostname = await findHostname(r);
  const hasDnf = await r.isFile("/usr/bin/dnf");
  const os: OperatingSystem = {
    type: "linux",
    distro: ident.distro,
    productName: ident.productName,
    majorVersion: ident.majorVersion,
    minorVersion: ident.minorVersion,
    osinfo: osinfoShortId(ident),
    arch,
    hostname,
    packageFormat: packageFormatOf(ident.distro),
    packageManagement: packageManagementOf(ident.distro, ident.majorVersion, hasDnf),
  };
  const { mountpoints, filesystems } = await mounts(r, context);
  const applications = options.applications === false ? [] : await listApplications(r, os.packageFormat);
  const kernels = await listKernels(r);
  const boot = await bootConfiguration(r);
  const init = await initSystem(r);
  const report: InspectionReport = {
    source: { kind: context.kind, location: context.location },
    root: context.rootDevice ?? "/",
    os,
    mountpoints,
    filesystems,
    applications,
    kernels,
    boot,
    init,
    hypervisorTools: await hypervisorTools(r, kernels, applications),
    services: await enabledServices(r, init),
    network: await networkConfiguration(r),
    warnings: r.warnings,
  };
  if (context.listeningPorts) report.live = { listeningPorts: await context.listeningPorts() };
  report.warnings.unshift(...(context.warnings ?? []));
  return report;
}

export async function identify(r: GuestReader): Promise<OsIdentity> {
  const osRelease = await r.text("/etc/os-release");
  const fromOsRelease = osRelease === undefined ? undefined : parseOsRelease(osRelease);
  if (fromOsRelease) return fromOsRelease;
  const lsb = await r.text("/etc/lsb-release");
  const fromLsb = lsb === undefined ? undefined : parseLsbRelease(lsb);
  if (fromLsb) return fromLsb;
  for (const path of releaseFiles) {
    if (!(await r.isFile(path))) continue;
    const text = (await r.text(path)) ?? "";
    const found = parseReleaseFile(path, text);
    if (found) return found;
  }
  return { distro: "unknown", productName: undefined, majorVersion: 0, minorVersion: 0 };
}

async function architecture(r: GuestReader): Promise<string | undefined> {
  for (const path of architectureProbes) {
    if (!(await r.isFile(path))) continue;
    // Only the ELF header matters, but GuestFS reads whole files: bound it to a sane binary size.
    const bytes = await r.bytes(path, 32 * 1024 * 1024);
    const arch = bytes && elfArchitecture(bytes.subarray(0, 64));
    if (arch) return arch;
  }
  return undefined;
}

async function findHostname(r: GuestReader): Promise<string | undefined> {
  for (const path of ["/etc/HOSTNAME", "/etc/hostname"]) {
    const text = await r.text(path);
    const line = text === undefined ? "" : firstLine(text).trim();
    if (line !== "") return line;
  }
  const network = await r.text("/etc/sysconfig/network");
  const h = network === undefined ? undefined : parseShellVars(network).get("HOSTNAME");
  return h === undefined || h === "" ? undefined : h;
}

async function mounts(r: GuestReader, context: GuestContext): Promise<Pick<InspectionReport, "mountpoints" | "filesystems">> {
  const text = (await r.text("/etc/fstab")) ?? "";
  const volumes = context.volumes;
  const root = context.rootDevice;
  const mountpoints = new Map<string, string>();
  const used = new Map<string, string | undefined>(); // device → fstab vfstype
  if (root) {
    mountpoints.set("/", root);
    used.set(root, undefined);
  }
  for (const e of parseFstab(text)) {
    if (isIgnoredFstabEntry(e)) continue;
    const mp = canonicalMountpoint(e.mountpoint);
    let device: string | undefined;
    if (volumes) device = resolveFstabSpec(e.spec, volumes, context.diskCount ?? 1, root);
    // Without block devices (a tree, a live host) the fstab spec itself names the filesystem.
    else if (e.spec.startsWith("/dev/") || /^(UUID|LABEL|PARTUUID)=/.test(e.spec)) device = e.spec;
    if (device === undefined) continue;
    if (!used.has(device)) used.set(device, e.vfstype);
    if (mp.startsWith("/") && !(mp === "/" && root)) mountpoints.set(mp, device);
  }
  const mountpointList = [...mountpoints].map(([mountpoint, device]) => ({ device, mountpoint })).sort((a, b) => a.mountpoint.length - b.mountpoint.length || a.mountpoint.localeCompare(b.mountpoint));
  const filesystems = [...used].map(([device, vfstype]) => {
    const v = volumes?.find((x) => x.device === device);
    const fs: InspectionReport["filesystems"][number] = { device };
    const type = v ? v.fsType : vfstype;
    if (type) fs.type = type;
    if (v?.label) fs.label = v.label;
    if (v?.uuid) fs.uuid = v.uuid;
    return fs;
  });
  filesystems.sort((a, b) => a.device.localeCompare(b.device));
  return { mountpoints: mountpointList, filesystems };
}

async function listApplications(r: GuestReader, format: string | undefined): Promise<Application[]> {
  let apps: Application[] = [];
  if (format === "rpm" || format === undefined) {
    for (const { path, format: dbFormat } of rpmDbLocations) {
      if (!(await r.isFile(path))) continue;
      const data = await r.bytes(path, PACKAGE_DB_BYTES);
      if (!data) continue;
      try {
        const found = await readRpmDb(data, dbFormat);
        apps = found.applications;
        r.warnings.push(...found.warnings.map((w) => `${path}: ${w}`));
      } catch (err) {
        if (!(err instanceof InspectError)) throw err;
        r.warnings.push(`${path}: ${err.message}`);
        continue;
      }
      break;
    }
  }
  if ((format === "deb" || format === undefined) && apps.length === 0) {
    const status = await r.text("/var/lib/dpkg/status", PACKAGE_DB_BYTES);
    if (status !== undefined) {
      const found = parseDpkgStatus(status);
      apps = found.applications;
      if (found.more > 0) r.warnings.push(`/var/lib/dpkg/status: ${found.applications.length + found.more} installed packages; only the first ${found.applications.length} are reported`);
    }
  }
  // By name in byte order (as `LC_ALL=C rpm -qa | sort`), then oldest version first.
  const byBytes = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return apps.sort((a, b) => byBytes(a.name, b.name) || a.epoch - b.epoch || compareVersions(a.version, b.version) || compareVersions(a.release, b.release) || byBytes(a.arch, b.arch));
}

async function listKernels(r: GuestReader): Promise<InstalledKernel[]> {
  const modules = new Set(await r.list("/lib/modules"));
  const kernels: InstalledKernel[] = [];
  for (const name of await r.list("/boot")) {
    const m = /^(?:vmlinuz|vmlinux|kernel)-(.+)$/.exec(name);
    if (!m || name.endsWith(".hmac")) continue;
    const version = m[1] as string;
    if (version.includes("rescue")) continue;
    let initrd: string | undefined;
    for (const candidate of [`initramfs-${version}.img`, `initrd-${version}.img`, `initrd.img-${version}`, `initrd-${version}`]) {
      if (await r.isFile(`/boot/${candidate}`)) {
        initrd = `/boot/${candidate}`;
        break;
      }
    }
    kernels.push({ version, path: `/boot/${name}`, initrd, modules: modules.has(version), xen: /xen/i.test(version) });
  }
  return kernels;
}

async function bootConfiguration(r: GuestReader): Promise<BootConfiguration | undefined> {
  const grubenvText = (await r.text("/boot/grub2/grubenv")) ?? (await r.text("/boot/grub/grubenv"));
  const savedEntry = grubenvText === undefined ? undefined : parseGrubEnv(grubenvText).get("saved_entry");
  const defaultsText = await r.text("/etc/default/grub");
  const grubDefault = defaultsText === undefined ? undefined : parseDefaultGrub(defaultsText).get("GRUB_DEFAULT");

  const efiDirs = (await r.list("/boot/efi/EFI")).map((d) => `/boot/efi/EFI/${d}/grub.cfg`);
  for (const path of ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg", ...efiDirs]) {
    const text = await r.text(path);
    if (text === undefined) continue;
    const cfg = parseGrub2Cfg(text);
    // EFI stubs only point at the real grub.cfg; skip one without entries unless it uses BLS.
    if (cfg.entries.length === 0 && !cfg.usesBls) continue;
    const selector = grubDefault ?? cfg.defaultSet;
    if (cfg.usesBls) {
      const entries = [];
      for (const name of (await r.list("/boot/loader/entries")).filter((n) => n.endsWith(".conf")).slice(0, MAX_FILES_PER_DIR)) {
        const body = await r.text(`/boot/loader/entries/${name}`);
        if (body !== undefined) entries.push(parseBlsEntry(name.slice(0, -5), body));
      }
      // grub's blscfg lists entries newest version first.
      entries.sort((a, b) => compareVersions(b.version ?? b.id ?? "", a.version ?? a.id ?? ""));
      const all = [...entries, ...cfg.entries];
      return withDefaultKernel({ loader: "grub2-bls", config: path, entries: all, default: pickDefault(all, selector, savedEntry) });
    }
    return withDefaultKernel({ loader: "grub2", config: path, entries: cfg.entries, default: pickDefault(cfg.entries, selector, savedEntry) });
  }
  for (const path of ["/boot/grub/grub.conf", "/boot/grub/menu.lst", "/etc/grub.conf"]) {
    const text = await r.text(path);
    if (text === undefined) continue;
    const cfg = parseGrubLegacy(text);
    return withDefaultKernel({ loader: "grub", config: path, entries: cfg.entries, default: pickDefault(cfg.entries, cfg.default, undefined) });
  }
  return undefined;
}

function withDefaultKernel(boot: Omit<BootConfiguration, "defaultKernel"> & { default: BootEntry | undefined }): BootConfiguration {
  const file = boot.default?.kernel?.split("/").pop();
  const m = file === undefined ? null : /^(?:vmlinuz|vmlinux|kernel)-(.+)$/.exec(file);
  return { ...boot, defaultKernel: boot.default?.version ?? (m ? (m[1] as string) : undefined) };
}

/** rpmvercmp-like ordering of version strings: digit runs numerically, letters lexically. */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|[A-Za-z]+/g) ?? [];
  const pb = b.match(/\d+|[A-Za-z]+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else if (nx !== ny) return nx ? 1 : -1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

const toolPackages: Record<string, HypervisorTool["hypervisor"]> = {
  "xe-guest-utilities": "xen",
  "xe-guest-utilities-xenstore": "xen",
  "kernel-xen": "xen",
  "xen-tools": "xen",
  "open-vm-tools": "vmware",
  "open-vm-tools-desktop": "vmware",
  "vmware-tools": "vmware",
  "vmware-tools-core": "vmware",
  "virtualbox-guest-additions": "virtualbox",
  "virtualbox-guest-utils": "virtualbox",
  "virtualbox-guest-x11": "virtualbox",
  "hyperv-daemons": "hyperv",
  "hypervkvpd": "hyperv",
  "hyperv-tools": "hyperv",
  "hyperv-daemons-license": "hyperv",
  "qemu-guest-agent": "kvm",
  "spice-vdagent": "kvm",
};

const toolFiles: { path: string; hypervisor: HypervisorTool["hypervisor"]; name: string }[] = [
  { path: "/usr/sbin/xe-daemon", hypervisor: "xen", name: "xe-daemon" },
  { path: "/usr/bin/vmtoolsd", hypervisor: "vmware", name: "vmtoolsd" },
  { path: "/etc/vmware-tools", hypervisor: "vmware", name: "VMware Tools configuration" },
  { path: "/usr/bin/vmware-toolbox-cmd", hypervisor: "vmware", name: "vmware-toolbox-cmd" },
  { path: "/usr/sbin/VBoxService", hypervisor: "virtualbox", name: "VBoxService" },
  { path: "/usr/sbin/hv_kvp_daemon", hypervisor: "hyperv", name: "hv_kvp_daemon" },
  { path: "/usr/sbin/hypervkvpd", hypervisor: "hyperv", name: "hypervkvpd" },
  { path: "/usr/bin/qemu-ga", hypervisor: "kvm", name: "qemu-ga" },
];

async function hypervisorTools(r: GuestReader, kernels: InstalledKernel[], apps: Application[]): Promise<HypervisorTool[]> {
  const found: HypervisorTool[] = [];
  const add = (t: HypervisorTool) => {
    if (!found.some((f) => f.hypervisor === t.hypervisor && f.name === t.name && f.evidence === t.evidence)) found.push(t);
  };
  for (const k of kernels) if (k.xen) add({ hypervisor: "xen", name: `xen kernel ${k.version}`, evidence: k.path });
  for (const a of apps) {
    const hv = toolPackages[a.name];
    if (hv) add({ hypervisor: hv, name: a.name, evidence: "package" });
  }
  for (const t of toolFiles) {
    if ((await r.isFile(t.path)) || (await r.isDir(t.path))) add({ hypervisor: t.hypervisor, name: t.name, evidence: t.path });
  }
  for (const name of await r.list("/opt")) {
    if (/^VBoxGuestAdditions/.test(name)) add({ hypervisor: "virtualbox", name, evidence: `/opt/${name}` });
  }
  // Driver aliases (xenblk, xennet, vmxnet, hv_*) in modprobe configuration.
  const modprobeFiles = ["/etc/modprobe.conf", ...(await r.list("/etc/modprobe.d")).filter((n) => n.endsWith(".conf")).slice(0, MAX_FILES_PER_DIR).map((n) => `/etc/modprobe.d/${n}`)];
  for (const path of modprobeFiles) {
    const text = await r.text(path);
    if (text === undefined) continue;
    for (const { alias, driver } of parseModprobeAliases(text)) {
      const hv = /^xen/.test(driver) ? "xen" : /^(vmxnet|vmw_|pvscsi|mptspi)/.test(driver) ? "vmware" : /^hv_/.test(driver) ? "hyperv" : /^virtio/.test(driver) ? "kvm" : undefined;
      if (hv) add({ hypervisor: hv, name: driver, evidence: `${path} (alias ${alias})` });
    }
  }
  return found;
}

/** Which init the guest boots with, and its default target or runlevel. */
async function initSystem(r: GuestReader): Promise<InitSystem> {
  const initLink = (await r.readlink("/sbin/init")) ?? (await r.readlink("/usr/sbin/init")) ?? "";
  const hasSystemd = /systemd/.test(initLink) || (await r.isFile("/usr/lib/systemd/systemd")) || (await r.isFile("/lib/systemd/systemd"));
  if (hasSystemd) {
    const target = (await r.readlink("/etc/systemd/system/default.target"))?.split("/").pop();
    return { type: "systemd", default: target ?? "graphical.target" };
  }
  const inittab = await r.text("/etc/inittab");
  const level = inittab === undefined ? undefined : /^[^#:\n]*:(\d):initdefault:/m.exec(inittab)?.[1];
  if (inittab !== undefined || (await r.isDir("/etc/rc.d/rc3.d")) || (await r.isDir("/etc/rc3.d"))) return { type: "sysv", default: level ?? "3" };
  if (await r.isDir("/etc/init")) return { type: "upstart", default: level ?? "2" };
  return { type: undefined, default: undefined };
}

/**
 * Targets whose wanted services start at boot: the default target, `default.target` itself, and
 * multi-user.target when the default is graphical.target (which pulls it in). Early-boot targets
 * (sysinit, basic) are plumbing, not the guest's services.
 */
function bootTargets(target: string): Set<string> {
  const targets = new Set([target, "default.target"]);
  if (target === "graphical.target") targets.add("multi-user.target");
  return targets;
}

async function enabledServices(r: GuestReader, init: InitSystem): Promise<EnabledService[]> {
  const services = new Map<string, EnabledService>();
  const add = (name: string, manager: EnabledService["manager"], target: string, atBoot: boolean) => {
    const key = `${manager}:${name}`;
    const s = services.get(key) ?? { name, manager, targets: [], atBoot: false };
    if (!s.targets.includes(target)) s.targets.push(target);
    s.atBoot ||= atBoot;
    services.set(key, s);
  };
  // systemd: enabled units are symlinks in *.wants directories.
  const reached = bootTargets(init.type === "systemd" ? (init.default ?? "multi-user.target") : "");
  for (const dir of await r.list("/etc/systemd/system")) {
    if (!dir.endsWith(".wants")) continue;
    const target = dir.slice(0, -6);
    for (const unit of (await r.list(`/etc/systemd/system/${dir}`)).slice(0, MAX_FILES_PER_DIR)) {
      add(unit, "systemd", target, init.type === "systemd" && reached.has(target) && unit.endsWith(".service"));
    }
  }
  // SysV: S-links in rcN.d.
  const rcBase = (await r.isDir("/etc/rc.d/rc3.d")) ? "/etc/rc.d" : "/etc";
  for (const level of ["1", "2", "3", "4", "5"]) {
    for (const link of await r.list(`${rcBase}/rc${level}.d`)) {
      const m = /^S\d{1,3}(.+)$/.exec(link);
      if (m) add(m[1] as string, "sysv", level, init.type !== "systemd" && init.default === level);
    }
  }
  // Upstart jobs that start on an event.
  for (const job of (await r.list("/etc/init")).filter((n) => n.endsWith(".conf")).slice(0, MAX_FILES_PER_DIR)) {
    const text = await r.text(`/etc/init/${job}`);
    if (text !== undefined && isUpstartJobStartedOnEvent(text)) add(job.slice(0, -5), "upstart", "start on", init.type === "upstart");
  }
  return [...services.values()].sort((a, b) => a.manager.localeCompare(b.manager) || a.name.localeCompare(b.name));
}

async function networkConfiguration(r: GuestReader): Promise<NetworkInterfaceConfig[]> {
  const out: NetworkInterfaceConfig[] = [];
  const dir = "/etc/sysconfig/network-scripts";
  for (const name of (await r.list(dir)).filter((n) => /^ifcfg-/.test(n) && !n.endsWith("~") && !n.endsWith(".bak")).slice(0, MAX_FILES_PER_DIR)) {
    const text = await r.text(`${dir}/${name}`);
    if (text !== undefined) out.push(parseIfcfg(`${dir}/${name}`, text));
  }
  // RHEL-family guests often set the default gateway once, in /etc/sysconfig/network.
  const sysconfigNetwork = await r.text("/etc/sysconfig/network");
  const globalVars = sysconfigNetwork === undefined ? undefined : parseShellVars(sysconfigNetwork);
  const globalGateway = globalVars?.get("GATEWAY");
  const gatewayDev = globalVars?.get("GATEWAYDEV");
  for (const cfg of out) {
    if (cfg.gateway === undefined && globalGateway && cfg.method === "static" && cfg.name !== "lo" && (gatewayDev === undefined || gatewayDev === cfg.name)) cfg.gateway = globalGateway;
  }
  const interfaces = await r.text("/etc/network/interfaces");
  if (interfaces !== undefined) out.push(...parseDebianInterfaces("/etc/network/interfaces", interfaces));
  for (const name of (await r.list("/etc/network/interfaces.d")).slice(0, MAX_FILES_PER_DIR)) {
    const text = await r.text(`/etc/network/interfaces.d/${name}`);
    if (text !== undefined) out.push(...parseDebianInterfaces(`/etc/network/interfaces.d/${name}`, text));
  }
  for (const name of (await r.list("/etc/netplan")).filter((n) => n.endsWith(".yaml")).slice(0, MAX_FILES_PER_DIR)) {
    const text = await r.text(`/etc/netplan/${name}`);
    if (text !== undefined) out.push(...parseNetplan(`/etc/netplan/${name}`, text));
  }
  const nm = "/etc/NetworkManager/system-connections";
  for (const name of (await r.list(nm)).slice(0, MAX_FILES_PER_DIR)) {
    const text = await r.text(`${nm}/${name}`);
    const cfg = text === undefined ? undefined : parseNmKeyfile(`${nm}/${name}`, text);
    if (cfg) out.push(cfg);
  }
  // The loopback interface is the same on every guest; it tells a migration nothing.
  return out.filter((c) => c.name !== "lo" && c.method !== "loopback");
}

/**
 * Opens the sources, inspects every operating system on them and closes them again: `leapp
 * inspect` in one call. One report per OS root, in disk order (a multi-boot image gives several,
 * as virt-inspector lists them); a directory or a live host gives one.
 */
export async function inspectSources(sources: readonly string[], options: OpenGuestOptions & InspectOptions = {}): Promise<InspectionReport[]> {
  const reports: InspectionReport[] = [];
  const first = await openGuest(sources, options);
  try {
    reports.push(await inspect(first, options));
  } finally {
    await first.close();
  }
  for (const root of first.context.otherRoots ?? []) {
    const guest = await openImageGuest(sources, { root, ...(options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {}) });
    try {
      reports.push(await inspect(guest, options));
    } finally {
      await guest.close();
    }
  }
  return reports;
}
