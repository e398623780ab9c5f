// `leapp check-target` and `leapp destroy-container`: a container host's state, and the removal
// of a migrated container, on one SSH connection.
import type { SshConnection } from "@leapp/inspect/ssh";
import { PackagerError } from "../errors.js";
import { connectTarget, ContainerHost, probeTarget, runtimeNames, targetLabel, type HostContainer, type RuntimeInfo, type RuntimeName, type TargetOptions } from "./container-host.js";

export interface TargetCheck {
  /** `ssh://user@host:port`. */
  target: string;
  /** The host key it was verified with, `SHA256:…`. */
  hostKey: string;
  architecture: string;
  kernel: string;
  /** Runtimes installed (on the PATH of its SSH sessions). */
  installed: RuntimeName[];
  /** The runtime a migration would use, when it works. */
  runtime?: RuntimeInfo;
  /** Every container, running or not (their names are taken), with the ports they publish. */
  containers: HostContainer[];
  /** Host ports in use: listening TCP and bound UDP sockets, and what containers publish. */
  takenPorts: { tcp: number[]; udp: number[] };
  /** With `name`: whether a container of that name could be created. */
  nameFree?: boolean;
  /** Why a migration cannot go there; empty when it can. */
  problems: string[];
}

async function withTarget<T>(options: TargetOptions, work: (ssh: SshConnection, label: string) => Promise<T>): Promise<T> {
  const { ssh, owned } = await connectTarget(options);
  try {
    return await work(ssh, targetLabel(ssh));
  } finally {
    if (owned) await ssh.close();
  }
}

/**
 * Whether a container host can take a migration: its runtime installed and working, the
 * containers whose names are taken, the ports in use. What cannot work is listed in
 * `problems`; a host that cannot be reached or whose key does not match is an error.
 */
export async function checkTarget(options: TargetOptions & { name?: string; signal?: AbortSignal }): Promise<TargetCheck> {
  const signal = options.signal;
  return withTarget(options, async (ssh, target) => {
    const facts = await probeTarget(ssh, signal ? { signal } : {});
    const installed = runtimeNames.filter((r) => facts.installed[r] !== undefined);
    const problems: string[] = [];
    const candidates = options.runtime ? [options.runtime] : installed;
    if (options.runtime && !installed.includes(options.runtime)) problems.push(`${options.runtime} is not installed (not on the PATH of SSH sessions)`);
    if (installed.length === 0 && !options.runtime) problems.push("neither podman nor docker is installed (not on the PATH of SSH sessions)");
    let runtime: RuntimeInfo | undefined;
    let host: ContainerHost | undefined;
    for (const name of candidates.filter((r) => installed.includes(r))) {
      const h = new ContainerHost(ssh, name, target);
      try {
        runtime = await h.info(signal);
        host = h;
        break;
      } catch (err) {
        if (!(err instanceof PackagerError)) throw err;
        problems.push(err.message);
      }
    }
    // A working runtime found after one that failed: that one is what a migration uses.
    if (runtime) problems.length = 0;
    const containers = host ? await host.containers(signal) : [];
    const taken = await new ContainerHost(ssh, host?.runtime ?? "podman", target).takenPorts(containers, { signal });
    const check: TargetCheck = {
      target,
      hostKey: ssh.hostKeyFingerprint,
      architecture: facts.architecture,
      kernel: facts.kernel,
      installed,
      ...(runtime ? { runtime } : {}),
      containers,
      takenPorts: { tcp: [...taken.tcp].sort((a, b) => a - b), udp: [...taken.udp].sort((a, b) => a - b) },
      problems,
    };
    if (options.name !== undefined) {
      check.nameFree = !containers.some((c) => c.name === options.name);
      if (!check.nameFree) problems.push(`a container named ${options.name} is already there`);
    }
    return check;
  });
}

export interface DestroyResult {
  target: string;
  container: string;
  /** False when there was no such container (nothing to do). */
  removed: boolean;
  /** With `removeImage`: the container's image, and whether it was removed (not when another container uses it). */
  image?: string;
  imageRemoved?: boolean;
}

/**
 * Stops a container on the host with its own stop signal (a clean shutdown of the guest's init,
 * up to `timeoutSeconds`, default 30) and removes it; with `removeImage`, its image too unless
 * another container uses it. A container that is not there is not an error (`removed: false`).
 */
export async function destroyContainer(options: TargetOptions & { name: string; removeImage?: boolean; timeoutSeconds?: number; signal?: AbortSignal }): Promise<DestroyResult> {
  const signal = options.signal;
  return withTarget(options, async (ssh, target) => {
    const facts = await probeTarget(ssh, signal ? { signal } : {});
    const runtime = options.runtime ?? runtimeNames.find((r) => facts.installed[r] !== undefined);
    if (runtime === undefined || facts.installed[runtime] === undefined) throw new PackagerError("PACKAGER_NO_RUNTIME", `${runtime ?? "neither podman nor docker"} is not installed on ${target}; there is no container to destroy there`);
    const host = new ContainerHost(ssh, runtime, target);
    const found = (await host.containers(signal)).find((c) => c.name === options.name);
    if (!found) return { target, container: options.name, removed: false };
    await host.remove(found.name, { timeoutSeconds: options.timeoutSeconds ?? 30, ...(signal ? { signal } : {}) });
    const result: DestroyResult = { target, container: found.name, removed: true };
    if (options.removeImage && found.image) {
      result.image = found.image;
      result.imageRemoved = await host.removeImage(found.image, signal);
    }
    return result;
  });
}
