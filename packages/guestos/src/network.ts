// The network configuration must keep working on the virtio NIC. The MAC address is kept, but
// the interface name is not: ens192 (VMware slot), enX0 (Xen) or eth0 become enp1s0 on a q35
// machine. So leapp pins each configured name to its MAC — a systemd .link file where udev
// reads them, a udev rule on older guests — and the configuration stays as it is.
import type { InspectionReport, NetworkInterfaceConfig } from "@leapp/inspect";
import type { ConversionTarget } from "./plan-types.js";
import type { PlanWorkspace } from "./workspace.js";

const WHY = "keeps the interface's name on the virtio NIC (same MAC), so its configuration still applies";
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** systemd-udevd reads .link files since systemd 209 (RHEL 7, Debian 8, Ubuntu 15.04). */
async function udevReadsLinkFiles(ws: PlanWorkspace, report: InspectionReport): Promise<boolean> {
  if (report.init.type !== "systemd") return false;
  for (const p of ["/usr/lib/systemd/network/99-default.link", "/lib/systemd/network/99-default.link"]) if (await ws.guest.exists(p)) return true;
  const { distro, majorVersion: v } = report.os;
  return (distro === "debian" && v >= 8) || (distro === "ubuntu" && v >= 16) || (["rhel", "centos", "rocky", "oraclelinux", "scientificlinux", "redhat-based"].includes(distro) && v >= 7) || distro === "fedora";
}

/** Names in the configuration that are real interfaces (not aliases like eth0:1, bonds or bridges). */
function physicalNames(configs: NetworkInterfaceConfig[]): string[] {
  const names = new Set<string>();
  for (const c of configs) {
    if (c.name.includes(":") || c.name.includes(".") || /^(lo|bond|br|virbr|team|vlan|wl|docker|tun|tap|veth)/.test(c.name)) continue;
    names.add(c.name);
  }
  return [...names].sort();
}

export async function planNetwork(ws: PlanWorkspace, report: InspectionReport, target: ConversionTarget): Promise<void> {
  const names = physicalNames(report.network);
  const nics = (target.nics ?? []).map((n) => n.mac.toLowerCase()).filter((m) => MAC.test(m));
  const pins: { name: string; mac: string }[] = [];
  const taken = new Set<string>();
  for (const name of names) {
    const configured = report.network.find((c) => c.name === name && c.macAddress && MAC.test(c.macAddress))?.macAddress;
    let mac = configured;
    // Without a MAC in the configuration: the only NIC, or ethN as the N-th NIC.
    if (!mac && names.length === 1 && nics.length === 1) mac = nics[0];
    if (!mac && /^eth\d+$/.test(name)) mac = nics[Number(name.slice(3))];
    if (!mac) {
      ws.warnings.push(`interface ${name}: its MAC address is unknown, so its name cannot be kept on the virtio NIC; pass the source NICs (target.nics) or check the network configuration after the first boot`);
      continue;
    }
    if (taken.has(mac)) continue;
    if (nics.length > 0 && !nics.includes(mac)) ws.warnings.push(`interface ${name} is configured for MAC ${mac}, which none of the target's NICs has`);
    taken.add(mac);
    pins.push({ name, mac });
  }
  if (pins.length === 0) return;
  if (await udevReadsLinkFiles(ws, report)) {
    for (const { name, mac } of pins) {
      await ws.write(`/etc/systemd/network/10-leapp-${name}.link`, ["# Written by leapp when the guest moved to KVM: keep this interface's name.", "[Match]", `MACAddress=${mac}`, "", "[Link]", `Name=${name}`, ""].join("\n"), WHY);
    }
    return;
  }
  const rules = pins.map(({ name, mac }) => `SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="${mac}", ATTR{type}=="1", NAME="${name}"`);
  await ws.write("/etc/udev/rules.d/70-leapp-net.rules", ["# Written by leapp when the guest moved to KVM: keep each interface's name.", ...rules, ""].join("\n"), WHY);
}
