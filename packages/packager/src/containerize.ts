import { createHash } from "node:crypto";
import type { Writable } from "node:stream";
import { inspect, type GuestFS, type InspectableGuest, type InspectionReport } from "@leapp/inspect";
import type { OperationOptions } from "@leapp/storage";
import pkg from "../package.json" with { type: "json" };
import { planInit, type Adaptation } from "./adapt.js";
import type { Compression } from "./compression.js";
import { PackagerError } from "./errors.js";
import { defaultExclusions, exclusionMatcher, normalizeRulePath, type ExclusionRule } from "./exclusions.js";
import { normalizeReference, writeImageArchive, type ArchiveFormat, type ImageArchiveResult, type ImageLayer } from "./image-archive.js";
import { plannedTarSize, writeLayerTar, type LayerStats } from "./layer.js";
import { descriptorOutput, fileOutput, streamOutput, type ArchiveOutput } from "./output.js";
import { servicePorts, type ServicePort } from "./ports.js";
import type { TarEntry } from "./tar/header.js";
import { TarWriter } from "./tar/writer.js";
import { walkGuest, type WalkedEntry } from "./walk.js";

export interface ContainerizeOptions extends OperationOptions {
  /** docker-archive (default: what `podman load` and `docker load` read) or oci-archive (needs a file output). */
  format?: ArchiveFormat;
  /** `name[:tag]` the image loads as (default: the guest's hostname). */
  reference?: string;
  /**
   * Compression (default none). To a file: the layers are compressed. To a stream (which cannot
   * hold compressed layers, their size being unknown until written): the whole archive, which
   * `podman load` reads for zstd.
   */
  compression?: Compression;
  /** Guest paths left out besides the defaults (`defaultExclusions`); `*` matches within a component. */
  exclude?: string[];
  /** Guest paths brought back from the default exclusions. */
  include?: string[];
  /** Read extended attributes (default true). */
  xattrs?: boolean;
  /** An inspection already made of this guest (otherwise `inspect()` runs first). */
  report?: InspectionReport;
  /** Replace an existing output file (default: PACKAGER_TARGET_EXISTS). */
  overwrite?: boolean;
  /** Image creation time (default now). */
  created?: Date;
  /**
   * Walk the whole guest before writing, so progress events carry the exact total and the
   * layer's size is known up front (always done for stream outputs). Costs memory per file.
   */
  planFirst?: boolean;
  onWarning?: (message: string) => void;
}

/** How to run the image: what `podman run IMAGE` with no command does, and why. */
export interface RunSpec {
  reference: string;
  init: "systemd" | "sysv" | "upstart" | "none";
  command: string[];
  env: string[];
  stopSignal: string | undefined;
  /** Ports the image exposes (the services' configured ports, loopback-only ones left out). */
  exposedPorts: ServicePort[];
  /** Ports of enabled services that listen on the loopback only: reachable inside the container. */
  internalPorts: ServicePort[];
  labels: Record<string, string>;
  /** What stays out of the image: the rules in force (defaults, the user's, swap files). */
  excluded: ExclusionRule[];
  /** What leapp changed for the container, in the image's second layer. */
  adaptations: { path: string; action: Adaptation["action"]; reason: string }[];
  prunedServices: { name: string; reason: string }[];
  /** Options `podman run` needs for the guest's init (also in the `io.leapp.run.options` label). */
  runOptions: { option: string; reason: string }[];
}

export interface ContainerPlan {
  report: InspectionReport;
  runSpec: RunSpec;
  architecture: string;
  adaptations: Adaptation[];
}

export interface ContainerizeResult {
  runSpec: RunSpec;
  archive: ImageArchiveResult;
  rootfs: LayerStats;
  /** Exclusion rules that left something out of this guest. */
  excludedMatched: ExclusionRule[];
  warnings: string[];
}

const architectures: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", i386: "386", i486: "386", i586: "386", i686: "386", ppc64le: "ppc64le", s390x: "s390x", armv7l: "arm", riscv64: "riscv64" };

/** A name engines accept, from the guest's hostname: `Web01.example.com` → `web01`. */
export function defaultReference(report: InspectionReport): string {
  const host = (report.os.hostname ?? "").split(".")[0]!.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return `${host || "leapp-guest"}:latest`;
}

/** `CentOS release 6.10 (Final)`; Debian's product name is its bare version, so `debian 12.5`. */
function productName(report: InspectionReport): string {
  const p = report.os.productName;
  return p === undefined || /^[\d.]+$/.test(p) ? `${report.os.distro} ${p ?? `${report.os.majorVersion}.${report.os.minorVersion}`}` : p;
}

/** Swap files the guest's fstab names (swap partitions are not files, and /boot-like mounts are excluded anyway). */
async function swapFiles(guest: GuestFS): Promise<ExclusionRule[]> {
  let text = "";
  try {
    text = new TextDecoder().decode(await guest.readFile("/etc/fstab", { maxBytes: 1024 * 1024 }));
  } catch {
    return [];
  }
  const out: ExclusionRule[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 3 && !f[0]!.startsWith("#") && f[2] === "swap" && f[0]!.startsWith("/") && !f[0]!.startsWith("/dev/")) {
      out.push({ path: normalizeRulePath(f[0]!), what: "all", reason: "swap file (from /etc/fstab)" });
    }
  }
  return out;
}

/**
 * Decides what the container image of a guest is, without writing it: the command (the guest's
 * own init), its environment and stop signal, the ports its enabled services are configured
 * for, labels naming the source, what is excluded and what is changed for the container.
 */
export async function planContainer(guest: GuestFS | InspectableGuest, options: Pick<ContainerizeOptions, "report" | "reference" | "exclude" | "include"> = {}): Promise<ContainerPlan> {
  // The run spec needs the OS, init and services, not the package database: skip reading it.
  const report = options.report ?? (await inspect(guest, { applications: false }));
  const reference = normalizeReference(options.reference ?? defaultReference(report));
  const init = await planInit(guest, report);
  const ports = await servicePorts(guest, report.services);
  const exposed = ports.filter((p) => !p.loopbackOnly);
  const digest = createHash("sha256").update(JSON.stringify(report)).digest("hex");
  const labels: Record<string, string> = {
    "org.opencontainers.image.title": reference.replace(/:[^:/]+$/, ""),
    "org.opencontainers.image.description": `${productName(report)} (${report.os.osinfo}) from ${report.source.kind} ${report.source.location.join(" ")}, as a macrocontainer`,
    "io.leapp.source.kind": report.source.kind,
    "io.leapp.source.location": report.source.location.join(" "),
    "io.leapp.source.hostname": report.os.hostname ?? "",
    "io.leapp.source.os": report.os.osinfo,
    "io.leapp.init": init.init,
    "io.leapp.version": pkg.version,
    "io.leapp.inspection.digest": `sha256:${digest}`,
  };
  if (init.runOptions.length > 0) labels["io.leapp.run.options"] = init.runOptions.map((o) => o.option).join(" ");
  const user = (options.exclude ?? []).map((path) => ({ path: normalizeRulePath(path), what: "all" as const, reason: "excluded by the user" }));
  const excluded = [...user, ...defaultExclusions, ...(await swapFiles(guest))];
  return {
    report,
    architecture: architectures[report.os.arch ?? "x86_64"] ?? report.os.arch ?? "amd64",
    adaptations: init.adaptations,
    runSpec: {
      reference,
      init: init.init,
      command: init.command,
      env: init.env,
      stopSignal: init.stopSignal,
      exposedPorts: exposed,
      internalPorts: ports.filter((p) => p.loopbackOnly),
      labels,
      excluded,
      adaptations: init.adaptations.map(({ path, action, reason }) => ({ path, action, reason })),
      prunedServices: init.prunedServices,
      runOptions: init.runOptions,
    },
  };
}

/** The parent directories of a guest path, outermost first (`/a/b/c` → `/a`, `/a/b`). */
function parents(path: string): string[] {
  const parts = path.split("/").slice(1, -1);
  return parts.map((_, i) => "/" + parts.slice(0, i + 1).join("/"));
}

/**
 * The second layer: the adaptations as tar entries (whiteouts for removals, /dev/null links for
 * masked units), with their parent directories as the guest has them. Small: built in memory.
 */
async function adaptationLayer(guest: GuestFS, adaptations: Adaptation[], created: Date): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const writer = new TarWriter(async (c) => {
    chunks.push(c);
  });
  const now = BigInt(created.getTime()) * 1_000_000n;
  const done = new Set<string>();
  for (const a of [...adaptations].sort((x, y) => (x.path < y.path ? -1 : 1))) {
    for (const dir of parents(a.path)) {
      if (done.has(dir)) continue;
      done.add(dir);
      const st = await guest.lstat(dir).catch(() => undefined);
      await writer.add({ path: dir.slice(1), type: "directory", mode: st?.mode ?? 0o755, uid: st?.uid ?? 0, gid: st?.gid ?? 0, mtimeNs: st?.mtimeNs ?? now });
    }
    const slash = a.path.lastIndexOf("/");
    const dir = a.path.slice(1, slash);
    const name = a.path.slice(slash + 1);
    let entry: TarEntry;
    let content: Uint8Array | undefined;
    if (a.action === "remove") entry = { path: `${dir ? dir + "/" : ""}.wh.${name}`, type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: now, size: 0 };
    else if (a.action === "mask") entry = { path: a.path.slice(1), type: "symlink", linkTarget: "/dev/null", mode: 0o777, uid: 0, gid: 0, mtimeNs: now };
    else {
      const st = a.action === "replace" ? await guest.lstat(a.path).catch(() => undefined) : undefined;
      content = a.content ?? new Uint8Array(0);
      entry = { path: a.path.slice(1), type: "file", mode: st?.mode ?? 0o644, uid: st?.uid ?? 0, gid: st?.gid ?? 0, mtimeNs: now, size: content.length };
    }
    await writer.add(entry, content);
  }
  await writer.end();
  return Buffer.concat(chunks);
}

/**
 * A guest's whole userspace as a container image: its root filesystem (less what never goes in
 * a container) as the first layer, leapp's changes for running its init as the container's
 * command as the second, written as a docker-archive or oci-archive that `podman load` reads.
 * `output` is a file path (written under a temporary name, renamed when complete), any writable
 * stream (a pipe to `ssh host podman load`) or `{ fd }`, a descriptor the caller keeps open
 * (standard output: written on libuv's pool, see `descriptorOutput`). A stream or descriptor is
 * never patched: the guest is walked once first so the layer's size is known before it
 * streams, and the format must be an uncompressed docker-archive. An aborted run removes what it
 * wrote and rejects with the signal's reason.
 */
export async function containerize(guest: GuestFS | InspectableGuest, output: string | Writable | { fd: number }, options: ContainerizeOptions = {}): Promise<ContainerizeResult> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.onWarning?.(m);
  };
  const format = options.format ?? "docker-archive";
  const compression = options.compression ?? "none";
  const isStream = typeof output !== "string";
  if (isStream && format !== "docker-archive") {
    throw new PackagerError("PACKAGER_NOT_SEEKABLE", "streaming to a pipe or socket needs the docker-archive format (an OCI archive names blobs by digests known only at the end); write an oci-archive to a file");
  }
  const plan = await planContainer(guest, options);
  const created = options.created ?? new Date();
  const matched: ExclusionRule[] = [];
  const userRules = plan.runSpec.excluded.filter((r) => r.reason === "excluded by the user");
  const userMatcher = exclusionMatcher(userRules);
  const defaultMatcher = exclusionMatcher(plan.runSpec.excluded.filter((r) => r.reason !== "excluded by the user"), options.include ?? []);
  const walkOptions = {
    exclude: (path: string, isDir: boolean) => userMatcher(path, isDir) ?? defaultMatcher(path, isDir),
    onExcluded: (rule: ExclusionRule) => matched.push(rule),
    onWarning: warn,
    xattrs: options.xattrs !== false,
    ...(signal ? { signal } : {}),
  };

  // A stream cannot be patched: walk first, so the layer's exact size goes in its header.
  let planned: WalkedEntry[] | undefined;
  if (isStream || options.planFirst) {
    planned = [];
    for await (const e of walkGuest(guest, walkOptions)) {
      planned.push(e);
      if (planned.length % 1000 === 0) options.onProgress?.({ phase: "scan", done: planned.length, unit: "files", detail: e.guestPath });
    }
  }
  const plannedSize = planned ? plannedTarSize(planned) : undefined;
  let rootfs: LayerStats | undefined;
  const rootLayer: ImageLayer = {
    ...(plannedSize !== undefined ? { size: plannedSize } : {}),
    createdBy: `leapp containerize: the root filesystem of ${plan.report.source.kind} ${plan.report.source.location.join(" ")}`,
    comment: `${productName(plan.report)}, as it was (less what never goes in a container)`,
    write: async (sink) => {
      rootfs = await writeLayerTar(guest, planned ?? walkGuest(guest, walkOptions), sink, {
        ...(signal ? { signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(plannedSize !== undefined ? { total: plannedSize, keepPlannedSize: true } : {}),
        onWarning: warn,
      });
    },
  };
  const layers: ImageLayer[] = [rootLayer];
  if (plan.adaptations.length > 0) {
    const bytes = await adaptationLayer(guest, plan.adaptations, created);
    layers.push({
      size: bytes.length,
      createdBy: `leapp containerize: run the guest's ${plan.runSpec.init} as the container's init`,
      comment: plan.adaptations.map((a) => `${a.action} ${a.path}`).join("; "),
      write: (sink) => sink(bytes),
    });
  }

  const spec = plan.runSpec;
  const out: ArchiveOutput =
    typeof output === "string" ? await fileOutput(output, { overwrite: options.overwrite ?? false }) : "write" in output ? streamOutput(output, { compression }) : descriptorOutput(output.fd, { compression });
  let archive: ImageArchiveResult;
  try {
    archive = await writeImageArchive(
      out,
      {
        reference: spec.reference,
        architecture: plan.architecture,
        created,
        config: {
          Cmd: spec.command,
          Env: spec.env,
          WorkingDir: "/",
          ...(spec.stopSignal ? { StopSignal: spec.stopSignal } : {}),
          ...(spec.exposedPorts.length > 0 ? { ExposedPorts: Object.fromEntries(spec.exposedPorts.map((p) => [`${p.port}/${p.protocol}`, {}])) } : {}),
          Labels: spec.labels,
        },
        layers,
      },
      { format, compression: isStream ? "none" : compression },
    );
    signal?.throwIfAborted();
    await out.commit();
  } catch (err) {
    await out.abort();
    throw signal?.aborted ? signal.reason : err;
  }
  return { runSpec: spec, archive, rootfs: rootfs!, excludedMatched: [...new Set(matched)], warnings };
}
