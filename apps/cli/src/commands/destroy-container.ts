import type { Command } from "commander";
import type { DestroyResult } from "@leapp/packager";
import { UsageError } from "../errors.js";
import type { Cli, RegisterCommand } from "../program.js";
import { targetOptions, targetSsh, type TargetFlags } from "./migrate.js";

export function destroyText(r: DestroyResult): string {
  if (!r.removed) return `no container named ${r.container} on ${r.target}: nothing to do`;
  const lines = [`stopped and removed ${r.container} on ${r.target}`];
  if (r.image !== undefined) lines.push(r.imageRemoved ? `removed its image ${r.image}` : `kept its image ${r.image}: another container uses it`);
  return lines.join("\n");
}

export const registerDestroyContainer: RegisterCommand = (program: Command, cli: Cli) => {
  const command = program
    .command("destroy-container")
    .description("stop a container on a container host over SSH with its own stop signal (the guest's init shuts down) and remove it")
    .argument("<target>", "the container host, ssh://user@host[:port]")
    .argument("<name>", "the container (nothing to do when there is none)")
    .option("--remove-image", "also remove its image, unless another container uses it")
    .option("--timeout <seconds>", "how long the guest may take to shut down before it is killed", "30");
  targetOptions(command).action(async (target: string, name: string, flags: TargetFlags & { removeImage?: boolean; timeout: string }, cmd: Command) => {
    const out = cli.output(cmd);
    const ssh = targetSsh(flags);
    const timeoutSeconds = Number(flags.timeout);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0 || timeoutSeconds > 3600) throw new UsageError(`--timeout takes whole seconds from 0 to 3600, not ${flags.timeout}`);
    const { destroyContainer } = await import("@leapp/packager");
    cli.interruptNote = "the removal was stopped; check the container with check-target";
    const result: DestroyResult = await destroyContainer({ target, ssh, name, ...(flags.runtime ? { runtime: flags.runtime } : {}), removeImage: flags.removeImage ?? false, timeoutSeconds, signal: cli.signal });
    out.result(result, destroyText);
  });
};
