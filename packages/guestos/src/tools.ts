// The old hypervisor's guest tools: stopped from starting now (service links, upstart overrides,
// vendor repositories); removed now where dpkg's database allows it safely (nothing to run), else
// with the guest's own package manager at first boot on KVM (no helper VM runs the guest's rpm or
// dpkg for us, and removing packages behind their maintainer scripts' backs is not safe); tarball
// installs undone by their own uninstallers then.
import type { InspectionReport } from "@leapp/inspect";
import type { FirstBootAction, GuestFamily, PackageRemoval } from "./plan-types.js";
import { planDpkgRemovals } from "./dpkg-offline.js";
import { mapLines, type PlanWorkspace } from "./workspace.js";

type Hypervisor = PackageRemoval["hypervisor"];

/** Packages of guest tools leapp removes, by hypervisor (names or name prefixes ending in '*'). */
const toolPackages: Record<Hypervisor, string[]> = {
  xen: ["xe-guest-utilities*", "xenstore-utils", "xen-tools", "kmod-xenpv*", "xenpv*"],
  vmware: ["open-vm-tools*", "vmware-tools*", "VMwareTools", "kmod-vmware-tools*", "open-vm-toolbox"],
  virtualbox: ["virtualbox-guest-*", "virtualbox-ose-guest-*"],
};

/** Services of those tools: systemd units and SysV/upstart job names. */
const toolServices: Record<Hypervisor, string[]> = {
  xen: ["xe-linux-distribution", "xe-daemon", "xenstored", "xen-guest-agent"],
  vmware: ["vmtoolsd", "open-vm-tools", "vgauth", "vmware-tools", "vmware-tools-thinprint", "vmware-vgauth", "vmware-tools-services"],
  virtualbox: ["vboxadd", "vboxadd-service", "vboxadd-x11", "virtualbox-guest-utils"],
};

/** kudzu probes hardware at boot and would reconfigure (or disable) the new NIC; virt-v2v turns it off too. */
const otherServices = ["kudzu"];

const matches = (name: string, pattern: string) => (pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern);

async function list(ws: PlanWorkspace, dir: string): Promise<string[]> {
  try {
    return (await ws.guest.readdir(dir)).slice(0, 10_000);
  } catch {
    return [];
  }
}

function removeCommand(manager: string | undefined, packages: string[]): string {
  const names = packages.map((p) => `'${p}'`).join(" ");
  switch (manager) {
    case "dnf":
      return `dnf -y --disablerepo='*' remove ${names} || rpm -e ${names}`;
    case "yum":
    case "up2date":
      return `yum -y --disablerepo='*' remove ${names} || rpm -e ${names}`;
    case "apt":
      return `DEBIAN_FRONTEND=noninteractive apt-get -y remove --purge ${names} || dpkg --purge ${names}`;
    default:
      return packages.length > 0 ? `rpm -e ${names} 2>/dev/null || dpkg --purge ${names}` : "true";
  }
}

/** Disables a service so it does not start at boot: systemd links, SysV S-links (to K-links), upstart overrides. */
async function disableService(ws: PlanWorkspace, name: string, why: string): Promise<boolean> {
  let found = false;
  for (const dir of await list(ws, "/etc/systemd/system")) {
    if (!dir.endsWith(".wants") && !dir.endsWith(".requires")) continue;
    for (const unit of await list(ws, `/etc/systemd/system/${dir}`)) {
      if (unit === `${name}.service`) {
        ws.add({ kind: "remove", path: `/etc/systemd/system/${dir}/${unit}`, why });
        found = true;
      }
    }
  }
  const rcBase = (await ws.guest.exists("/etc/rc.d/rc3.d")) ? "/etc/rc.d" : "/etc";
  for (const level of ["0", "1", "2", "3", "4", "5", "6", "S"]) {
    for (const link of await list(ws, `${rcBase}/rc${level}.d`)) {
      const m = /^S(\d{1,3})(.+)$/.exec(link);
      if (m && m[2] === name) {
        ws.add({ kind: "rename", from: `${rcBase}/rc${level}.d/${link}`, to: `${rcBase}/rc${level}.d/K${String(100 - Number(m[1])).padStart(2, "0")}${name}`, why });
        found = true;
      }
    }
  }
  if ((await ws.read(`/etc/init/${name}.conf`)) !== undefined) {
    await ws.write(`/etc/init/${name}.override`, "manual\n", why);
    found = true;
  }
  return found;
}

/** Hypervisor tools: disabled now, removed at first boot. Returns what is removed then. */
export async function planTools(ws: PlanWorkspace, report: InspectionReport, family: GuestFamily): Promise<{ packages: PackageRemoval[]; firstBoot: FirstBootAction[] }> {
  const packages: PackageRemoval[] = [];
  const firstBoot: FirstBootAction[] = [];
  const installed = new Set(report.applications.map((a) => a.name));
  // Ubuntu's server metapackage depends on open-vm-tools: removing it would remove the server.
  const keep = new Set(installed.has("ubuntu-server") ? ["open-vm-tools"] : []);
  for (const hv of ["xen", "vmware", "virtualbox"] as const) {
    const names = [...installed].filter((n) => toolPackages[hv].some((p) => matches(n, p)) && !keep.has(n)).sort();
    const why = `${hv === "xen" ? "Xen" : hv === "vmware" ? "VMware" : "VirtualBox"} guest tools do nothing on KVM and some wait for their hypervisor at boot`;
    for (const s of toolServices[hv]) await disableService(ws, s, `${why}: not started any more`);
    if (names.length === 0) continue;
    const { now, later } = family === "debian" ? await planDpkgRemovals(ws, names, why) : { now: [], later: names };
    if (now.length > 0) packages.push({ packages: now, hypervisor: hv, when: "now", why: `${why}; nothing runs on their removal, so dpkg's database allows it now` });
    if (later.length > 0) {
      packages.push({ packages: later, hypervisor: hv, when: "first-boot", why: `${why}; their removal runs maintainer scripts, so the guest's own package manager does it at first boot` });
      firstBoot.push({ name: `remove ${hv} tools`, script: removeCommand(report.os.packageManagement, later), why: `${why}: removed with the guest's own package manager` });
    }
  }
  for (const s of otherServices) await disableService(ws, s, "kudzu would reconfigure or disable the new network card at boot");

  // Tarball installs the package database does not know.
  if (await ws.guest.exists("/usr/bin/vmware-uninstall-tools.pl")) {
    // Its uninstaller would rebuild every initramfs from a cached copy: tell it not to.
    if ((await ws.read("/etc/vmware-tools/locations")) !== undefined) {
      await ws.edit("/etc/vmware-tools/locations", "keep the VMware Tools uninstaller from restoring pre-install initramfs images (leapp already made the boot image KVM-ready)", (t) => `${t}${t.endsWith("\n") ? "" : "\n"}remove_answer RESTORE_RAMDISK_CMD\nremove_answer RESTORE_RAMDISK_KERNELS\nremove_answer RESTORE_RAMDISK_ONECALL\n`);
    }
    firstBoot.push({ name: "uninstall VMware Tools (tarball)", script: "/usr/bin/vmware-uninstall-tools.pl", why: "VMware Tools installed from VMware's tarball: only its own uninstaller removes it" });
  }
  for (const dir of await list(ws, "/opt")) {
    if (!/^VBoxGuestAdditions/.test(dir)) continue;
    firstBoot.push({ name: "uninstall VirtualBox Guest Additions", script: `/opt/${dir}/uninstall.sh`, why: "VirtualBox Guest Additions installed from the ISO: only their uninstaller removes them" });
  }

  // Vendor repositories would fail every later yum/apt run once the tools are gone.
  for (const name of await list(ws, "/etc/yum.repos.d")) {
    if (!name.endsWith(".repo")) continue;
    const path = `/etc/yum.repos.d/${name}`;
    const text = await ws.read(path);
    if (text === undefined || !/^\s*(baseurl|mirrorlist)\s*=.*vmware\.com/im.test(text)) continue;
    await ws.edit(path, "VMware's package repository is of no use on KVM: disabled", (t) => disableVmwareRepoSections(t));
  }
  if (family === "debian") {
    for (const path of ["/etc/apt/sources.list", ...(await list(ws, "/etc/apt/sources.list.d")).filter((n) => n.endsWith(".list")).map((n) => `/etc/apt/sources.list.d/${n}`)]) {
      await ws.edit(path, "VMware's package repository is of no use on KVM: disabled", (t) => mapLines(t, (line) => (/^\s*deb(-src)?\s.*vmware\.com/.test(line) ? `# ${line}` : line)));
    }
  }
  return { packages, firstBoot };
}

function disableVmwareRepoSections(text: string): string {
  const sections = text.split(/(?=^\[)/m);
  return sections
    .map((s) => {
      if (!/^\s*(baseurl|mirrorlist)\s*=.*vmware\.com/im.test(s)) return s;
      return /^\s*enabled\s*=/im.test(s) ? s.replace(/^(\s*enabled\s*=\s*)\S+/im, "$10") : s.replace(/^(\[[^\]]*\][^\n]*\n)/, "$1enabled=0\n");
    })
    .join("");
}
