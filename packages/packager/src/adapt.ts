import type { GuestFS, GuestStat, InspectionReport } from "@leapp/inspect";

/** One change made for the container, in the image's second layer (the first is the guest as it was). */
export interface Adaptation {
  /** Absolute guest path. */
  path: string;
  /** `replace`: new content for an existing file; `add`: a new file; `remove`: deleted (a whiteout); `mask`: a systemd unit linked to /dev/null. */
  action: "replace" | "add" | "remove" | "mask";
  reason: string;
  content?: Uint8Array;
}

/** How the guest's init runs as the container's command, and what it needs changed to do so. */
export interface InitPlan {
  init: "systemd" | "sysv" | "upstart" | "none";
  command: string[];
  stopSignal: string | undefined;
  env: string[];
  adaptations: Adaptation[];
  /** Services left out of the boot because they cannot run in a container. */
  prunedServices: { name: string; reason: string }[];
  /** Options `podman run` needs for this init to behave (beyond publishing ports). */
  runOptions: { option: string; reason: string }[];
}

const reasons = {
  network: "configures the machine's network devices; the container's network comes from the runtime",
  firewall: "loads host firewall rules; a container has no right to, and the host filters its traffic",
  storage: "manages disks, RAID or LVM; a container has no block devices",
  kernel: "tunes the kernel or the hardware; a container shares the host's",
  clock: "sets the clock; a container shares the host's",
  hypervisor: "talks to the hypervisor the guest ran on",
  cloud: "configures a cloud instance at boot",
  audit: "needs the kernel audit interface, which containers do not get",
  display: "needs a display and virtual terminals; a container has neither",
};

/** Services that cannot run in a container, by the names sysv scripts and systemd units give them. */
export const containerIncompatibleServices: Record<string, string> = {
  network: reasons.network,
  networking: reasons.network,
  NetworkManager: reasons.network,
  "NetworkManager-wait-online": reasons.network,
  "systemd-networkd": reasons.network,
  "systemd-networkd-wait-online": reasons.network,
  wicked: reasons.network,
  netfs: "mounts network filesystems; a container cannot mount",
  iptables: reasons.firewall,
  ip6tables: reasons.firewall,
  firewalld: reasons.firewall,
  ebtables: reasons.firewall,
  ufw: reasons.firewall,
  "lvm2-monitor": reasons.storage,
  "lvm2-lvmetad": reasons.storage,
  "blk-availability": reasons.storage,
  "dm-event": reasons.storage,
  mdmonitor: reasons.storage,
  multipathd: reasons.storage,
  iscsi: reasons.storage,
  iscsid: reasons.storage,
  "dmraid-activation": reasons.storage,
  smartd: reasons.storage,
  smartmontools: reasons.storage,
  "nfs-server": "serves NFS from the kernel; a container cannot",
  "nfs-kernel-server": "serves NFS from the kernel; a container cannot",
  nfs: "serves NFS from the kernel; a container cannot",
  snapd: "mounts snap images; a container cannot mount",
  "snapd.seeded": "mounts snap images; a container cannot mount",
  "udev-post": reasons.kernel,
  kdump: reasons.kernel,
  irqbalance: reasons.kernel,
  cpuspeed: reasons.kernel,
  microcode_ctl: reasons.kernel,
  microcode: reasons.kernel,
  acpid: reasons.kernel,
  haldaemon: reasons.kernel,
  kudzu: reasons.kernel,
  mcelog: reasons.kernel,
  rngd: reasons.kernel,
  "rng-tools": reasons.kernel,
  "rng-tools-debian": reasons.kernel,
  "kdump-tools": reasons.kernel,
  "lm-sensors": reasons.kernel,
  cpufrequtils: reasons.kernel,
  loadcpufreq: reasons.kernel,
  "hwclock.sh": reasons.clock,
  ksm: reasons.kernel,
  ksmtuned: reasons.kernel,
  tuned: reasons.kernel,
  lm_sensors: reasons.kernel,
  ntpd: reasons.clock,
  ntpdate: reasons.clock,
  chronyd: reasons.clock,
  auditd: reasons.audit,
  gdm: reasons.display,
  gdm3: reasons.display,
  lightdm: reasons.display,
  sddm: reasons.display,
  xdm: reasons.display,
  "display-manager": reasons.display,
  wpa_supplicant: reasons.network,
  udisks2: reasons.storage,
  thermald: reasons.kernel,
  "xe-linux-distribution": reasons.hypervisor,
  xenstored: reasons.hypervisor,
  xenconsoled: reasons.hypervisor,
  vmtoolsd: reasons.hypervisor,
  "vmware-tools": reasons.hypervisor,
  "open-vm-tools": reasons.hypervisor,
  vboxadd: reasons.hypervisor,
  "vboxadd-service": reasons.hypervisor,
  hypervkvpd: reasons.hypervisor,
  hv_kvp_daemon: reasons.hypervisor,
  "qemu-guest-agent": reasons.hypervisor,
  "cloud-init": reasons.cloud,
  "cloud-init-local": reasons.cloud,
  "cloud-config": reasons.cloud,
  "cloud-final": reasons.cloud,
};

const SMALL = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function stat(guest: GuestFS, path: string, follow = false): Promise<GuestStat | undefined> {
  try {
    return follow ? await guest.stat(path) : await guest.lstat(path);
  } catch {
    return undefined;
  }
}

async function text(guest: GuestFS, path: string): Promise<string | undefined> {
  const st = await stat(guest, path);
  if (!st || st.type !== "file" || st.size > SMALL) return undefined;
  try {
    return decoder.decode(await guest.readFile(path, { maxBytes: SMALL }));
  } catch {
    return undefined;
  }
}

async function list(guest: GuestFS, path: string): Promise<string[]> {
  try {
    return (await guest.readdir(path)).sort().slice(0, 10_000);
  } catch {
    return [];
  }
}

/**
 * /etc/fstab with every entry commented out: the runtime gives the container its filesystems,
 * and the guest's disks, swap and special mounts do not exist in it (systemd would wait for the
 * devices and fail the boot; rc.sysinit would fail its mounts).
 */
export function containerFstab(original: string): string | undefined {
  let changed = false;
  const lines = original.split("\n").map((line) => {
    if (line.trim() === "" || line.trim().startsWith("#")) return line;
    changed = true;
    return `#leapp: ${line}`;
  });
  if (!changed) return undefined;
  return `# The container's filesystems come from its runtime; leapp commented out the machine's\n# mounts below (disks, swap and kernel filesystems do not exist in a container).\n${lines.join("\n")}`;
}

/** /etc/network/interfaces keeping only the loopback: an `auto eth0` stanza would reconfigure the container's own interface. */
export function containerInterfaces(original: string): string | undefined {
  const names = new Set<string>();
  for (const line of original.split("\n")) {
    const m = /^\s*(?:auto|allow-hotplug|allow-auto|iface)\s+(\S+)/.exec(line);
    if (m && m[1] !== "lo") names.add(m[1]!);
  }
  if (names.size === 0) return undefined;
  return [
    "# The container's network comes from its runtime; leapp removed the machine's interfaces",
    `# (${[...names].sort().join(", ")}) and kept the loopback.`,
    "auto lo",
    "iface lo inet loopback",
    "",
  ].join("\n");
}

/**
 * /etc/inittab without getty lines (no terminals in a container) and with SIGPWR halting the
 * system: the runtime's stop signal. The guest's own power entries are replaced (Debian's call a
 * /etc/init.d/powerfail that no longer exists).
 */
export function containerInittab(original: string): string | undefined {
  const lines = original.split("\n");
  const hasSysinit = lines.some((l) => /^[^#:]*:[^:]*:sysinit:/.test(l));
  let changed = false;
  const out = lines.map((line) => {
    const getty = /^[^#:]*:[^:]*:respawn:.*\b(mingetty|agetty|getty|fgetty|mgetty)\b/.test(line);
    const power = hasSysinit && /^[^#:]*:[^:]*:(powerwait|powerfail|powerfailnow|powerokwait):/.test(line);
    if (!getty && !power) return line;
    changed = true;
    return `#leapp: ${line}`;
  });
  if (hasSysinit) {
    changed = true;
    if (out[out.length - 1] === "") out.pop();
    out.push("# leapp: the container runtime stops the container with SIGPWR", "pf::powerwait:/sbin/shutdown -f -h now", "");
  }
  return changed ? out.join("\n") : undefined;
}

/**
 * What running the guest's own init as a container's command takes, per init system:
 * systemd runs as it is (podman switches to systemd mode for /sbin/init) with units that cannot
 * run in a container masked; SysV and upstart guests (CentOS 6 and older) get the LeApp
 * prototype's treatment — those services pruned from the runlevels, an emergency-free rcS, no
 * gettys, the `/fastboot` and `/.nolvm` markers rc.sysinit honours, and SIGPWR to stop.
 */
export async function planInit(guest: GuestFS, report: InspectionReport): Promise<InitPlan> {
  const adaptations: Adaptation[] = [];
  const pruned: { name: string; reason: string }[] = [];
  const replaceIfChanged = async (path: string, transform: (t: string) => string | undefined, reason: string) => {
    const original = await text(guest, path);
    const next = original === undefined ? undefined : transform(original);
    if (next !== undefined) adaptations.push({ path, action: "replace", reason, content: encoder.encode(next) });
  };

  await replaceIfChanged("/etc/fstab", containerFstab, "the runtime provides the container's filesystems");
  await replaceIfChanged("/etc/network/interfaces", containerInterfaces, "the runtime provides the container's network");

  const env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=oci"];
  const type = report.init.type;
  if (type === "systemd") {
    let command = ["/sbin/init"];
    if (!(await stat(guest, "/sbin/init", true))) {
      for (const candidate of ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"]) {
        if (await stat(guest, candidate, true)) {
          command = [candidate];
          break;
        }
      }
    }
    for (const s of report.services) {
      // Services, and the sockets that would start them on demand (lvm2-lvmetad.socket…).
      const unit = /^(.+)\.(service|socket)$/.exec(s.name);
      if (s.manager !== "systemd" || !unit) continue;
      const base = unit[1]!;
      const reason = containerIncompatibleServices[base];
      if (!reason || adaptations.some((a) => a.path === `/etc/systemd/system/${s.name}`)) continue;
      if (!pruned.some((p) => p.name === base)) pruned.push({ name: base, reason });
      adaptations.push({ path: `/etc/systemd/system/${s.name}`, action: "mask", reason });
    }
    return { init: "systemd", command, stopSignal: "SIGRTMIN+3", env, adaptations, prunedServices: pruned, runOptions: [] };
  }

  if (type === "sysv" || type === "upstart") {
    // Start links of services that cannot run here, in every runlevel.
    const rcBase = (await stat(guest, "/etc/rc.d/rc3.d", true)) ? "/etc/rc.d" : "/etc";
    for (const level of ["S", "1", "2", "3", "4", "5"]) {
      const dir = `${rcBase}/rc${level}.d`;
      for (const name of await list(guest, dir)) {
        const m = /^S\d{1,3}(.+)$/.exec(name);
        const reason = m ? containerIncompatibleServices[m[1]!] : undefined;
        if (!m || !reason) continue;
        adaptations.push({ path: `${dir}/${name}`, action: "remove", reason });
        if (!pruned.some((p) => p.name === m[1])) pruned.push({ name: m[1]!, reason });
      }
    }
    await replaceIfChanged("/etc/inittab", containerInittab, "no terminals in a container, and SIGPWR stops it");
    if (type === "upstart" || (await stat(guest, "/etc/init", true))?.type === "directory") {
      if (await stat(guest, "/etc/init/rcS-emergency.conf")) {
        adaptations.push({
          path: "/etc/init/rcS-emergency.conf",
          action: "replace",
          reason: "a failing rc.sysinit step must not stop a container's boot at a rescue shell",
          content: encoder.encode("# leapp: no emergency shell in a container: the boot goes on.\ntask\nexec true\n"),
        });
      }
      adaptations.push({
        path: "/etc/init/power-status-changed.conf",
        action: (await stat(guest, "/etc/init/power-status-changed.conf")) ? "replace" : "add",
        reason: "the container runtime stops the container with SIGPWR",
        content: encoder.encode("# leapp: the container runtime stops the container with SIGPWR.\nstart on power-status-changed\nexec /sbin/shutdown -h now \"SIGPWR received\"\n"),
      });
      await replaceIfChanged("/etc/sysconfig/init", (t) => (/^ACTIVE_CONSOLES=/m.test(t) ? t.replace(/^ACTIVE_CONSOLES=.*$/m, "ACTIVE_CONSOLES=") : undefined), "no terminals in a container");
    }
    if ((await stat(guest, "/etc/rc.d/rc.sysinit")) || report.os.packageFormat === "rpm") {
      // rc.sysinit skips fsck with /fastboot and LVM activation with /.nolvm.
      for (const marker of ["/fastboot", "/.nolvm"]) {
        if (!(await stat(guest, marker))) adaptations.push({ path: marker, action: "add", reason: marker === "/fastboot" ? "rc.sysinit skips fsck: a container has no disks to check" : "rc.sysinit skips LVM activation: a container has no volumes", content: new Uint8Array(0) });
      }
    }
    // SysV init halts with reboot(2), which ends a container's PID namespace only with CAP_SYS_BOOT;
    // without it the guest shuts down on SIGPWR but podman waits out its timeout and kills it.
    const runOptions = [{ option: "--cap-add=SYS_BOOT", reason: "lets the guest's init end the container when it halts on SIGPWR" }];
    return { init: type, command: ["/sbin/init"], stopSignal: "SIGPWR", env, adaptations, prunedServices: pruned, runOptions };
  }

  return { init: "none", command: ["/bin/sh"], stopSignal: undefined, env, adaptations, prunedServices: pruned, runOptions: [] };
}
