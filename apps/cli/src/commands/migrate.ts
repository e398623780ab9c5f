import { Option, type Command } from "commander";
import type { SshConnectOptions } from "@leapp/inspect/ssh";
import type { MigrationPlan, MigrationResult, PortMapping, PortRequest, RuntimeName } from "@leapp/packager";
import { UsageError } from "../errors.js";
import { formatBytes } from "../output.js";
import type { Cli, RegisterCommand } from "../program.js";

/** The flags that reach a container host over SSH (`-t TARGET` of migrate-machine, TARGET of the others). */
export interface TargetFlags {
  identity?: string;
  knownHosts?: string;
  fingerprint?: string;
  runtime?: RuntimeName;
}

/** Adds --identity, --known-hosts, --fingerprint and --runtime for the container host. */
export function targetOptions(command: Command, whose = "the container host"): Command {
  return command
    .option("--identity <key>", `private key for ${whose}`)
    .option("--known-hosts <file>", `known_hosts file ${whose}'s key must be in`)
    .option("--fingerprint <sha256>", `${whose}'s pinned host key fingerprint, SHA256:…`)
    .addOption(new Option("--runtime <name>", "container runtime on the host (default: podman if it has it, else docker)").choices(["podman", "docker"]));
}

/** What connectSsh needs for the container host (it refuses a URL, key or key check it cannot use, as a typed error). */
export function targetSsh(flags: TargetFlags): SshConnectOptions {
  return {
    ...(flags.identity !== undefined ? { identity: flags.identity } : {}),
    ...(flags.knownHosts !== undefined ? { knownHosts: flags.knownHosts } : {}),
    ...(flags.fingerprint !== undefined ? { fingerprint: flags.fingerprint } : {}),
  };
}

interface MigrateFlags extends TargetFlags {
  target: string;
  sourceIdentity?: string;
  sourceKnownHosts?: string;
  sourceFingerprint?: string;
  sudo?: boolean;
  root?: string;
  name?: string;
  tcpPort: string[];
  noTcpPort: string[];
  printPortMap?: boolean;
  forceCreate?: boolean;
  compress: "none" | "zstd";
  exclude: string[];
  include: string[];
}

/** The JSON contract of `leapp migrate-machine --json` (and, without the run's facts, of `--print-port-map`). */
export interface MigrateJson {
  container: string;
  image: string;
  target: string;
  portMap: PortMapping[];
  runtime: MigrationPlan["runtime"];
  replaces: boolean;
  containerId?: string;
  /** The replaced container's image ID, removed: nothing named or used it any more. */
  removedImage?: string;
  bytes?: number;
  files?: number;
  timings?: MigrationResult["timings"];
  warnings?: string[];
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--no-tcp-port PORT` is the prototype's option of its own, not commander's negation of `--tcp-port`. */
function notNegated(option: Option): Option {
  option.negate = false;
  return option;
}

function portLine(m: PortMapping): string {
  const why = m.why === "default" ? " — moved by default: the host's own sshd keeps 22" : m.why === "next-free" ? ` — ${m.wanted} is in use there` : m.why === "requested" ? " — as asked" : "";
  return `  ${String(m.target).padStart(5)} → ${`${m.source}/${m.protocol}`.padEnd(9)} ${m.service ?? ""}${why}`;
}

/** The port map as the prototype printed it: target port, source port, what serves it. */
export function portMapText(j: MigrateJson): string {
  const lines = [`${j.container} on ${j.target} (${j.runtime.name} ${j.runtime.version})${j.replaces ? `, replacing the container named ${j.container}` : ""}`, "  target   source    service"];
  lines.push(...j.portMap.map(portLine));
  if (j.portMap.length === 0) lines.push("  (no ports to publish)");
  return lines.join("\n");
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export function migrateText(j: MigrateJson): string {
  const t = j.timings!;
  const lines = [
    `migrated to ${j.target}: container ${j.container} (${j.runtime.name} ${j.runtime.version}), image ${j.image}`,
    "ports:",
    ...j.portMap.map(portLine),
    `streamed ${formatBytes(j.bytes ?? 0)} (${j.files ?? 0} files) in ${seconds(t.stream)} s; all in ${seconds(t.total)} s (connect ${seconds(t.connect)}, check ${seconds(t.check)}, inspect ${seconds(t.inspect)}, scan ${seconds(t.scan)}, stream ${seconds(t.stream)}, load ${seconds(t.load)}, start ${seconds(t.start)})`,
  ];
  if (j.removedImage !== undefined) lines.push(`removed the replaced container's image ${j.removedImage.replace(/^sha256:/, "").slice(0, 12)}: nothing named or used it any more`);
  for (const w of j.warnings ?? []) lines.push(`warning: ${w}`);
  lines.push("", `remove it: leapp destroy-container ${j.target} ${j.container}`);
  return lines.join("\n");
}

export const registerMigrate: RegisterCommand = (program: Command, cli: Cli) => {
  const command = program
    .command("migrate-machine")
    .description("move a machine's userspace — disk images, a root directory or the live machine over SSH — into a container on a container host over SSH, its services' ports published")
    .argument("<source...>", "disk image(s) in disk order, a root directory, or ssh://user@host[:port] (the live machine)")
    .requiredOption("-t, --target <ssh-url>", "the container host, ssh://user@host[:port]");
  targetOptions(command)
    .option("--source-identity <key>", "private key for an ssh:// source (default: --identity)")
    .option("--source-known-hosts <file>", "known_hosts file for an ssh:// source (default: --known-hosts)")
    .option("--source-fingerprint <sha256>", "an ssh:// source's pinned host key fingerprint")
    .option("--sudo", "read the live source through sudo -n")
    .option("--root <dir>", "read the live source's tree under this directory instead of /")
    .option("--name <name>", "the container's name (default: the machine's short hostname)")
    .option("--tcp-port <target:source>", "publish source port SOURCE on target port TARGET, or SOURCE alone on its own number (repeatable)", collect, [])
    .addOption(notNegated(new Option("--no-tcp-port <source>", "do not publish this source TCP port (repeatable)").argParser(collect).default([])))
    .option("--print-port-map", "print the port map and change nothing")
    .option("--force-create", "replace a container of the same name (after the new image is loaded); its image goes too once nothing names or uses it")
    .addOption(new Option("--compress <kind>", "compress the stream to the host (podman load reads zstd)").choices(["none", "zstd"]).default("none"))
    .option("--exclude <path>", "leave this guest path out of the image (repeatable)", collect, [])
    .option("--include <path>", "bring back a path the defaults leave out (repeatable)", collect, [])
    .addHelpText(
      "after",
      "\nEach port the machine serves is published on the same port of the host when it is free, else on the next free\none; 22 goes to 9022 by default (the host's own sshd keeps 22). The runtime's flags (OCI runtime, ulimits) are\nthe host's own: its containers.conf or daemon.json decides, leapp adds none.",
    )
    .action(async (sources: string[], flags: MigrateFlags, cmd: Command) => {
      const out = cli.output(cmd);
      const ssh = targetSsh(flags);
      const live = sources.some((s) => s.startsWith("ssh://"));
      if (!live && (flags.sourceIdentity || flags.sourceKnownHosts || flags.sourceFingerprint || flags.sudo || flags.root)) {
        throw new UsageError("--source-identity, --source-known-hosts, --source-fingerprint, --sudo and --root apply to ssh:// sources only");
      }
      // Parsed here, so a mistyped port is a usage error before anything connects.
      const { parsePortRequest, planMigration, migrateMachine } = await import("@leapp/packager");
      let tcpPorts: PortRequest[];
      let noTcpPorts: number[];
      try {
        tcpPorts = flags.tcpPort.map(parsePortRequest);
        noTcpPorts = flags.noTcpPort.map((p) => {
          const r = parsePortRequest(p);
          if (r.target !== undefined) throw new Error(`--no-tcp-port takes a source port, not ${p}`);
          return r.source;
        });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const sourceKnownHosts = flags.sourceKnownHosts ?? (flags.sourceFingerprint === undefined ? flags.knownHosts : undefined);
      const sourceIdentity = flags.sourceIdentity ?? flags.identity;
      const source = live
        ? {
            ...(sourceIdentity !== undefined ? { identity: sourceIdentity } : {}),
            ...(sourceKnownHosts !== undefined ? { knownHosts: sourceKnownHosts } : {}),
            ...(flags.sourceFingerprint !== undefined ? { fingerprint: flags.sourceFingerprint } : {}),
            ...(flags.sudo ? { sudo: true } : {}),
            ...(flags.root !== undefined ? { root: flags.root } : {}),
          }
        : undefined;
      const options = {
        target: flags.target,
        ssh,
        ...(flags.runtime ? { runtime: flags.runtime } : {}),
        ...(flags.name !== undefined ? { name: flags.name } : {}),
        tcpPorts,
        noTcpPorts,
        forceCreate: flags.forceCreate ?? false,
        compression: flags.compress,
        exclude: flags.exclude,
        include: flags.include,
        ...(source ? { source } : {}),
      };
      // Ctrl-C or SIGTERM: what was made on the host is removed, and leapp exits 130 or 143.
      cli.interruptNote = flags.printPortMap ? "nothing was changed" : "removed what was made on the container host";
      if (flags.printPortMap) {
        const plan = await planMigration(sources, { ...options, signal: cli.signal });
        const json: MigrateJson = { container: plan.container, image: plan.image, target: plan.target, portMap: plan.portMap, runtime: plan.runtime, replaces: plan.replaces };
        out.result(json, portMapText);
        return;
      }
      const bar = out.progress("migrate-machine");
      let finished = false;
      const progress = {
        update: (done: number, total: number) => bar.update(done, total),
        finish: () => {
          if (!finished) bar.finish();
          finished = true;
        },
        // Ended as `convert` and `containerize` end theirs: an error event, not an end.
        fail: (err: unknown) => {
          if (!finished) bar.fail(err);
          finished = true;
        },
      };
      // Beside the bar, a line when the long steps after the stream begin.
      const showPhases = !out.options.json && (out.options.progress === "tty" || (out.options.progress === "auto" && Boolean(cli.streams.stderr.isTTY)));
      const said = new Set<string>();
      let result: MigrationResult;
      try {
        result = await migrateMachine(sources, {
          ...options,
          signal: cli.signal,
          onWarning: (m) => out.note(`warning: ${m}`),
          onProgress: (e) => {
            if (e.phase === "stream") progress.update(e.done, e.total ?? e.done);
            else if ((e.phase === "load" || e.phase === "start" || e.phase === "replace") && !said.has(e.phase) && showPhases) {
              said.add(e.phase);
              progress.finish();
              out.note(e.phase === "load" ? `loading the image on ${flags.target}…` : e.phase === "replace" ? `replacing the container ${e.detail ?? ""}…` : `starting ${e.detail ?? "the container"}…`);
            }
          },
        });
        progress.finish();
      } catch (err) {
        progress.fail(err);
        throw err;
      }
      const json: MigrateJson = {
        container: result.container,
        image: result.image,
        target: result.target,
        portMap: result.portMap,
        runtime: result.runtime,
        replaces: result.replaces,
        containerId: result.containerId,
        ...(result.removedImage !== undefined ? { removedImage: result.removedImage } : {}),
        bytes: result.bytes,
        files: result.files,
        timings: result.timings,
        warnings: result.warnings,
      };
      out.result(json, migrateText);
    });
};
