import type { NetworkSpec } from "./network.js";

/**
 * dnsmasq files for a network, the way libvirt runs dnsmasq for it: one configuration file and a
 * DHCP hosts file (`MAC,IP,name` per line, re-read on SIGHUP). For a host-bridge network, where
 * libvirt runs no dnsmasq, these are what serves DHCP and DNS on that bridge.
 */
export interface DnsmasqPaths {
  /** Where the hosts file will live (absolute), referenced from the configuration. */
  hostsFile: string;
  /** pid file (default /run/leapp/dnsmasq/NAME.pid). */
  pidFile?: string;
}

export function writeDnsmasqConfig(spec: NetworkSpec, paths: DnsmasqPaths): string {
  const lines = [
    `# dnsmasq for libvirt network '${spec.name}' (${spec.mode}) on ${spec.bridge}`,
    "strict-order",
    `pid-file=${paths.pidFile ?? `/run/leapp/dnsmasq/${spec.name}.pid`}`,
    "except-interface=lo",
    "bind-dynamic",
    `interface=${spec.bridge}`,
  ];
  if (spec.domain !== undefined) lines.push(`domain=${spec.domain}`, "expand-hosts", `local=/${spec.domain}/`);
  const ip = spec.ipv4;
  if (ip) {
    if (ip.dhcp) {
      lines.push(`dhcp-range=${ip.dhcp.start},${ip.dhcp.end},${ip.netmask}`);
    } else if (ip.hosts.length > 0) {
      // Static leases only: a "static" range answers just the hosts listed.
      lines.push(`dhcp-range=${ip.network},static,${ip.netmask}`);
    }
    if (ip.dhcp || ip.hosts.length > 0) {
      lines.push("dhcp-no-override", "dhcp-authoritative", `dhcp-lease-max=${leaseMax(spec)}`, `dhcp-hostsfile=${paths.hostsFile}`);
      if (spec.mode === "bridge") lines.push(`dhcp-option=option:router,${ip.gateway}`);
      // An isolated network has no way out: offer no default route.
      if (spec.mode === "isolated") lines.push("dhcp-option=option:router");
    }
  }
  return lines.join("\n") + "\n";
}

function leaseMax(spec: NetworkSpec): number {
  const ip = spec.ipv4;
  if (!ip) return 0;
  const range = ip.dhcp ? ipNumber(ip.dhcp.end) - ipNumber(ip.dhcp.start) + 1 : 0;
  return Math.max(1, range + ip.hosts.length);
}

function ipNumber(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** The DHCP hosts file: `mac,ip[,name]` per static host, as dnsmasq's --dhcp-hostsfile reads it. */
export function writeDnsmasqHosts(spec: NetworkSpec): string {
  const hosts = spec.ipv4?.hosts ?? [];
  return hosts.map((h) => [h.mac, h.ip, ...(h.name !== undefined ? [h.name] : [])].join(",") + "\n").join("");
}
