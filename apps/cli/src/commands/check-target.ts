import type { Command } from "commander";
import type { TargetCheck } from "@leapp/packager";
import { ExitCode } from "../errors.js";
import type { Cli, RegisterCommand } from "../program.js";
import { targetOptions, targetSsh, type TargetFlags } from "./migrate.js";

const ports = (list: number[]) => (list.length > 40 ? `${list.slice(0, 40).join(" ")} … (${list.length})` : list.join(" ")) || "none";

/** What a person wants to know of a container host: can a migration go there, and what is taken. */
export function checkTargetText(c: TargetCheck): string {
  const lines = [
    `target:        ${c.target} (host key ${c.hostKey})`,
    `system:        ${c.architecture}, Linux ${c.kernel}`,
    `runtime:       ${c.runtime ? `${c.runtime.name} ${c.runtime.version}${c.runtime.ociRuntime ? ` with ${c.runtime.ociRuntime}` : ""}${c.runtime.rootless ? ", rootless" : ""}` : "none working"}${c.installed.length > 0 ? ` (installed: ${c.installed.join(", ")})` : ""}`,
    `containers:    ${c.containers.length === 0 ? "none" : ""}`,
    ...c.containers.map((k) => `  ${k.name.padEnd(24)} ${k.state.padEnd(8)} ${k.image}${k.ports.length > 0 ? `  ${k.ports.map((p) => `${p.hostPort}→${p.containerPort}/${p.protocol}`).join(" ")}` : ""}`),
    `ports in use:  tcp ${ports(c.takenPorts.tcp)}; udp ${ports(c.takenPorts.udp)}`,
  ];
  if (c.nameFree !== undefined) lines.push(`name:          ${c.nameFree ? "free" : "taken"}`);
  lines.push(c.problems.length === 0 ? "ready for a migration" : `not ready:\n${c.problems.map((p) => `  ${p}`).join("\n")}`);
  return lines.map((l) => l.trimEnd()).join("\n");
}

export const registerCheckTarget: RegisterCommand = (program: Command, cli: Cli) => {
  const command = program
    .command("check-target")
    .description("whether a container host over SSH can take a migration: its runtime working, the container names and ports in use (exit 1 when it cannot)")
    .argument("<target>", "the container host, ssh://user@host[:port]")
    .option("--name <name>", "also check that a container of this name can be created");
  targetOptions(command).action(async (target: string, flags: TargetFlags & { name?: string }, cmd: Command) => {
    const out = cli.output(cmd);
    const ssh = targetSsh(flags);
    const { checkTarget } = await import("@leapp/packager");
    cli.interruptNote = "the check was stopped";
    const check: TargetCheck = await checkTarget({ target, ssh, ...(flags.runtime ? { runtime: flags.runtime } : {}), ...(flags.name !== undefined ? { name: flags.name } : {}), signal: cli.signal });
    out.result(check, checkTargetText);
    if (check.problems.length > 0) cli.exitCode = ExitCode.negative;
  });
};
