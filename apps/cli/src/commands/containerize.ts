import { isatty } from "node:tty";
import { Option, type Command } from "commander";
import type { ContainerizeResult, ServicePort } from "@leapp/packager";
import { UsageError } from "../errors.js";
import { formatBytes } from "../output.js";
import type { Cli, RegisterCommand } from "../program.js";

interface ContainerizeFlags {
  output: string;
  format: "docker-archive" | "oci-archive";
  name?: string;
  exclude: string[];
  include: string[];
  compress: "none" | "gzip" | "zstd";
  overwrite?: boolean;
  identity?: string;
  knownHosts?: string;
  fingerprint?: string;
  sudo?: boolean;
  root?: string;
}

/** The JSON contract of `leapp containerize --json`. */
export interface ContainerizeJson {
  output: string;
  format: string;
  reference: string;
  bytes: number;
  configDigest: string;
  manifestDigest: string | null;
  layers: { digest: string; diffId: string; size: number; mediaType: string }[];
  runSpec: ContainerizeResult["runSpec"];
  rootfs: ContainerizeResult["rootfs"];
  excludedMatched: string[];
  warnings: string[];
}

const port = (p: ServicePort) => `${p.port}/${p.protocol} (${p.service}: ${p.evidence})`;

/** What a person wants to know: where the image is, how it runs, what was left out or changed. */
export function containerizeText(r: ContainerizeJson): string {
  const spec = r.runSpec;
  const publish = spec.exposedPorts.map((p) => `-p ${p.port >= 1024 ? p.port : 8000 + p.port}:${p.port}${p.protocol === "udp" ? "/udp" : ""}`).join(" ");
  const toStdout = r.output === "-";
  const lines = [
    `wrote ${toStdout ? "the archive to standard output" : r.output} (${r.format}, ${formatBytes(r.bytes)}, ${r.layers.length} layer${r.layers.length === 1 ? "" : "s"}, ${r.rootfs.files} files)`,
    `image:     ${r.reference}`,
    `command:   ${spec.command.join(" ")} (${spec.init}${spec.stopSignal ? `, stop signal ${spec.stopSignal}` : ""})`,
    `ports:     ${spec.exposedPorts.map(port).join(", ") || "none"}`,
  ];
  if (spec.internalPorts.length > 0) lines.push(`internal:  ${spec.internalPorts.map(port).join(", ")} — loopback only, not exposed`);
  if (spec.prunedServices.length > 0) {
    lines.push("left out of the boot:");
    for (const s of spec.prunedServices) lines.push(`  ${s.name.padEnd(20)} ${s.reason}`);
  }
  if (spec.adaptations.length > 0) {
    lines.push("changed for the container (second layer):");
    for (const a of spec.adaptations) lines.push(`  ${a.action.padEnd(8)} ${a.path.padEnd(36)} ${a.reason}`);
  }
  lines.push(`excluded:  ${r.excludedMatched.join(" ") || "nothing"} (the rules: leapp containerize --help)`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  const local = r.reference.includes("/") ? r.reference : `localhost/${r.reference}`;
  for (const o of spec.runOptions) lines.push(`run with:  ${o.option} — ${o.reason}`);
  const options = [...spec.runOptions.map((o) => o.option), publish].filter(Boolean).join(" ");
  const run = `podman run -d ${options ? options + " " : ""}${local}`;
  lines.push("", toStdout ? `run it:    ${run} (once the archive is loaded: leapp containerize … -o - | podman load)` : `run it:    podman load -i ${r.output} && ${run}`);
  return lines.join("\n");
}

const collect = (value: string, previous: string[]) => [...previous, value];

export const registerContainerize: RegisterCommand = (program: Command, cli: Cli) => {
  program
    .command("containerize")
    .description("a guest's whole userspace as a container image (docker-archive or oci-archive) that runs the guest's own init")
    .argument("<source...>", "disk image(s) in disk order, a root directory, or ssh://user@host[:port]")
    .requiredOption("-o, --output <file>", "the archive to write (written under a temporary name, then renamed); - for standard output (a pipe into podman load or ssh), the report then on standard error")
    .addOption(new Option("--format <format>", "archive format").choices(["docker-archive", "oci-archive"]).default("docker-archive"))
    .option("--name <name[:tag]>", "the image's name (default: the guest's hostname)")
    .option("--exclude <path>", "leave this guest path out (repeatable; * matches within a component)", collect, [])
    .option("--include <path>", "bring back a path the defaults leave out, e.g. /boot (repeatable)", collect, [])
    .addOption(new Option("--compress <kind>", "layer compression").choices(["none", "gzip", "zstd"]).default("none"))
    .option("--overwrite", "replace the output if it exists")
    .option("--identity <key>", "private key for ssh:// sources")
    .option("--known-hosts <file>", "known_hosts file the host key must be in (ssh:// sources)")
    .option("--fingerprint <sha256>", "the host key's pinned fingerprint, SHA256:… (ssh:// sources)")
    .option("--sudo", "read through sudo -n on the live host")
    .option("--root <dir>", "read the tree under this directory of the live host instead of /")
    .addHelpText(
      "after",
      "\nNever in the image unless --include brings it back: the contents of /proc, /sys, /dev, /tmp, /boot and the\nkernel modules, files under /run, /var/run and /var/lock, swap files, and the host's network configuration.\nThe run spec (--json: runSpec.excluded) lists every rule with its reason.",
    )
    .action(async (sources: string[], flags: ContainerizeFlags, cmd: Command) => {
      // `-o -`: the archive is standard output's (as a descriptor: never through process.stdout,
      // which would make a pipe non-blocking); everything else goes to standard error.
      const toStdout = flags.output === "-";
      if (toStdout) {
        if (isatty(1)) throw new UsageError("-o - writes the archive to standard output, which is a terminal: pipe it (-o - | podman load) or name a file");
        cli.takeStdout();
      }
      const out = cli.output(cmd);
      const isSsh = sources.some((s) => s.startsWith("ssh://"));
      if (!isSsh && (flags.identity || flags.knownHosts || flags.fingerprint || flags.sudo || flags.root)) {
        throw new UsageError("--identity, --known-hosts, --fingerprint, --sudo and --root apply to ssh:// sources only");
      }
      const { openGuest } = await import("@leapp/inspect");
      const { containerize } = await import("@leapp/packager");
      const guest = await openGuest(sources, {
        ...(flags.identity !== undefined ? { identity: flags.identity } : {}),
        ...(flags.knownHosts !== undefined ? { knownHosts: flags.knownHosts } : {}),
        ...(flags.fingerprint !== undefined ? { fingerprint: flags.fingerprint } : {}),
        ...(flags.sudo ? { sudo: true } : {}),
        ...(flags.root !== undefined ? { root: flags.root } : {}),
      });
      const progress = out.progress("containerize");
      // Ctrl-C or SIGTERM: the partial archive is removed, and leapp exits 130 or 143 saying so.
      cli.interruptNote = toStdout ? "the archive on standard output is incomplete" : `removed the unfinished ${flags.output}`;
      let result: ContainerizeResult;
      try {
        result = await containerize(guest, toStdout ? { fd: 1 } : flags.output, {
          format: flags.format,
          compression: flags.compress,
          ...(flags.name !== undefined ? { reference: flags.name } : {}),
          exclude: flags.exclude,
          include: flags.include,
          overwrite: flags.overwrite ?? false,
          // A progress display wants the total: walk the guest first when one is shown.
          planFirst: out.options.progress === "json" || out.options.progress === "tty" || (out.options.progress === "auto" && Boolean(cli.streams.stderr.isTTY)),
          signal: cli.signal,
          // The bar shows the bytes streamed; the walk before it (phase "scan") counts files.
          onProgress: (e) => {
            if (e.phase === "stream") progress.update(e.done, e.total ?? e.done);
          },
        });
        progress.finish();
      } catch (err) {
        progress.fail(err);
        throw err;
      } finally {
        await guest.close();
      }
      const json: ContainerizeJson = {
        output: flags.output,
        format: result.archive.format,
        reference: result.archive.reference,
        bytes: result.archive.bytes,
        configDigest: result.archive.configDigest,
        manifestDigest: result.archive.manifestDigest ?? null,
        layers: result.archive.layers,
        runSpec: result.runSpec,
        rootfs: result.rootfs,
        excludedMatched: result.excludedMatched.map((r) => r.path),
        warnings: result.warnings,
      };
      out.result(json, containerizeText);
    });
};
