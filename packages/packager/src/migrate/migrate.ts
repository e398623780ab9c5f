// A legacy machine's userspace moved onto a container host over SSH: the image streamed straight
// into the host's runtime (`podman load` reading the SSH channel), then run with its own init and
// its services' ports published. The CLI's `leapp migrate-machine` and the migrator's UI both call
// `migrateMachine`; `planMigration` is the same minus every change (`--print-port-map`).
import { PassThrough } from "node:stream";
import { inspect, openGuest, type InspectableGuest, type OpenGuestOptions } from "@leapp/inspect";
import type { SshConnection } from "@leapp/inspect/ssh";
import type { OperationOptions, ProgressEvent } from "@leapp/storage";
import { containerize, defaultReference, planContainer, type ContainerPlan, type RunSpec } from "../containerize.js";
import { PackagerError } from "../errors.js";
import { normalizeReference } from "../image-archive.js";
import { architectureRuns, connectTarget, ContainerHost, probeTarget, runtimeNames, targetLabel, type HostContainer, type RuntimeInfo, type RuntimeName, type TargetFacts, type TargetOptions } from "./container-host.js";
import { planPortMap, type PortMapping, type PortRequest, type SourcePort } from "./port-map.js";

export interface MigrateOptions extends TargetOptions, OperationOptions {
  /** The container's name (default: the machine's short hostname). */
  name?: string;
  /** The image's `name[:tag]` (default: the container's name, lower-cased, `:latest`). */
  reference?: string;
  /** `--tcp-port`: source ports mapped to the target ports the user chose (or just published). */
  tcpPorts?: PortRequest[];
  /** `--no-tcp-port`: source TCP ports left unpublished. */
  noTcpPorts?: number[];
  /**
   * Replace a container of the same name (stopped with its own stop signal, then removed) once
   * the new image is loaded. Once the new container runs, the old one's image is removed too when
   * nothing names or uses it any more (its name went to the new image); an image still named or
   * used stays.
   */
  forceCreate?: boolean;
  /** The stream to the host compressed as a whole (`podman load` reads zstd). Default none. */
  compression?: "none" | "zstd";
  /** Guest paths left out of the image, and default exclusions brought back (as `containerize`). */
  exclude?: string[];
  include?: string[];
  /** For `ssh://` sources: how to reach the live machine (its own key check). */
  source?: OpenGuestOptions;
  /** How long a started container must stay running before it counts as started. Default 1500 ms. */
  settleMs?: number;
  onWarning?: (message: string) => void;
}

/** What a migration will do (`planMigration`) — and, once done, did. */
export interface MigrationPlan {
  /** The container's name on the target. */
  container: string;
  /** The image reference as the target's runtime names it after loading. */
  image: string;
  /** `ssh://user@host:port` of the container host. */
  target: string;
  runtime: RuntimeInfo;
  portMap: PortMapping[];
  /** How the image runs: its command (the guest's init), stop signal, exposed ports, changes. */
  runSpec: RunSpec;
  /** A container of that name is there and will be (was) replaced (`forceCreate`). */
  replaces: boolean;
}

/** Where a migration's time went, in milliseconds. `stream` and the load overlap: `load` is what the runtime took after the last byte. */
export interface MigrationTimings {
  connect: number;
  check: number;
  inspect: number;
  scan: number;
  stream: number;
  load: number;
  replace: number;
  start: number;
  total: number;
}

export interface MigrationResult extends MigrationPlan {
  containerId: string;
  /** The ID of the replaced container's image, removed because nothing named or used it any more. */
  removedImage?: string;
  /** Bytes of the image archive streamed to the host (before compression). */
  bytes: number;
  files: number;
  timings: MigrationTimings;
  warnings: string[];
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/**
 * How long a live machine's directory listing answers later lookups. The image is one pass over
 * the tree: each directory listed once. With the SSH source's default (2 s), a host slow to
 * answer (a loaded VM) has every ancestor listed again for each entry of a large directory.
 */
const LIVE_LISTINGS_MS = 3_600_000;

/** The runtime to use: the one asked for, else podman, else docker. */
function chooseRuntime(facts: TargetFacts, asked: RuntimeName | undefined, target: string): RuntimeName {
  if (asked !== undefined) {
    if (facts.installed[asked] === undefined) throw new PackagerError("PACKAGER_NO_RUNTIME", `${asked} is not installed on ${target} (not on the PATH of its SSH sessions); install it there${asked === "docker" && facts.installed.podman ? ", or use --runtime podman" : asked === "podman" && facts.installed.docker ? ", or use --runtime docker" : ""}`);
    return asked;
  }
  const found = runtimeNames.find((r) => facts.installed[r] !== undefined);
  if (found === undefined) throw new PackagerError("PACKAGER_NO_RUNTIME", `neither podman nor docker is installed on ${target} (not on the PATH of its SSH sessions); install podman there`);
  return found;
}

function checkName(name: string): string {
  if (!NAME.test(name)) throw new PackagerError("PACKAGER_BAD_INPUT", `${JSON.stringify(name)} cannot name a container: use letters, digits, '_', '.' and '-', starting with a letter or digit`);
  return name;
}

/** The ports the machine serves: its services' configured ports, and for a live machine what it listens on (not the loopback). */
export function sourcePorts(plan: Pick<ContainerPlan, "report" | "runSpec">): SourcePort[] {
  const out: SourcePort[] = plan.runSpec.exposedPorts.map((p) => ({ port: p.port, protocol: p.protocol, service: p.service }));
  for (const l of plan.report.live?.listeningPorts ?? []) {
    if (/^127\./.test(l.address) || l.address === "::1" || /^::ffff:127\./.test(l.address)) continue;
    if (!out.some((p) => p.protocol === "tcp" && p.port === l.port)) out.push({ port: l.port, protocol: "tcp", service: "listening on the live machine" });
  }
  return out;
}

/** The image's name from the container's: references are lower case. */
function imageReference(name: string, asked: string | undefined): string {
  return normalizeReference(asked ?? `${name.toLowerCase()}:latest`);
}

function emit(options: OperationOptions, phase: string, detail?: string): void {
  options.onProgress?.({ phase, done: 0, unit: "steps", ...(detail !== undefined ? { detail } : {}) });
}

interface Prepared {
  ssh: SshConnection;
  ownsSsh: boolean;
  host: ContainerHost;
  guest: InspectableGuest;
  ownsGuest: boolean;
  plan: ContainerPlan;
  migration: MigrationPlan;
  existing: HostContainer | undefined;
  connectMs: number;
  checkMs: number;
  inspectMs: number;
}

/**
 * Everything before a change: the target connected (host key checked before anything is sent),
 * its runtime working, the architecture right, the name free (or `forceCreate`), the source
 * inspected and the port map decided against the ports the target has in use.
 */
async function prepare(source: InspectableGuest | readonly string[], options: MigrateOptions): Promise<Prepared> {
  const signal = options.signal;
  signal?.throwIfAborted();
  let t = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return Math.round(ms);
  };
  emit(options, "connect", typeof options.target === "string" ? options.target : targetLabel(options.target));
  // The source first: a path that is not there is found before anything goes over the network.
  const ownsGuest = !isGuest(source);
  const guest = isGuest(source) ? source : await openGuest(source, { statCacheMs: LIVE_LISTINGS_MS, ...options.source, ...(signal ? { signal } : {}) });
  let ssh: SshConnection;
  let owned: boolean;
  try {
    ({ ssh, owned } = await connectTarget(options));
  } catch (err) {
    if (ownsGuest) await guest.close().catch(() => {});
    throw err;
  }
  const connectMs = lap();
  try {
    const target = targetLabel(ssh);
    emit(options, "check", target);
    const facts = await probeTarget(ssh, signal ? { signal } : {});
    const host = new ContainerHost(ssh, chooseRuntime(facts, options.runtime, target), target);
    const runtime = await host.info(signal);
    const containers = await host.containers(signal);
    const checkMs = lap();

    emit(options, "inspect");
    // The run spec needs the OS, init and services, not the package database.
    const report = await inspect(guest, { applications: false, ...(signal ? { signal } : {}) });
    const arch = report.os.arch;
    if (!architectureRuns(facts.architecture, arch)) throw new PackagerError("PACKAGER_TARGET_UNSUITABLE", `the machine is ${arch} and ${target} is ${facts.architecture}: its programs cannot run there; choose a ${arch} container host`);
    const name = checkName(options.name ?? defaultReference(report).replace(/:[^:]*$/, ""));
    const existing = containers.find((c) => c.name === name);
    if (existing && !options.forceCreate) throw new PackagerError("PACKAGER_NAME_TAKEN", `a container named ${name} is already on ${target} (${existing.state || "created"}, image ${existing.image}); choose another --name, or replace it with --force-create`);
    const reference = imageReference(name, options.reference);
    const plan = await planContainer(guest, { report, reference, ...(options.exclude ? { exclude: options.exclude } : {}), ...(options.include ? { include: options.include } : {}) });
    const inspectMs = lap();
    // The replaced container's ports are free for the new one.
    const taken = await host.takenPorts(containers.filter((c) => c !== existing), { freed: existing?.ports ?? [], signal });
    const portMap = planPortMap(sourcePorts(plan), taken, {
      ...(options.tcpPorts ? { requested: options.tcpPorts } : {}),
      ...(options.noTcpPorts ? { excluded: options.noTcpPorts } : {}),
      lowestPort: runtime.rootless ? Math.max(1, facts.unprivilegedPortStart) : 1,
    });
    const migration: MigrationPlan = { container: name, image: reference, target, runtime, portMap, runSpec: plan.runSpec, replaces: existing !== undefined };
    return { ssh, ownsSsh: owned, host, guest, ownsGuest, plan, migration, existing, connectMs, checkMs: checkMs + lap(), inspectMs };
  } catch (err) {
    if (ownsGuest) await guest.close().catch(() => {});
    if (owned) await ssh.close();
    throw err;
  }
}

function isGuest(source: InspectableGuest | readonly string[]): source is InspectableGuest {
  return !Array.isArray(source);
}

async function release(p: Prepared): Promise<void> {
  if (p.ownsGuest) await p.guest.close().catch(() => {});
  if (p.ownsSsh) await p.ssh.close();
}

/**
 * What `migrateMachine` would do, changing nothing anywhere: the target checked, the source
 * inspected, the container's name, image and port map decided (`leapp migrate-machine --print-port-map`).
 */
export async function planMigration(source: InspectableGuest | readonly string[], options: MigrateOptions): Promise<MigrationPlan> {
  const p = await prepare(source, options);
  await release(p);
  return p.migration;
}

/**
 * Moves a machine's userspace — its disk images, its root tree, or the live machine over SSH —
 * into a container on a container host reached over SSH: checks the host (runtime working,
 * architecture, the name free unless `forceCreate`), streams the image into the runtime's
 * `load` over the same connection (no archive on either side), replaces the old container if
 * asked (and, once the new one runs, its image when nothing names or uses it any more), then
 * creates and starts the container with the guest's own init and its ports
 * published as `portMap` says. An abort or a failure removes what it created on the host (the
 * container, and the image when it was not there before) and rejects with the signal's reason
 * or the error.
 */
export async function migrateMachine(source: InspectableGuest | readonly string[], options: MigrateOptions): Promise<MigrationResult> {
  const signal = options.signal;
  const started = performance.now();
  const p = await prepare(source, options);
  const { host, migration } = p;
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.onWarning?.(m);
  };
  let imageIsNew = false;
  let image = migration.image;
  let createdContainer = false;
  try {
    imageIsNew = !(await host.imageExists(migration.image, signal));
    const streamed = await streamImage(p, options, warn);
    image = streamed.loaded ?? migration.image;

    let t = performance.now();
    let replacedImage: string | undefined;
    if (p.existing) {
      emit(options, "replace", p.existing.name);
      replacedImage = await host.containerImageId(p.existing.name, signal);
      await host.remove(p.existing.name, signal ? { signal } : {});
    }
    let replaceMs = performance.now() - t;

    t = performance.now();
    emit(options, "start", migration.container);
    const publish = migration.portMap.flatMap((m) => ["-p", `${m.target}:${m.source}${m.protocol === "udp" ? "/udp" : ""}`]);
    createdContainer = true;
    const containerId = await host.start(migration.container, image, [...publish, ...migration.runSpec.runOptions.map((o) => o.option)], signal);
    await new Promise((resolve) => setTimeout(resolve, options.settleMs ?? 1500));
    signal?.throwIfAborted();
    const state = await host.state(migration.container, signal);
    if (state !== "running") {
      const log = await host.logTail(migration.container).catch(() => "");
      throw new PackagerError("PACKAGER_TARGET_FAILED", `the container ${migration.container} on ${migration.target} is ${state ?? "gone"} right after starting${log ? `; its last output: ${log}` : ""}; see '${host.runtime} logs' of a container started by hand from ${image}`);
    }
    const startMs = performance.now() - t;

    // The old image goes only now: had the new container failed, it would still be there to go
    // back to. Tidying only: a failure here warns, it never undoes the migration.
    t = performance.now();
    let removedImage: string | undefined;
    if (replacedImage !== undefined) {
      try {
        if (replacedImage !== (await host.imageId(image, signal)) && (await host.removeUnnamedImage(replacedImage, signal))) removedImage = replacedImage;
      } catch (err) {
        warn(`the replaced container's image ${replacedImage} was not removed (${(err as Error).message}); remove it with '${host.runtime} rmi' once nothing uses it`);
      }
    }
    replaceMs += performance.now() - t;
    const timings: MigrationTimings = {
      connect: p.connectMs,
      check: p.checkMs,
      inspect: p.inspectMs,
      scan: Math.round(streamed.scanMs),
      stream: Math.round(streamed.streamMs),
      load: Math.round(streamed.loadMs),
      replace: Math.round(replaceMs),
      start: Math.round(startMs),
      total: Math.round(performance.now() - started),
    };
    return { ...migration, image, containerId, ...(removedImage !== undefined ? { removedImage } : {}), bytes: streamed.bytes, files: streamed.files, timings, warnings };
  } catch (err) {
    // Undo on the host what this migration made (never what was there before it).
    if (createdContainer) await host.remove(migration.container, { timeoutSeconds: 5 }).catch(() => {});
    if (imageIsNew) await host.removeImage(image).catch(() => false);
    throw signal?.aborted ? signal.reason : err;
  } finally {
    await release(p);
  }
}

/**
 * The image written into the runtime's `load` as it is made: `containerize` writes a pipe the
 * SSH channel reads with back-pressure. Whichever side fails first stops the other: a load that
 * ends early aborts the writing, a writing that fails kills the load (which then loads nothing).
 */
async function streamImage(p: Prepared, options: MigrateOptions, warn: (m: string) => void): Promise<{ loaded: string | undefined; bytes: number; files: number; scanMs: number; streamMs: number; loadMs: number }> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const pipe = new PassThrough({ highWaterMark: 1 << 20 });
  const began = performance.now();
  let streamBegan: number | undefined;
  const loading = p.host.load(pipe, signal).catch((err: unknown) => {
    stop.abort(err);
    pipe.destroy();
    throw err;
  });
  let result;
  // The guest is walked before a byte streams (a stream's layer size goes in its header first).
  emit(options, "scan");
  try {
    result = await containerize(p.guest, pipe, {
      report: p.plan.report,
      reference: p.migration.image,
      compression: options.compression ?? "none",
      ...(options.exclude ? { exclude: options.exclude } : {}),
      ...(options.include ? { include: options.include } : {}),
      signal,
      onWarning: warn,
      onProgress: (e: ProgressEvent) => {
        if (e.phase === "stream") streamBegan ??= performance.now();
        options.onProgress?.(e);
      },
    });
  } catch (err) {
    stop.abort(err);
    pipe.destroy();
    await loading.catch(() => {});
    throw err;
  }
  const streamEnded = performance.now();
  // The archive's last bytes (config, manifest, the small layer) after the root filesystem's.
  options.onProgress?.({ phase: "stream", done: result.archive.bytes, total: result.archive.bytes, unit: "bytes" });
  emit(options, "load", p.migration.image);
  const loaded = await loading;
  const loadEnded = performance.now();
  streamBegan ??= streamEnded;
  return { loaded, bytes: result.archive.bytes, files: result.rootfs.files, scanMs: streamBegan - began, streamMs: streamEnded - streamBegan, loadMs: loadEnded - streamEnded };
}
