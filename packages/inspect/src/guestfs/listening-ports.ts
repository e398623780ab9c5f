import { textLines } from "../text.js";

export interface ListeningPort {
  protocol: "tcp" | "tcp6";
  address: string;
  port: number;
}

/** `0100007F` (little-endian IPv4 as /proc prints it) → `127.0.0.1`. */
function hexToIpv4(hex: string): string {
  const n = parseInt(hex, 16) >>> 0;
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join(".");
}

/** 32 hex digits of /proc/net/tcp6 (four little-endian words) → a compressed IPv6 address. */
function hexToIpv6(hex: string): string {
  const groups: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    const bytes = [word.slice(6, 8), word.slice(4, 6), word.slice(2, 4), word.slice(0, 2)];
    groups.push(bytes[0] + (bytes[1] as string), (bytes[2] as string) + bytes[3]);
  }
  const full = groups.map((g) => parseInt(g, 16).toString(16));
  const s = full.join(":");
  // Compress the longest run of zero groups, as inet_ntop does.
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (full[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && full[j] === "0") j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return s;
  return `${full.slice(0, best.at).join(":")}::${full.slice(best.at + best.len).join(":")}`;
}

/** The listening sockets (state 0A) of `/proc/net/tcp` or `/proc/net/tcp6`, deduplicated and sorted. */
export function parseProcNetTcp(text: string, protocol: "tcp" | "tcp6"): ListeningPort[] {
  const seen = new Map<string, ListeningPort>();
  for (const line of textLines(text, 200_000).slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== "0A") continue;
    const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(f[1] as string);
    if (!m) continue;
    const addrHex = m[1] as string;
    const address = addrHex.length === 8 ? hexToIpv4(addrHex) : hexToIpv6(addrHex);
    const port = parseInt(m[2] as string, 16);
    seen.set(`${address}|${port}`, { protocol, address, port });
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.address.localeCompare(b.address));
}
