// What a container host's own text says about its ports: the kernel's socket tables and the
// runtime's `ps` column. Both come from the host over SSH: bounded, and odd lines are skipped.
import type { PortProtocol } from "./port-map.js";

const MAX_LINES = 200_000;

function lines(text: string): string[] {
  const out = text.split("\n", MAX_LINES + 1);
  return out.length > MAX_LINES ? out.slice(0, MAX_LINES) : out;
}

/**
 * The local ports of `/proc/net/tcp{,6}` (listening sockets, state 0A) or `/proc/net/udp{,6}`
 * (every bound socket): a port bound on any address is taken, since publishing on all addresses
 * would collide with it. Several tables may be concatenated; their header lines are skipped.
 */
export function parseBoundPorts(text: string, protocol: PortProtocol): Set<number> {
  const ports = new Set<number>();
  for (const line of lines(text)) {
    const f = line.trim().split(/\s+/, 5);
    if (f.length < 4) continue;
    const m = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(f[1]!);
    if (!m || !/^[0-9A-Fa-f]{2}$/.test(f[3]!)) continue;
    if (protocol === "tcp" && f[3]!.toUpperCase() !== "0A") continue;
    const port = parseInt(m[1]!, 16);
    if (port > 0) ports.add(port);
  }
  return ports;
}

/** A port a container publishes on the host. */
export interface PublishedPort {
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

/**
 * The host ports of a `podman ps` / `docker ps` Ports column: `0.0.0.0:8080->80/tcp, :::8080->80/tcp`,
 * ranges `0.0.0.0:8000-8001->80-81/tcp`; exposed-only ports (`80/tcp`, nothing published) are not
 * host ports and are left out.
 */
export function parsePublishedPorts(column: string): PublishedPort[] {
  const out = new Map<string, PublishedPort>();
  for (const part of column.split(",", 4096)) {
    const m = /^\s*(?:.*:)?(\d{1,5})(?:-(\d{1,5}))?->(\d{1,5})(?:-(\d{1,5}))?\/(tcp|udp|sctp)\s*$/.exec(part);
    if (!m || m[5] === "sctp") continue;
    const hostFirst = Number(m[1]);
    const hostLast = m[2] === undefined ? hostFirst : Number(m[2]);
    const containerFirst = Number(m[3]);
    // A range is at most the whole port space: never a loop a lying column could make long.
    if (hostLast < hostFirst || hostLast > 65535 || hostFirst < 1 || containerFirst > 65535) continue;
    for (let i = 0; hostFirst + i <= hostLast; i++) {
      const p: PublishedPort = { hostPort: hostFirst + i, containerPort: Math.min(65535, containerFirst + i), protocol: m[5] as PortProtocol };
      out.set(`${p.protocol}/${p.hostPort}`, p);
    }
  }
  return [...out.values()].sort((a, b) => a.hostPort - b.hostPort);
}
