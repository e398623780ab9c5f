import { parseShellVars, textLines } from "../text.js";

/** One configured network interface, from whichever configuration system describes it. */
export interface NetworkInterfaceConfig {
  name: string;
  /** The file it is configured in (guest path). */
  file: string;
  format: "ifcfg" | "interfaces" | "netplan" | "networkmanager";
  /** `dhcp`, `static`, `manual`, `loopback`… */
  method: string | undefined;
  /** Static addresses, CIDR where the prefix is known (`192.0.2.10/24`). */
  addresses: string[];
  gateway?: string;
  macAddress?: string;
  /** Brought up at boot (ifcfg ONBOOT, `auto` in interfaces). */
  onBoot?: boolean;
}

/** Netmask `255.255.255.0` → 24; undefined if it is not a valid mask. */
function maskToPrefix(mask: string): number | undefined {
  const parts = mask.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  const bits = parts.map((p) => p.toString(2).padStart(8, "0")).join("");
  return /^1*0*$/.test(bits) ? bits.indexOf("0") === -1 ? 32 : bits.indexOf("0") : undefined;
}

/** A RHEL-family `ifcfg-NAME` file. */
export function parseIfcfg(file: string, text: string): NetworkInterfaceConfig {
  const v = parseShellVars(text);
  const fromFile = file.split("/").pop()?.replace(/^ifcfg-/, "") ?? "";
  const bootproto = v.get("BOOTPROTO")?.toLowerCase();
  const addresses: string[] = [];
  for (const suffix of ["", "0", "1", "2", "3"]) {
    const ip = v.get(`IPADDR${suffix}`);
    if (!ip) continue;
    const prefix = v.get(`PREFIX${suffix}`) ?? (v.get(`NETMASK${suffix}`) ? String(maskToPrefix(v.get(`NETMASK${suffix}`) as string) ?? "") : "");
    addresses.push(prefix ? `${ip}/${prefix}` : ip);
  }
  const cfg: NetworkInterfaceConfig = {
    name: v.get("DEVICE") ?? fromFile,
    file,
    format: "ifcfg",
    method: bootproto === undefined || bootproto === "none" ? (addresses.length > 0 ? "static" : bootproto) : bootproto === "bootp" ? "dhcp" : bootproto,
    addresses,
  };
  const gw = v.get("GATEWAY");
  if (gw) cfg.gateway = gw;
  const mac = v.get("HWADDR") ?? v.get("MACADDR");
  if (mac) cfg.macAddress = mac.toLowerCase();
  const onboot = v.get("ONBOOT");
  if (onboot !== undefined) cfg.onBoot = /^(yes|true|1)$/i.test(onboot);
  return cfg;
}

/** Debian's `/etc/network/interfaces` (without following `source` lines). */
export function parseDebianInterfaces(file: string, text: string): NetworkInterfaceConfig[] {
  const out: NetworkInterfaceConfig[] = [];
  const auto = new Set<string>();
  let current: NetworkInterfaceConfig | undefined;
  let netmask: string | undefined;
  const finish = () => {
    if (current && netmask && current.addresses.length > 0 && !(current.addresses[0] as string).includes("/")) {
      const p = maskToPrefix(netmask);
      if (p !== undefined) current.addresses[0] = `${current.addresses[0]}/${p}`;
    }
    netmask = undefined;
  };
  for (const raw of textLines(text, 50_000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = line.split(/\s+/);
    const key = words[0] as string;
    if (key === "auto" || key.startsWith("allow-")) {
      for (const w of words.slice(1)) auto.add(w);
      continue;
    }
    if (key === "iface" && words.length >= 4) {
      finish();
      if (out.length >= 1000) break;
      current = { name: words[1] as string, file, format: "interfaces", method: words[3], addresses: [] };
      out.push(current);
      continue;
    }
    if (key === "mapping" || key === "source" || key === "source-directory") {
      finish();
      current = undefined;
      continue;
    }
    if (!current) continue;
    if (key === "address" && words[1]) current.addresses.push(words[1]);
    else if (key === "netmask" && words[1]) netmask = words[1];
    else if (key === "gateway" && words[1]) current.gateway = words[1];
    else if (key === "hwaddress" && words.length >= 2) current.macAddress = (words[words.length - 1] as string).toLowerCase();
  }
  finish();
  for (const c of out) c.onBoot = auto.has(c.name);
  return out;
}

/**
 * A netplan YAML file, read for what matters here: interfaces under `ethernets`/`bonds`/`bridges`/
 * `vlans` with their `dhcp4`, `addresses`, gateway and MAC. Indentation-based, without a YAML
 * library: netplan files are simple, and a file we cannot follow yields fewer facts, not an error.
 */
export function parseNetplan(file: string, text: string): NetworkInterfaceConfig[] {
  const out: NetworkInterfaceConfig[] = [];
  let sectionIndent = -1;
  let ifaceIndent = -1;
  let current: NetworkInterfaceConfig | undefined;
  let inAddresses = -1;
  for (const raw of textLines(text, 50_000)) {
    // indexOf-style search, not /\s+#.*$/: that pattern backtracks quadratically on long blank lines.
    const hash = raw.search(/(^|[ \t])#/);
    const noComment = (hash < 0 ? raw : raw.slice(0, hash)).trimEnd();
    if (noComment.trim() === "" || noComment.trim().startsWith("#")) continue;
    const indent = noComment.length - noComment.trimStart().length;
    const line = noComment.trim();
    if (/^(ethernets|bonds|bridges|vlans|wifis):\s*$/.test(line)) {
      sectionIndent = indent;
      ifaceIndent = -1;
      current = undefined;
      continue;
    }
    if (sectionIndent < 0 || indent <= sectionIndent) {
      if (indent <= sectionIndent) sectionIndent = -1;
      current = undefined;
      continue;
    }
    if (ifaceIndent < 0 || indent === ifaceIndent) {
      const m = /^["']?([^"':]+)["']?:\s*$/.exec(line);
      if (m && out.length < 1000) {
        ifaceIndent = indent;
        current = { name: m[1] as string, file, format: "netplan", method: "static", addresses: [] };
        out.push(current);
        inAddresses = -1;
      }
      continue;
    }
    if (!current) continue;
    if (inAddresses >= 0 && indent > inAddresses && line.startsWith("-")) {
      current.addresses.push(line.slice(1).trim().replace(/^["']|["']$/g, ""));
      continue;
    }
    inAddresses = -1;
    const kv = /^([A-Za-z0-9_-]+):\s*(.*)$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    if (key === "dhcp4" && /^(true|yes|on)$/i.test(value)) current.method = "dhcp";
    else if (key === "addresses") {
      const inline = /^\[(.*)\]$/.exec(value);
      if (inline) current.addresses.push(...(inline[1] as string).split(",").map((s) => s.trim().replace(/^["']|["']$/g, "")).filter((s) => s !== ""));
      else inAddresses = indent;
    } else if (key === "gateway4") current.gateway = value;
    else if (key === "macaddress") current.macAddress = value.replace(/["']/g, "").toLowerCase();
  }
  return out;
}

/** A NetworkManager keyfile (`*.nmconnection`): an ini file. */
export function parseNmKeyfile(file: string, text: string): NetworkInterfaceConfig | undefined {
  const sections = new Map<string, Map<string, string>>();
  let section: Map<string, string> | undefined;
  for (const raw of textLines(text, 10_000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = new Map();
      sections.set(s[1] as string, section);
      continue;
    }
    const eq = line.indexOf("=");
    if (section && eq > 0) section.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const conn = sections.get("connection");
  if (!conn) return undefined;
  const ipv4 = sections.get("ipv4");
  const addresses: string[] = [];
  let gateway: string | undefined;
  for (const [k, v] of ipv4 ?? []) {
    if (/^address\d*$/.test(k)) {
      const [addr, gw] = v.split(",");
      if (addr) addresses.push(addr.trim());
      if (gw && !gateway) gateway = gw.trim();
    }
  }
  gateway ??= ipv4?.get("gateway");
  const method = ipv4?.get("method");
  const cfg: NetworkInterfaceConfig = {
    name: conn.get("interface-name") ?? conn.get("id") ?? file,
    file,
    format: "networkmanager",
    method: method === "auto" ? "dhcp" : method === "manual" ? "static" : method,
    addresses,
  };
  if (gateway) cfg.gateway = gateway;
  const mac = sections.get("ethernet")?.get("mac-address");
  if (mac) cfg.macAddress = mac.toLowerCase();
  const autoconnect = conn.get("autoconnect");
  cfg.onBoot = autoconnect === undefined ? true : /^(true|yes|1)$/i.test(autoconnect);
  return cfg;
}
