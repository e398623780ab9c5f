import { existsSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import type { CustomizeOperation, CustomizeOutput, CustomizeResult } from "@leapp/inspect";
import type { ProgressEvent } from "@leapp/storage";
import { UsageError } from "../errors.js";
import type { Progress } from "../output.js";
import type { Cli, RegisterCommand } from "../program.js";

/** virt-customize's options, in its help's words, with the syntax of each. */
const operationOptions: Array<[name: string, syntax: string, help: string]> = [
  ["write", "PATH:CONTENT", "write CONTENT to the file PATH (created or replaced)"],
  ["append-line", "PATH:LINE", "append LINE to PATH in the file's own line ending (created if missing)"],
  ["upload", "HOSTFILE:PATH", "copy a host file to PATH (into it if a directory), with its mode and owner"],
  ["copy-in", "HOSTPATH:GUESTDIR", "copy a host file or tree into the existing guest directory GUESTDIR"],
  ["mkdir", "PATH", "make a directory and its parents"],
  ["touch", "PATH", "create an empty file, or update a file's times"],
  ["truncate", "PATH", "truncate an existing file to zero bytes"],
  ["delete", "PATH", "delete files or directories, recursively (shell globs allowed)"],
  ["move", "SRC:DST", "move a file or directory (into DST if it is a directory)"],
  ["link", "TARGET:LINK[:LINK…]", "make symbolic links LINK… pointing at TARGET (ln -sf)"],
  ["chmod", "MODE:PATH", "change permissions: octal with a leading 0 (0644), decimal otherwise"],
  ["chown", "UID:GID:PATH", "change the numeric owner and group"],
  ["hostname", "NAME", "set the hostname in the files the guest's distribution uses"],
  ["timezone", "ZONE", "set the time zone (Europe/London): /etc/localtime and the distribution's own record"],
  ["edit", "PATH:s/REGEX/REPL/[g]", "apply a substitution to each line of PATH"],
  ["ssh-inject", "USER[:file:KEYFILE|:string:KEY]", "append a public key to USER's ~/.ssh/authorized_keys"],
  ["root-password", "password:PW|file:FILE|random|disabled", "set or disable root's password"],
];

interface CustomizeFlags {
  output?: string[];
  inPlace?: boolean;
  dryRun?: boolean;
  selinuxRelabel?: boolean;
  backingDir?: string[];
}

/** The output the -o / --in-place flags name. */
function outputOf(flags: CustomizeFlags, images: readonly string[]): CustomizeOutput | undefined {
  const outputs = flags.output ?? [];
  if (flags.inPlace && outputs.length > 0) throw new UsageError("--in-place and -o are exclusive: edit the images themselves, or write overlays");
  if (flags.inPlace) return { inPlace: true };
  if (outputs.length === 0) {
    if (flags.dryRun) return undefined;
    throw new UsageError("say where the changes go: -o OVERLAY.qcow2 (one per disk), -o DIR/ (NAME-sdX.qcow2 there), or --in-place");
  }
  const isDir = (p: string) => p.endsWith("/") || (existsSync(p) && statSync(p).isDirectory());
  if (outputs.length === 1 && isDir(outputs[0]!)) return { overlayDir: outputs[0]! };
  if (outputs.some(isDir)) throw new UsageError("-o DIR/ names one directory for every overlay; do not mix it with overlay files");
  if (outputs.length !== images.length) throw new UsageError(`${images.length} image(s) but ${outputs.length} overlay(s): give one -o per disk, in disk order, or -o DIR/`);
  return { overlays: outputs };
}

/** The human rendering: what was made, then one line per operation with the filesystem it touched. */
export function customizeText(r: CustomizeResult): string {
  const lines: string[] = [];
  if (r.dryRun) lines.push("dry run: nothing was written");
  for (const o of r.overlays) lines.push(`${r.dryRun ? "would create" : "created"} ${o}`);
  for (const i of r.inPlace) lines.push(`edited ${i} in place`);
  const width = Math.max(0, ...r.operations.map((o) => o.op.length));
  for (const o of r.operations) {
    lines.push(`  ${o.op.padEnd(width)}  ${o.path}  on ${o.filesystem} (${o.mountpoint})${o.refused ? `  REFUSED: ${o.refused}` : ""}`);
    for (const t of o.targets.filter((t) => t.path !== o.path)) lines.push(`  ${"".padEnd(width)}  ${t.path}  on ${t.filesystem} (${t.mountpoint})`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

export const registerCustomize: RegisterCommand = (program: Command, cli: Cli) => {
  // The operations in command-line order: commander calls each option's parser as it meets it.
  const ordered: Array<{ name: string; value: string }> = [];
  const command = program
    .command("customize")
    .description("edit files inside a guest's filesystems — virt-customize's operations, with no appliance — through qcow2 overlays or in place")
    .argument("<image...>", "the guest's disk images, in disk order")
    .option("-o, --output <path>", "a new qcow2 overlay per disk (repeat -o, in disk order), or a directory DIR/ for NAME-sdX.qcow2 overlays", (v: string, prev: string[] = []) => [...prev, v])
    .option("--in-place", "edit the images themselves (raw or qcow2); a kill midway can leave them half-changed")
    .option("--dry-run", "resolve every path and report the filesystem each operation would touch; write nothing")
    .option("--no-selinux-relabel", "do not ask an SELinux guest to relabel itself at next boot")
    .option("--backing-dir <dir>", "also open the images' backing files in DIR; by default only those beside the image naming them (repeatable)", (v: string, prev: string[] = []) => [...prev, v]);
  for (const [name, syntax, help] of operationOptions) {
    command.option(`--${name} <${syntax}>`, help, (value: string) => {
      ordered.push({ name, value });
      return value;
    });
  }
  command.addHelpText("after", "\nOperations apply in command-line order, as virt-customize applies them. Paths are guest paths.");
  command.action(async (images: string[], flags: CustomizeFlags, cmd: Command) => {
    const out = cli.output(cmd);
    const { customize, InspectError, parseCustomizeOption } = await import("@leapp/inspect");
    // A missing image is the input's fault whatever else the line says (exit 3, as every command).
    for (const image of images) {
      if (!existsSync(image)) throw new InspectError("INSPECT_NOT_FOUND", `${image} does not exist; name the guest's disk images, in disk order`, { path: image });
    }
    const output = outputOf(flags, images);
    if (ordered.length === 0) throw new UsageError("no operation given: add --write, --mkdir, --hostname… (see leapp customize --help)");
    const operations: CustomizeOperation[] = [];
    for (const { name, value } of ordered) {
      try {
        const parsed = await parseCustomizeOption(name, value);
        operations.push(parsed.operation);
        if (parsed.note) out.note(parsed.note);
      } catch (err) {
        if (err instanceof InspectError && err.code === "INSPECT_INVALID") throw new UsageError(err.message);
        throw err;
      }
    }
    let bar: Progress | undefined;
    cli.interruptNote = output && "inPlace" in output ? "the images may hold part of the changes (see leapp customize --help)" : "no overlay was created";
    try {
      const result = await customize(images, operations, {
        ...(output ? { output } : {}),
        signal: cli.signal,
        dryRun: flags.dryRun ?? false,
        selinuxRelabel: flags.selinuxRelabel ?? true,
        ...(flags.backingDir ? { trustedBackingDirs: flags.backingDir } : {}),
        ...(out.showsProgress
          ? {
              onProgress: (event: ProgressEvent) => {
                if (event.phase !== "copy-in" || event.total === undefined) return;
                bar ??= out.progress("copy-in");
                bar.update(event.done, event.total);
              },
            }
          : {}),
      });
      bar?.finish();
      // Storage opens a backing file only beside the overlay naming it, and not through a link
      // leading elsewhere: say which directories to trust when reopening the overlays.
      const trust = [...new Set(images.flatMap((i) => [dirname(resolve(i)), dirname(realpathSync(i))]))].filter((dir) => result.overlays.some((o) => dirname(o) !== dir));
      if (trust.length > 0) out.note(`note: to open the overlays again (leapp inspect, storage info), trust their bases' directories: ${trust.map((d) => `--backing-dir ${d}`).join(" ")}`);
      out.result(result, customizeText);
    } catch (err) {
      bar?.fail(err);
      throw err;
    }
  });
};
