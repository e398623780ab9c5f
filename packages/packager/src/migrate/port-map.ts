import { PackagerError } from "../errors.js";

export type PortProtocol = "tcp" | "udp";

/** A port the migrated machine serves on: from its services' configuration, or seen listening on the live host. */
export interface SourcePort {
  port: number;
  protocol: PortProtocol;
  /** What serves it (`apache2`, `ssh`…), when known. */
  service?: string;
}

/** `--tcp-port TARGET:SOURCE` (or `--tcp-port SOURCE`: map it, wherever it lands). */
export interface PortRequest {
  source: number;
  target?: number;
}

/** Ports already in use on the container host, by protocol. */
export interface TakenPorts {
  tcp: ReadonlySet<number>;
  udp: ReadonlySet<number>;
}

/** One published port: the container host's `target` forwards to the machine's `source`. */
export interface PortMapping {
  source: number;
  target: number;
  protocol: PortProtocol;
  service?: string;
  /**
   * `same`: the source's own number was free; `default`: a default move (22 → 9022, the host's
   * own sshd keeps 22); `requested`: `--tcp-port`; `next-free`: the wanted port was taken, this is
   * the next free one above it.
   */
  why: "same" | "default" | "requested" | "next-free";
  /** The port it would have had: its own number, its default move, or the one requested. */
  wanted: number;
}

export interface PortMapOptions {
  /** Source ports mapped as the user says (TCP), including ports the machine was not seen to serve. */
  requested?: readonly PortRequest[];
  /** Source TCP ports not to publish at all. */
  excluded?: readonly number[];
  /** Where a source port goes by default instead of its own number (TCP). Default: 22 → 9022, as the LeApp prototype. */
  defaults?: Readonly<Record<number, number>>;
  /** Ports below this cannot be bound on the target (a rootless runtime: `ip_unprivileged_port_start`). Default 1. */
  lowestPort?: number;
}

export const defaultPortMoves: Readonly<Record<number, number>> = Object.freeze({ 22: 9022 });
const MAX_PORT = 65535;

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) throw new PackagerError("PACKAGER_BAD_INPUT", `${what} ${port} is not a port number (1-65535)`);
}

/**
 * Decides which port of the container host publishes each port the machine serves. Each source
 * port keeps its own number when that is free on the target, else takes the next free one
 * above it; 22 goes to 9022 by default (the host's own sshd keeps 22). Ports that can keep their
 * wanted number get it first, so one moved port never pushes another off its own number.
 * `requested` targets must be free (PACKAGER_PORT_TAKEN otherwise: the user named them), and
 * no two mappings share a target port. Deterministic: sorted by protocol, then source port.
 */
export function planPortMap(sources: readonly SourcePort[], taken: TakenPorts, options: PortMapOptions = {}): PortMapping[] {
  const lowest = options.lowestPort ?? 1;
  if (!Number.isInteger(lowest) || lowest < 1 || lowest > MAX_PORT) throw new PackagerError("PACKAGER_BAD_INPUT", `the lowest bindable port ${lowest} is not a port number`);
  const defaults = options.defaults ?? defaultPortMoves;
  const excluded = new Set<number>();
  for (const p of options.excluded ?? []) {
    checkPort(p, "--no-tcp-port");
    excluded.add(p);
  }
  const requested = new Map<number, number | undefined>();
  const requestedTargets = new Map<number, number>();
  for (const r of options.requested ?? []) {
    checkPort(r.source, "--tcp-port source port");
    if (r.target !== undefined) checkPort(r.target, "--tcp-port target port");
    if (requested.has(r.source)) throw new PackagerError("PACKAGER_BAD_INPUT", `--tcp-port names source port ${r.source} twice; give one mapping per source port`);
    if (excluded.has(r.source)) throw new PackagerError("PACKAGER_BAD_INPUT", `source port ${r.source} is both mapped (--tcp-port) and excluded (--no-tcp-port); choose one`);
    if (r.target !== undefined) {
      const other = requestedTargets.get(r.target);
      if (other !== undefined) throw new PackagerError("PACKAGER_BAD_INPUT", `--tcp-port maps both ${other} and ${r.source} to target port ${r.target}; a target port forwards to one source port`);
      requestedTargets.set(r.target, r.source);
    }
    requested.set(r.source, r.target);
  }

  // The source ports, once each (a service seen in its configuration and listening too).
  const wanted = new Map<string, SourcePort>();
  for (const s of sources) {
    checkPort(s.port, `source port (${s.service ?? "unknown service"})`);
    if (s.protocol === "tcp" && excluded.has(s.port)) continue;
    const key = `${s.protocol}/${s.port}`;
    const known = wanted.get(key);
    if (known === undefined || (known.service === undefined && s.service !== undefined)) wanted.set(key, { port: s.port, protocol: s.protocol, ...(s.service !== undefined ? { service: s.service } : {}) });
  }
  for (const source of requested.keys()) if (!wanted.has(`tcp/${source}`)) wanted.set(`tcp/${source}`, { port: source, protocol: "tcp" });

  const used: Record<PortProtocol, Set<number>> = { tcp: new Set(taken.tcp), udp: new Set(taken.udp) };
  const out: PortMapping[] = [];
  const entry = (s: SourcePort, target: number, why: PortMapping["why"], wanted: number): PortMapping => ({ source: s.port, target, protocol: s.protocol, ...(s.service !== undefined ? { service: s.service } : {}), why, wanted });
  const order = [...wanted.values()].sort((a, b) => (a.protocol === b.protocol ? a.port - b.port : a.protocol < b.protocol ? -1 : 1));

  // The user's own targets first: they are not moved, so a taken one is an error.
  for (const s of order) {
    const target = s.protocol === "tcp" ? requested.get(s.port) : undefined;
    if (target === undefined) continue;
    if (used.tcp.has(target) || target < lowest) {
      const why = target < lowest ? `cannot be bound there (ports below ${lowest} need root)` : "is in use on the target";
      throw new PackagerError("PACKAGER_PORT_TAKEN", `target port ${target} (asked for source port ${s.port} with --tcp-port) ${why}; choose another with --tcp-port PORT:${s.port}, or leave it out to take the next free one`);
    }
    used.tcp.add(target);
    out.push(entry(s, target, "requested", target));
  }
  const automatic = order.filter((s) => !(s.protocol === "tcp" && requested.get(s.port) !== undefined));
  const start = (s: SourcePort) => Math.max(lowest, s.protocol === "tcp" && !requested.has(s.port) ? (defaults[s.port] ?? s.port) : s.port);
  // Then every port whose wanted number is free keeps it — its own number before a default move…
  const moved: SourcePort[] = [];
  const ownFirst = [...automatic.filter((s) => start(s) === s.port), ...automatic.filter((s) => start(s) !== s.port)];
  for (const s of ownFirst) {
    const want = start(s);
    if (used[s.protocol].has(want)) {
      moved.push(s);
      continue;
    }
    used[s.protocol].add(want);
    out.push(entry(s, want, want === s.port ? "same" : want === (defaults[s.port] ?? s.port) && s.protocol === "tcp" ? "default" : "next-free", want));
  }
  // …and the others take the next free port above it.
  for (const s of moved) {
    let p = start(s);
    while (p <= MAX_PORT && used[s.protocol].has(p)) p++;
    if (p > MAX_PORT) throw new PackagerError("PACKAGER_NO_FREE_PORT", `no free ${s.protocol} port on the target from ${start(s)} up for source port ${s.port}; choose one with --tcp-port PORT:${s.port}, or leave it out with --no-tcp-port ${s.port}`);
    used[s.protocol].add(p);
    out.push(entry(s, p, "next-free", start(s)));
  }
  return out.sort((a, b) => (a.protocol === b.protocol ? a.source - b.source : a.protocol < b.protocol ? -1 : 1));
}

/** `8080:80` → `{ source: 80, target: 8080 }`; `80` → `{ source: 80 }` (as the LeApp prototype's `--tcp-port`). */
export function parsePortRequest(text: string): PortRequest {
  const m = /^(?:(\d{1,5}):)?(\d{1,5})$/.exec(text.trim());
  if (!m) throw new PackagerError("PACKAGER_BAD_INPUT", `${text} is not a port mapping; write TARGET:SOURCE (8080:80) or SOURCE (80)`);
  const source = Number(m[2]);
  checkPort(source, "source port");
  if (m[1] === undefined) return { source };
  const target = Number(m[1]);
  checkPort(target, "target port");
  return { source, target };
}
