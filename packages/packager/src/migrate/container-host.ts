// A container host reached over SSH: what it is (architecture, runtime, ports in use) and the
// runtime commands a migration needs, all run on one connection. podman and docker take the same
// command lines for all of these; nothing here adds runtime or ulimit flags of its own — the
// host's own configuration (containers.conf, daemon.json) decides those.
import { connectSsh, shellQuote, type SshConnectOptions, type SshConnection, type SshExecResult } from "@leapp/inspect/ssh";
import { PackagerError } from "../errors.js";
import { parseBoundPorts, parsePublishedPorts, type PublishedPort } from "./host-ports.js";
import type { TakenPorts } from "./port-map.js";

export type RuntimeName = "podman" | "docker";
export const runtimeNames: readonly RuntimeName[] = ["podman", "docker"];

/** Where the containers go: a container host over SSH. */
export interface TargetOptions {
  /** `ssh://user@host[:port]`, or a connection already open to the host (then left open). */
  target: string | SshConnection;
  /** How to connect when `target` is a URL: the key, and `knownHosts` or a pinned `fingerprint` (always checked). */
  ssh?: SshConnectOptions;
  /** podman or docker (default: podman when the host has it, else docker). */
  runtime?: RuntimeName;
}

/** `ssh://user@host:port` of a connection, as messages and results name the target. */
export function targetLabel(ssh: SshConnection): string {
  const host = ssh.host.includes(":") ? `[${ssh.host}]` : ssh.host;
  return `ssh://${ssh.username}@${host}:${ssh.port}`;
}

/**
 * The connection to the target: opened here (and to be closed by the caller: `owned`) or the one
 * given. No operation signal is given to it: an abort must leave it up to undo what was half-done.
 */
export async function connectTarget(options: TargetOptions): Promise<{ ssh: SshConnection; owned: boolean }> {
  if (typeof options.target !== "string") return { ssh: options.target, owned: false };
  return { ssh: await connectSsh(options.target, options.ssh ?? {}), owned: true };
}

/** What a container host is, as far as a migration cares. */
export interface TargetFacts {
  /** `uname -m`: x86_64, aarch64… */
  architecture: string;
  kernel: string;
  uid: number;
  /** Where each runtime's command is, when it is installed. */
  installed: Partial<Record<RuntimeName, string>>;
  /** `net.ipv4.ip_unprivileged_port_start`: the lowest port a rootless runtime can publish. */
  unprivilegedPortStart: number;
}

/** The runtime a migration would use, and whether it works. */
export interface RuntimeInfo {
  name: RuntimeName;
  version: string;
  rootless: boolean;
  /** The OCI runtime it runs containers with (runc, crun…), when it says. */
  ociRuntime?: string;
}

export interface HostContainer {
  name: string;
  image: string;
  state: string;
  ports: PublishedPort[];
}

/** Most bytes a runtime's answer may be (its `info` JSON, a list of containers). */
const MAX_ANSWER = 4 * 1024 * 1024;
/** A quick command (info, ps, inspect) must end within this. */
const QUICK_MS = 120_000;

function keyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n", 64)) {
    const eq = line.indexOf("=");
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return out;
}

/** A shell script run by `sh` whatever the user's login shell is. */
const sh = (script: string) => `sh -c ${shellQuote(script)}`;

/**
 * What the host is: one round trip. Fails only when the host cannot run a POSIX shell at all.
 */
export async function probeTarget(ssh: SshConnection, options: { signal?: AbortSignal } = {}): Promise<TargetFacts> {
  const r = await ssh.exec(
    sh('echo "arch=$(uname -m)"; echo "kernel=$(uname -r)"; echo "uid=$(id -u)"; echo "podman=$(command -v podman)"; echo "docker=$(command -v docker)"; echo "unprivileged=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null)"'),
    { maxOutputBytes: 64 * 1024, timeoutMs: QUICK_MS, ...(options.signal ? { signal: options.signal } : {}) },
  );
  const kv = keyValues(new TextDecoder().decode(r.stdout));
  const architecture = kv.get("arch") ?? "";
  if (r.exitCode !== 0 || architecture === "") throw new PackagerError("PACKAGER_TARGET_UNSUITABLE", `${ssh.host} did not answer a POSIX shell's uname and id (exit ${r.exitCode ?? r.exitSignal}): ${r.stderr.trim().slice(0, 300)}; a container host must be a Linux host with sh`);
  const installed: Partial<Record<RuntimeName, string>> = {};
  for (const name of runtimeNames) {
    const path = kv.get(name);
    if (path) installed[name] = path;
  }
  const unprivileged = Number(kv.get("unprivileged"));
  const uid = Number(kv.get("uid"));
  return {
    architecture,
    kernel: kv.get("kernel") ?? "",
    uid: Number.isInteger(uid) ? uid : -1,
    installed,
    unprivilegedPortStart: Number.isInteger(unprivileged) && unprivileged >= 0 && unprivileged <= 65536 ? unprivileged : 1024,
  };
}

/** Whether a guest of architecture `guest` (as inspect reports it) runs on a host of `host` (`uname -m`). */
export function architectureRuns(host: string, guest: string | undefined): boolean {
  if (guest === undefined || guest === host) return true;
  const x86 = /^i[3-6]86$/;
  if (host === "x86_64") return x86.test(guest);
  if (x86.test(host)) return x86.test(guest);
  return false;
}

/** The runtime commands of a migration on one host, each one SSH exec on the same connection. */
export class ContainerHost {
  constructor(
    readonly ssh: SshConnection,
    readonly runtime: RuntimeName,
    /** How messages name the host (`ssh://user@host:port`). */
    readonly target: string,
  ) {}

  /** Runs the runtime with these arguments (each quoted); a failure is PACKAGER_TARGET_FAILED unless `allowFailure`. */
  async run(args: string[], options: { stdin?: AsyncIterable<Uint8Array>; signal?: AbortSignal | undefined; timeoutMs?: number; allowFailure?: boolean; what?: string } = {}): Promise<SshExecResult & { text: string }> {
    const command = [this.runtime, ...args].map(shellQuote).join(" ");
    const r = await this.ssh.exec(command, {
      maxOutputBytes: MAX_ANSWER,
      ...(options.stdin ? { stdin: options.stdin } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    const text = new TextDecoder().decode(r.stdout);
    if (r.exitCode !== 0 && !options.allowFailure) {
      const said = r.stderr.trim().split("\n").slice(-5).join(" | ").slice(0, 800);
      throw new PackagerError("PACKAGER_TARGET_FAILED", `${options.what ?? `${this.runtime} ${args[0]}`} failed on ${this.target} (exit ${r.exitCode ?? `signal ${r.exitSignal}`}): ${said || "no message"}; check the runtime there (${this.runtime} info)`);
    }
    return { ...r, text };
  }

  /** The runtime's version and mode; PACKAGER_NO_RUNTIME when it does not work (`info` fails). */
  async info(signal?: AbortSignal): Promise<RuntimeInfo> {
    const args = this.runtime === "podman" ? ["info", "--format", "json"] : ["info", "--format", "{{json .}}"];
    const r = await this.run(args, { signal, timeoutMs: QUICK_MS, allowFailure: true });
    if (r.exitCode !== 0) {
      const said = r.stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 600);
      throw new PackagerError("PACKAGER_NO_RUNTIME", `${this.runtime} is installed on ${this.target} but does not work (${this.runtime} info: ${said || `exit ${r.exitCode}`}); fix it there, or choose the other runtime with --runtime`);
    }
    let info: Record<string, unknown>;
    try {
      info = JSON.parse(r.text) as Record<string, unknown>;
    } catch (err) {
      throw new PackagerError("PACKAGER_NO_RUNTIME", `${this.runtime} info on ${this.target} did not print JSON; is it really ${this.runtime}?`, { cause: err });
    }
    const get = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), o);
    const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 200) : undefined);
    if (this.runtime === "podman") {
      const oci = str(get(info, "host", "ociRuntime", "name"));
      return { name: "podman", version: str(get(info, "version", "Version")) ?? "unknown", rootless: get(info, "host", "security", "rootless") === true, ...(oci ? { ociRuntime: oci } : {}) };
    }
    const security = get(info, "SecurityOptions");
    const oci = str(get(info, "DefaultRuntime"));
    return {
      name: "docker",
      version: str(get(info, "ServerVersion")) ?? "unknown",
      rootless: Array.isArray(security) && security.some((s) => s === "name=rootless"),
      ...(oci ? { ociRuntime: oci } : {}),
    };
  }

  /** Every container, running or not, with the host ports it publishes. */
  async containers(signal?: AbortSignal): Promise<HostContainer[]> {
    const r = await this.run(["ps", "-a", "--no-trunc", "--format", "{{.Names}}\t{{.Image}}\t{{.State}}\t{{.Ports}}"], { signal, timeoutMs: QUICK_MS });
    const out: HostContainer[] = [];
    for (const line of r.text.split("\n", 100_000)) {
      const [name, image, state, ports] = line.split("\t");
      if (!name) continue;
      // podman says `Created`, docker `created`.
      out.push({ name, image: image ?? "", state: (state ?? "").toLowerCase(), ports: parsePublishedPorts(ports ?? "") });
    }
    return out;
  }

  /**
   * Ports in use: every listening TCP and bound UDP socket, and what containers publish (running
   * or not). `freed`: ports of a container about to be replaced — its runtime holds their sockets
   * now, and lets them go when it is removed.
   */
  async takenPorts(containers: HostContainer[], options: { freed?: PublishedPort[]; signal?: AbortSignal | undefined } = {}): Promise<TakenPorts> {
    const signal = options.signal;
    const r = await this.ssh.exec(sh("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; echo @@; cat /proc/net/udp /proc/net/udp6 2>/dev/null"), { maxOutputBytes: 64 * 1024 * 1024, timeoutMs: QUICK_MS, ...(signal ? { signal } : {}) });
    const text = new TextDecoder().decode(r.stdout);
    const at = text.indexOf("@@\n");
    const tcp = parseBoundPorts(at < 0 ? text : text.slice(0, at), "tcp");
    const udp = at < 0 ? new Set<number>() : parseBoundPorts(text.slice(at + 3), "udp");
    for (const p of options.freed ?? []) (p.protocol === "tcp" ? tcp : udp).delete(p.hostPort);
    for (const c of containers) for (const p of c.ports) (p.protocol === "tcp" ? tcp : udp).add(p.hostPort);
    return { tcp, udp };
  }

  async imageExists(reference: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.imageId(reference, signal)) !== undefined;
  }

  /** An image's ID, or undefined when the runtime has no image by that name or ID. */
  async imageId(reference: string, signal?: AbortSignal): Promise<string | undefined> {
    return (await this.#inspect("image", "{{.Id}}", reference, signal)) || undefined;
  }

  /** The ID of the image a container was made from, or undefined when there is no such container. */
  async containerImageId(name: string, signal?: AbortSignal): Promise<string | undefined> {
    return (await this.#inspect("container", "{{.Image}}", name, signal)) || undefined;
  }

  /** One field of an image or container (`inspect --format`), trimmed; undefined when there is no such object. */
  async #inspect(kind: "image" | "container", format: string, name: string, signal: AbortSignal | undefined): Promise<string | undefined> {
    const r = await this.run([kind, "inspect", "--format", format, name], { signal, timeoutMs: QUICK_MS, allowFailure: true });
    return r.exitCode === 0 ? r.text.trim() : undefined;
  }

  /**
   * `load` with the archive streamed on its standard input; returns the reference the runtime
   * says it loaded (podman names a bare `web01:latest` `localhost/web01:latest`).
   */
  async load(archive: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<string | undefined> {
    const r = await this.run(["load"], { stdin: archive, signal, what: `${this.runtime} load` });
    const m = /Loaded image(?:\(s\))?:\s*(\S+)/.exec(r.text + "\n" + r.stderr);
    return m?.[1];
  }

  /** `run -d`: creates and starts the container with the image's own command; returns its id. */
  async start(name: string, image: string, options: string[], signal?: AbortSignal): Promise<string> {
    const r = await this.run(["run", "-d", "--name", name, ...options, image], { signal, timeoutMs: 600_000, what: `${this.runtime} run` });
    return r.text.trim().split("\n").pop() ?? "";
  }

  /** The container's state (`running`, `exited`…), or undefined when there is no such container. */
  async state(name: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.#inspect("container", "{{.State.Status}}", name, signal);
  }

  /** The last lines the container printed (for an error message). */
  async logTail(name: string): Promise<string> {
    const r = await this.run(["logs", "--tail", "15", name], { timeoutMs: QUICK_MS, allowFailure: true });
    return (r.text + r.stderr).trim().slice(-1500);
  }

  /** Stops a container with its own stop signal (up to `timeoutSeconds`), then removes it. */
  async remove(name: string, options: { timeoutSeconds?: number; signal?: AbortSignal } = {}): Promise<void> {
    const t = String(options.timeoutSeconds ?? 30);
    await this.run(["stop", "--time", t, name], { signal: options.signal, timeoutMs: QUICK_MS + Number(t) * 1000, allowFailure: true });
    await this.run(["rm", "-f", name], { signal: options.signal, timeoutMs: QUICK_MS, what: `${this.runtime} rm ${name}` });
  }

  /** Removes an image (refused by the runtime while a container uses it). */
  async removeImage(reference: string, signal?: AbortSignal): Promise<boolean> {
    const r = await this.run(["rmi", reference], { signal, timeoutMs: QUICK_MS, allowFailure: true });
    return r.exitCode === 0;
  }

  /**
   * Removes an image that has no name left (its tag went to a newer image) and that no container
   * uses; an image still named, or used, stays. Whether it was removed.
   */
  async removeUnnamedImage(id: string, signal?: AbortSignal): Promise<boolean> {
    if ((await this.#inspect("image", "{{len .RepoTags}}", id, signal)) !== "0") return false;
    // Without -f, the runtime refuses while a container (running or not) uses the image.
    return this.removeImage(id, signal);
  }
}
