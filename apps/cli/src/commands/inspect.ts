import type { Command } from "commander";
import type { InspectionReport } from "@leapp/inspect";
import { UsageError } from "../errors.js";
import type { Cli, RegisterCommand } from "../program.js";

interface InspectFlags {
  xml?: boolean;
  identity?: string;
  knownHosts?: string;
  fingerprint?: string;
  sudo?: boolean;
  root?: string;
  backingDir?: string[];
}

/** Every operating system found, one block each (as virt-inspector lists every root). */
export function inspectTexts(reports: InspectionReport[]): string {
  if (reports.length === 1) return inspectText(reports[0] as InspectionReport);
  return reports.map((r, i) => `== operating system ${i + 1} of ${reports.length} ==\n${inspectText(r)}`).join("\n\n");
}

/** The human rendering of one OS: virt-inspector's facts first, then what a migration needs. */
export function inspectText(r: InspectionReport): string {
  const os = r.os;
  const lines = [
    `source:        ${r.source.kind} ${r.source.location.join(" ")}`,
    `root:          ${r.root}`,
    `os:            ${os.type} ${os.distro} ${os.majorVersion}.${os.minorVersion} (${os.productName ?? "unknown product"})`,
    `osinfo:        ${os.osinfo}`,
    `arch:          ${os.arch ?? "unknown"}`,
    `hostname:      ${os.hostname ?? "unknown"}`,
    `packages:      ${os.packageFormat ?? "unknown"} / ${os.packageManagement ?? "unknown"}, ${r.applications.length} installed`,
    "mountpoints:",
    ...r.mountpoints.map((m) => `  ${m.mountpoint.padEnd(12)} ${m.device}`),
    "filesystems:",
    ...r.filesystems.map((f) => `  ${f.device.padEnd(20)} ${(f.type ?? "").padEnd(6)} ${f.uuid ?? ""}${f.label ? ` label=${f.label}` : ""}`),
    "kernels:",
    ...r.kernels.map((k) => `  ${k.version}${k.xen ? " (xen)" : ""}${k.version === r.boot?.defaultKernel ? " [default]" : ""}`),
    `boot loader:   ${r.boot ? `${r.boot.loader} (${r.boot.config}), default: ${r.boot.default?.title ?? "none"}` : "none found"}`,
    `init:          ${r.init.type ?? "unknown"}${r.init.default ? ` (default ${r.init.default})` : ""}`,
    `services:      ${r.services.filter((s) => s.atBoot).map((s) => s.name).join(" ") || "none"}`,
    "hypervisor tools:",
    ...r.hypervisorTools.map((t) => `  ${t.hypervisor.padEnd(10)} ${t.name} (${t.evidence})`),
    "network:",
    ...r.network.map((n) => `  ${n.name.padEnd(8)} ${n.method ?? ""} ${n.addresses.join(",")}${n.gateway ? ` via ${n.gateway}` : ""}${n.macAddress ? ` mac ${n.macAddress}` : ""} (${n.file})`),
  ];
  if (r.live) lines.push(`listening tcp: ${r.live.listeningPorts.map((p) => `${p.address.includes(":") ? `[${p.address}]` : p.address}:${p.port}`).join(" ") || "none"}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.map((l) => l.trimEnd()).join("\n");
}

export const registerInspect: RegisterCommand = (program: Command, cli: Cli) => {
  program
    .command("inspect")
    .description("see inside a guest — disk images, a root directory or a live host over SSH — and report what virt-inspector reports, and more")
    .argument("<source...>", "disk image(s) in disk order, a root directory, or ssh://user@host[:port]; every operating system on them is reported (--json: an array of reports)")
    .option("--xml", "print virt-inspector's XML instead of text")
    .option("--identity <key>", "private key for ssh:// sources")
    .option("--known-hosts <file>", "known_hosts file the host key must be in (ssh:// sources)")
    .option("--fingerprint <sha256>", "the host key's pinned fingerprint, SHA256:… (ssh:// sources)")
    .option("--sudo", "read through sudo -n on the live host")
    .option("--root <dir>", "inspect the tree under this directory of the live host instead of /")
    .option("--backing-dir <dir>", "also open the images' backing files in DIR (an overlay made elsewhere than its base); repeatable", (v: string, prev: string[] = []) => [...prev, v])
    .action(async (sources: string[], flags: InspectFlags, cmd: Command) => {
      const out = cli.output(cmd);
      if (flags.xml && out.options.json) throw new UsageError("--xml and --json are exclusive: choose one output");
      const isSsh = sources.some((s) => s.startsWith("ssh://"));
      if (!isSsh && (flags.identity || flags.knownHosts || flags.fingerprint || flags.sudo || flags.root)) {
        throw new UsageError("--identity, --known-hosts, --fingerprint, --sudo and --root apply to ssh:// sources only");
      }
      const { inspectSources, toVirtInspectorXml } = await import("@leapp/inspect");
      // Ctrl-C or SIGTERM stops the inspection (an SSH connection is closed): exit 130 or 143.
      cli.interruptNote = "the inspection was stopped";
      const reports: InspectionReport[] = await inspectSources(sources, {
        signal: cli.signal,
        ...(flags.identity !== undefined ? { identity: flags.identity } : {}),
        ...(flags.knownHosts !== undefined ? { knownHosts: flags.knownHosts } : {}),
        ...(flags.fingerprint !== undefined ? { fingerprint: flags.fingerprint } : {}),
        ...(flags.sudo ? { sudo: true } : {}),
        ...(flags.root !== undefined ? { root: flags.root } : {}),
        ...(flags.backingDir ? { trustedBackingDirs: flags.backingDir } : {}),
      });
      if (flags.xml) out.result(reports, toVirtInspectorXml);
      else out.result(reports, inspectTexts);
    });
};
