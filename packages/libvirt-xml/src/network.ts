import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import { LibvirtXmlError } from "./errors.js";
import { element, formatXml, type XmlElement } from "./xml.js";

/**
 * Virtual networks described miniascape-style in YAML, validated, and written as libvirt network
 * XML. A file holds one network (a mapping with `name`), a list of them, or `networks: [...]`:
 *
 *   networks:
 *     - name: service
 *       mode: nat               # nat | route | bridge | isolated (default nat)
 *       bridge: virbr5          # host bridge (required for mode bridge)
 *       domain: m2.local
 *       cidr: 192.168.155.0/24  # or gateway + netmask (+ network: 192.168.155.0)
 *       gateway: 192.168.155.254
 *       dhcp:
 *         start: 192.168.155.200
 *         end: 192.168.155.250
 *         static: { start: 192.168.155.10, end: 192.168.155.199 }   # optional
 *       hosts:
 *         - { name: db, mac: "52:54:00:00:01:01", ip: 192.168.155.10 }
 */

export type NetworkMode = "nat" | "route" | "bridge" | "isolated";

export interface NetworkHost {
  name: string | undefined;
  mac: string;
  ip: string;
}

export interface NetworkSpec {
  name: string;
  mode: NetworkMode;
  /** Bridge device: the host bridge for mode bridge, else the one libvirt creates. */
  bridge: string;
  domain: string | undefined;
  /** IPv4 addressing; absent for a bridge network without a subnet. */
  ipv4:
    | {
        /** The host's (gateway's) address on the network. */
        gateway: string;
        prefix: number;
        netmask: string;
        /** Network address (`192.168.155.0`). */
        network: string;
        dhcp: { start: string; end: string } | undefined;
        hosts: NetworkHost[];
      }
    | undefined;
}

/** Largest networks file read: a description, never data. */
const MAX_YAML_LENGTH = 1024 * 1024;
const MAX_NETWORKS = 256;
const MAX_HOSTS = 65_536;

function invalid(where: string, message: string): never {
  throw new LibvirtXmlError("LIBVIRT_XML_INVALID", `${where}: ${message}`);
}

let yamlModule: typeof Yaml | undefined;

/** The yaml package, loaded on first use (it costs ~45 ms of start-up that most commands never need). */
function yaml(): typeof Yaml {
  return (yamlModule ??= createRequire(import.meta.url)("yaml") as typeof Yaml);
}

/** Reads and validates a networks YAML. Throws LibvirtXmlError (MALFORMED for YAML syntax, INVALID for facts). */
export function parseNetworksYaml(text: string, source = "networks YAML"): NetworkSpec[] {
  if (text.length > MAX_YAML_LENGTH) {
    throw new LibvirtXmlError("LIBVIRT_XML_TOO_LARGE", `${source} is ${text.length} characters, more than the ${MAX_YAML_LENGTH} a network description needs.`);
  }
  // Aliases are capped so an "alias bomb" cannot blow up memory.
  const doc = yaml().parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `${source} is not valid YAML: ${first?.message ?? "syntax error"}`, { cause: first });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 64 });
  } catch (err) {
    throw new LibvirtXmlError("LIBVIRT_XML_MALFORMED", `${source} could not be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let list: unknown[];
  if (Array.isArray(data)) list = data;
  else if (isRecord(data) && Array.isArray(data.networks)) list = data.networks;
  else if (isRecord(data) && "name" in data) list = [data];
  else invalid(source, "expected a network (a mapping with 'name'), a list of networks, or 'networks: [...]'.");
  if (list.length === 0) invalid(source, "defines no network.");
  if (list.length > MAX_NETWORKS) invalid(source, `defines ${list.length} networks, more than ${MAX_NETWORKS}.`);

  const specs = list.map((item, i) => readNetwork(item, `${source}: network #${i + 1}`));
  checkAcrossNetworks(specs, source);
  return specs;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const knownKeys = new Set(["name", "mode", "bridge", "domain", "cidr", "network", "gateway", "netmask", "dhcp", "hosts", "description"]);

function readNetwork(item: unknown, where: string): NetworkSpec {
  if (!isRecord(item)) invalid(where, "must be a mapping.");
  const name = str(item.name, `${where}: name`);
  if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    invalid(where, `name '${String(item.name ?? "").slice(0, 64)}' must be 1-64 letters, digits, '_', '.' or '-'.`);
  }
  where = `network '${name}'`;
  for (const key of Object.keys(item)) if (!knownKeys.has(key)) invalid(where, `unknown key '${key.slice(0, 64)}' (known: ${[...knownKeys].join(", ")}).`);

  const mode = (str(item.mode, `${where}: mode`) ?? "nat") as NetworkMode;
  if (!["nat", "route", "bridge", "isolated"].includes(mode)) invalid(where, `mode '${mode}' is not one of nat, route, bridge, isolated.`);

  const defaultBridge = `br-${name}`;
  const bridge = str(item.bridge, `${where}: bridge`) ?? (mode === "bridge" ? invalid(where, "mode bridge needs the host 'bridge' to attach to.") : defaultBridge);
  // Linux interface names: at most 15 bytes, no '/', ':' or whitespace.
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) {
    invalid(where, `bridge '${bridge.slice(0, 32)}' is not a valid interface name (1-15 letters, digits, '_', '.', '-')${item.bridge === undefined ? "; set 'bridge:' explicitly" : ""}.`);
  }

  const domain = str(item.domain, `${where}: domain`);
  if (domain !== undefined && !isHostname(domain)) invalid(where, `domain '${domain.slice(0, 64)}' is not a DNS domain name.`);

  let cidr = str(item.cidr, `${where}: cidr`);
  // miniascape writes the bare network address (`network: 192.168.155.0`) beside gateway and netmask;
  // a CIDR there is accepted too.
  const networkText = str(item.network, `${where}: network`);
  let networkAddress: number | undefined;
  if (networkText?.includes("/")) {
    if (cidr !== undefined && cidr !== networkText) invalid(where, `'cidr' ${cidr} and 'network' ${networkText} disagree; give one.`);
    cidr = networkText;
  } else if (networkText !== undefined) {
    networkAddress = parseIpv4(networkText, `${where}: network`);
  }
  const gatewayText = str(item.gateway, `${where}: gateway`);
  const netmaskText = str(item.netmask, `${where}: netmask`);
  const hostsRaw = item.hosts ?? [];
  if (cidr === undefined && gatewayText === undefined && networkAddress === undefined) {
    if (mode !== "bridge") invalid(where, "needs an IPv4 subnet: 'cidr: 192.168.100.0/24', or 'gateway' and 'netmask'.");
    if (item.dhcp !== undefined || (Array.isArray(hostsRaw) && hostsRaw.length > 0)) invalid(where, "DHCP and static hosts need a subnet ('cidr').");
    return { name, mode, bridge, domain, ipv4: undefined };
  }

  let prefix: number;
  let gateway: number;
  let network: number;
  if (cidr !== undefined) {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
    if (!m || m[1] === undefined || m[2] === undefined) invalid(where, `cidr '${cidr.slice(0, 64)}' is not an IPv4 CIDR like 192.168.100.0/24.`);
    const base = parseIpv4(m[1], `${where}: cidr`);
    prefix = Number(m[2]);
    if (prefix > 30 || prefix < 8) invalid(where, `cidr '${cidr}' has prefix /${prefix}; use /8 to /30 so there is room for hosts.`);
    if (netmaskText !== undefined && parseIpv4(netmaskText, `${where}: netmask`) !== prefixToMask(prefix)) {
      invalid(where, `netmask ${netmaskText} does not match cidr /${prefix}.`);
    }
    network = (base & prefixToMask(prefix)) >>> 0;
    // "192.168.155.254/24" names the gateway itself; "192.168.155.0/24" the network (gateway defaults to .1).
    gateway = gatewayText !== undefined ? parseIpv4(gatewayText, `${where}: gateway`) : base !== network ? base : (network + 1) >>> 0;
  } else {
    if (netmaskText === undefined) invalid(where, "'gateway' or 'network' needs a 'netmask' (or give 'cidr').");
    prefix = maskToPrefix(parseIpv4(netmaskText, `${where}: netmask`), where);
    if (prefix > 30 || prefix < 8) invalid(where, `netmask ${netmaskText} leaves no room for hosts; use /8 to /30.`);
    const base = gatewayText !== undefined ? parseIpv4(gatewayText, `${where}: gateway`) : (networkAddress ?? 0);
    network = (base & prefixToMask(prefix)) >>> 0;
    gateway = gatewayText !== undefined ? base : (network + 1) >>> 0;
  }
  if (networkAddress !== undefined && networkAddress !== network) {
    invalid(where, `network ${formatIpv4(networkAddress)} does not match the subnet ${formatIpv4(network)}/${prefix} of the gateway and netmask.`);
  }
  const mask = prefixToMask(prefix);
  const broadcast = (network | ~mask) >>> 0;
  const inside = (ip: number) => ip > network && ip < broadcast;
  const subnet = `${formatIpv4(network)}/${prefix}`;
  if (!inside(gateway)) invalid(where, `gateway ${formatIpv4(gateway)} is not a host address of ${subnet}.`);

  let dhcp: { start: string; end: string } | undefined;
  let staticRange: [number, number] | undefined;
  if (item.dhcp !== undefined) {
    if (!isRecord(item.dhcp)) invalid(where, "dhcp must be a mapping with 'start' and 'end'.");
    const start = parseIpv4(str(item.dhcp.start, `${where}: dhcp start`) ?? invalid(where, "dhcp needs 'start'."), `${where}: dhcp start`);
    const end = parseIpv4(str(item.dhcp.end, `${where}: dhcp end`) ?? invalid(where, "dhcp needs 'end'."), `${where}: dhcp end`);
    if (!inside(start) || !inside(end)) invalid(where, `DHCP range ${formatIpv4(start)}-${formatIpv4(end)} is not inside ${subnet}.`);
    if (start > end) invalid(where, `DHCP range starts at ${formatIpv4(start)}, after its end ${formatIpv4(end)}.`);
    if (gateway >= start && gateway <= end) invalid(where, `DHCP range ${formatIpv4(start)}-${formatIpv4(end)} contains the gateway ${formatIpv4(gateway)}.`);
    dhcp = { start: formatIpv4(start), end: formatIpv4(end) };
    // miniascape's dhcp.static: the addresses kept for static hosts, outside the dynamic range.
    if (item.dhcp.static !== undefined) {
      const st = item.dhcp.static;
      if (!isRecord(st)) invalid(where, "dhcp static must be a mapping with 'start' and 'end'.");
      const sStart = parseIpv4(str(st.start, `${where}: dhcp static start`) ?? invalid(where, "dhcp static needs 'start'."), `${where}: dhcp static start`);
      const sEnd = parseIpv4(str(st.end, `${where}: dhcp static end`) ?? invalid(where, "dhcp static needs 'end'."), `${where}: dhcp static end`);
      if (!inside(sStart) || !inside(sEnd) || sStart > sEnd) invalid(where, `static range ${formatIpv4(sStart)}-${formatIpv4(sEnd)} is not an ascending range inside ${subnet}.`);
      if (sStart <= end && start <= sEnd) invalid(where, `static range ${formatIpv4(sStart)}-${formatIpv4(sEnd)} overlaps the DHCP range ${dhcp.start}-${dhcp.end}.`);
      staticRange = [sStart, sEnd];
    }
  }

  if (!Array.isArray(hostsRaw)) invalid(where, "hosts must be a list of { name, mac, ip }.");
  if (hostsRaw.length > MAX_HOSTS) invalid(where, `has ${hostsRaw.length} hosts, more than ${MAX_HOSTS}.`);
  const seenMac = new Map<string, string>();
  const seenIp = new Map<number, string>();
  const seenName = new Set<string>();
  const hosts: NetworkHost[] = hostsRaw.map((h: unknown, i: number): NetworkHost => {
    const hw = `${where}: host #${i + 1}`;
    if (!isRecord(h)) invalid(hw, "must be a mapping { name, mac, ip }.");
    const hostName = str(h.name, `${hw} name`);
    const label = hostName ? `${where}: host '${hostName}'` : hw;
    if (hostName !== undefined && !isHostname(hostName)) invalid(label, `name '${hostName.slice(0, 64)}' is not a valid host name.`);
    const mac = (str(h.mac, `${label} mac`) ?? invalid(label, "needs a 'mac'.")).toLowerCase();
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) invalid(label, `MAC '${mac.slice(0, 32)}' is not a MAC address like 52:54:00:12:34:56.`);
    if (parseInt(mac.slice(0, 2), 16) & 1) invalid(label, `MAC ${mac} is a multicast address; a NIC needs a unicast one.`);
    const ip = parseIpv4(str(h.ip, `${label} ip`) ?? invalid(label, "needs an 'ip'."), `${label} ip`);
    if (!inside(ip)) invalid(label, `IP ${formatIpv4(ip)} is outside the subnet ${subnet}.`);
    if (ip === gateway) invalid(label, `IP ${formatIpv4(ip)} is the gateway's address.`);
    if (staticRange && (ip < staticRange[0] || ip > staticRange[1])) {
      invalid(label, `IP ${formatIpv4(ip)} is outside the static range ${formatIpv4(staticRange[0])}-${formatIpv4(staticRange[1])}.`);
    }
    const dupMac = seenMac.get(mac);
    if (dupMac !== undefined) invalid(label, `MAC ${mac} is also given to ${dupMac}.`);
    const dupIp = seenIp.get(ip);
    if (dupIp !== undefined) invalid(label, `IP ${formatIpv4(ip)} is also given to ${dupIp}.`);
    if (hostName !== undefined) {
      if (seenName.has(hostName.toLowerCase())) invalid(label, `host name '${hostName}' is used twice.`);
      seenName.add(hostName.toLowerCase());
    }
    seenMac.set(mac, hostName ?? `host #${i + 1}`);
    seenIp.set(ip, hostName ?? `host #${i + 1}`);
    return { name: hostName, mac, ip: formatIpv4(ip) };
  });

  return {
    name,
    mode,
    bridge,
    domain,
    ipv4: { gateway: formatIpv4(gateway), prefix, netmask: formatIpv4(mask), network: formatIpv4(network), dhcp, hosts },
  };
}

function checkAcrossNetworks(specs: NetworkSpec[], source: string): void {
  const names = new Set<string>();
  const bridges = new Map<string, string>();
  const macs = new Map<string, string>();
  for (const spec of specs) {
    if (names.has(spec.name)) invalid(source, `network name '${spec.name}' is used twice.`);
    names.add(spec.name);
    const other = bridges.get(spec.bridge);
    if (other !== undefined) invalid(source, `networks '${other}' and '${spec.name}' both use bridge ${spec.bridge}.`);
    bridges.set(spec.bridge, spec.name);
    for (const host of spec.ipv4?.hosts ?? []) {
      const owner = macs.get(host.mac);
      if (owner !== undefined) invalid(source, `MAC ${host.mac} appears in networks '${owner}' and '${spec.name}'.`);
      macs.set(host.mac, spec.name);
    }
  }
  const withIp = specs.filter((s) => s.ipv4 !== undefined);
  for (let i = 0; i < withIp.length; i++) {
    for (let j = i + 1; j < withIp.length; j++) {
      const a = withIp[i]!;
      const b = withIp[j]!;
      const mask = prefixToMask(Math.min(a.ipv4!.prefix, b.ipv4!.prefix));
      if (((parseIpv4(a.ipv4!.network, "") & mask) >>> 0) === ((parseIpv4(b.ipv4!.network, "") & mask) >>> 0)) {
        invalid(source, `networks '${a.name}' (${a.ipv4!.network}/${a.ipv4!.prefix}) and '${b.name}' (${b.ipv4!.network}/${b.ipv4!.prefix}) overlap.`);
      }
    }
  }
}

function str(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v.trim();
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  invalid(where, "must be a single value, not a list or mapping.");
}

function isHostname(s: string): boolean {
  return s.length <= 253 && s.split(".").every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

/** Strict dotted quad → 32-bit unsigned number. */
export function parseIpv4(text: string, where: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) invalid(where, `'${text.slice(0, 64)}' is not an IPv4 address (only IPv4 is supported).`);
  let n = 0;
  for (const part of m.slice(1)) {
    const octet = Number(part);
    if (octet > 255 || (part.length > 1 && part.startsWith("0"))) invalid(where, `'${text}' is not an IPv4 address.`);
    n = n * 256 + octet;
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function maskToPrefix(mask: number, where: string): number {
  for (let p = 0; p <= 32; p++) if (prefixToMask(p) === mask) return p;
  invalid(where, `netmask ${formatIpv4(mask)} is not a contiguous netmask.`);
}

/** The libvirt network XML for one network (`virsh net-define FILE`). */
export function writeNetworkXml(spec: NetworkSpec): string {
  return formatXml(buildNetwork(spec));
}

export function buildNetwork(spec: NetworkSpec): XmlElement {
  const children: XmlElement[] = [element("name", {}, [spec.name])];
  if (spec.mode === "nat" || spec.mode === "route") children.push(element("forward", { mode: spec.mode }));
  if (spec.mode === "bridge") {
    children.push(element("forward", { mode: "bridge" }), element("bridge", { name: spec.bridge }));
    // libvirt gives a host-bridge network no addresses of its own: IP, DHCP and DNS stay with dnsmasq.
    return element("network", {}, children);
  }
  children.push(element("bridge", { name: spec.bridge, stp: "on", delay: 0 }));
  if (spec.domain !== undefined) children.push(element("domain", { name: spec.domain, localOnly: "yes" }));
  const ip = spec.ipv4;
  if (ip) {
    const dhcpChildren: XmlElement[] = [];
    if (ip.dhcp) dhcpChildren.push(element("range", { start: ip.dhcp.start, end: ip.dhcp.end }));
    for (const host of ip.hosts) dhcpChildren.push(element("host", { mac: host.mac, name: host.name, ip: host.ip }));
    children.push(element("ip", { address: ip.gateway, netmask: ip.netmask }, dhcpChildren.length > 0 ? [element("dhcp", {}, dhcpChildren)] : []));
  }
  return element("network", {}, children);
}
