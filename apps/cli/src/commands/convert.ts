import { Command, Option } from "commander";
import type { ConvertResult } from "@leapp/hv-targets";
import type { ProgressEvent } from "@leapp/storage";
import type { Progress } from "../output.js";
import type { Cli, RegisterCommand } from "../program.js";

/** virt-v2v's two-letter output options, which commander would read as `-o` with a value. */
const virtV2vSpelling: Record<string, string> = { "-os": "--os", "-oc": "--oc", "-of": "--of", "-on": "--on", "-oa": "--oa" };

/** `leapp convert`, taking virt-v2v's spelling of its options as well as the long ones. */
class ConvertCommand extends Command {
  override parseOptions(args: string[]) {
    return super.parseOptions(args.map((a) => virtV2vSpelling[a] ?? a));
  }
}

interface ConvertFlags {
  input: "disk" | "libvirtxml" | "ova" | "vmx" | "xen";
  output: "local" | "libvirt" | "qemu" | "null";
  os?: string;
  oc?: string;
  of?: "qcow2" | "raw";
  on?: string;
  storage: "copy" | "snapshot" | "in-place";
  dryRun?: boolean;
  requireOs?: boolean;
  domainType?: "kvm" | "qemu";
  backingDir?: string[];
}

type Change = ConvertResult["changes"][number];
/** What a dry run prints with --json: the plan and the source. */
interface PlanView {
  plan: { changes: Change[] };
  source: ConvertResult["source"];
  warnings: string[];
}
/** What a conversion prints with --json: what it made. */
interface RunView {
  name: string;
  outputs: { path: string; format: string }[];
  files: string[];
  domainXml: string;
  changes: Change[];
  source: ConvertResult["source"];
  warnings: string[];
  freeBytesSkipped: number;
}

/** The JSON contract of `leapp convert --json`. */
export function convertView(r: ConvertResult): PlanView | RunView {
  const { source, warnings } = r;
  if (r.dryRun) return { plan: { changes: r.changes }, source, warnings };
  return { name: r.name, outputs: r.outputs.map((o) => ({ path: o.path, format: o.format })), files: r.files, domainXml: r.domainXml, changes: r.changes, source, warnings, freeBytesSkipped: r.freeBytesSkipped };
}

export function convertText(v: PlanView | RunView): string {
  const s = v.source;
  const changes = "plan" in v ? v.plan.changes : v.changes;
  const os = s.os ? `${s.os.distro} ${s.os.version}${s.os.productName && !s.os.productName.includes(s.os.version) ? ` (${s.os.productName})` : ""}` : "no operating system found";
  const lines = [`${s.name}: ${os}, leaving ${s.hypervisor} (-i ${s.input} ${s.location})`];
  lines.push("plan" in v ? `dry run: nothing was written; the conversion makes ${changes.length} change(s):` : `${changes.length} change(s) made:`);
  const width = Math.max(0, ...changes.map((c) => c.kind.length));
  // Changes made for one reason (a package's files) read as one line.
  for (let i = 0; i < changes.length; ) {
    const c = changes[i]!;
    let j = i + 1;
    while (j < changes.length && changes[j]!.kind === c.kind && changes[j]!.description === c.description && changes[j]!.path !== undefined) j++;
    const paths = changes.slice(i, j).flatMap((x) => (x.path === undefined ? [] : [x.path]));
    const where = paths.length > 3 ? `${paths.slice(0, 2).join(", ")} and ${paths.length - 2} more` : paths.join(", ");
    lines.push(`  ${c.kind.padEnd(width)}  ${where ? `${where}: ` : ""}${c.description}`);
    i = j;
  }
  if (!("plan" in v)) {
    for (const o of v.outputs) lines.push(`disk ${o.path} (${o.format})`);
    for (const f of v.files) lines.push(`wrote ${f}`);
    if (v.freeBytesSkipped > 0) lines.push(`left out ${(v.freeBytesSkipped / 1024 ** 2).toFixed(1)} MiB the guest's filesystems mark free`);
  }
  for (const w of v.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

export const registerConvert: RegisterCommand = (program: Command, cli: Cli) => {
  const command = new ConvertCommand("convert")
    .description("convert a Xen, VMware, VirtualBox or KVM guest to run on KVM (virt-v2v's job, with no appliance): the source is only read")
    .argument("<source...>", "the disk images in disk order (-i disk), or the VM's metadata file")
    .addOption(new Option("-i, --input <kind>", "what SOURCE is").choices(["disk", "libvirtxml", "ova", "vmx", "xen"]).default("disk"))
    .addOption(new Option("-o, --output <kind>", "where the guest goes").choices(["local", "libvirt", "qemu", "null"]).default("local"))
    .option("--os <dir|pool>", "-os: the output directory (local, qemu) or the libvirt storage pool")
    .option("--oc <uri>", "-oc: the libvirt connection (default qemu:///system)")
    .addOption(new Option("--of <format>", "-of: format of the copied disks (default qcow2)").choices(["qcow2", "raw"]))
    .option("--on <name>", "-on: the converted guest's name (default: the source's; for -i disk, the first image's name)")
    .addOption(new Option("--storage <strategy>", "copy: standalone disks; snapshot: qcow2 overlays on the untouched source; in-place: the source disks themselves").choices(["copy", "snapshot", "in-place"]).default("copy"))
    .addOption(new Option("--domain-type <type>", "libvirt domain type: kvm, or qemu on hosts without KVM").choices(["kvm", "qemu"]))
    .option("--dry-run", "print the plan (every change, with why); write nothing anywhere")
    .option("--require-os", "fail when no operating system leapp converts is found, instead of moving the disks unchanged")
    .option("--backing-dir <dir>", "also open the disks' backing files in DIR (repeatable)", (v: string, prev: string[] = []) => [...prev, v]);
  command.addHelpText("after", "\nOutputs are written under temporary names and take their names when complete; NAME.xml comes last.");
  command.action(async (sources: string[], flags: ConvertFlags, cmd: Command) => {
    const out = cli.output(cmd);
    const { convert } = await import("@leapp/hv-targets");
    let bar: Progress | undefined;
    cli.interruptNote = flags.storage === "in-place" ? "the source disks may hold part of the changes" : "nothing was left in the output";
    try {
      const result = await convert(sources, {
        input: flags.input,
        output: flags.output,
        storage: flags.storage,
        dryRun: flags.dryRun ?? false,
        requireOs: flags.requireOs ?? false,
        ...(flags.os !== undefined ? { outputStorage: flags.os } : {}),
        ...(flags.oc !== undefined ? { outputConnection: flags.oc } : {}),
        ...(flags.of !== undefined ? { outputFormat: flags.of } : {}),
        ...(flags.on !== undefined ? { name: flags.on } : {}),
        ...(flags.domainType !== undefined ? { domainType: flags.domainType } : {}),
        ...(flags.backingDir ? { trustedBackingDirs: flags.backingDir } : {}),
        signal: cli.signal,
        ...(out.showsProgress
          ? {
              onProgress: (event: ProgressEvent) => {
                if (event.phase !== "copy" || event.total === undefined) return;
                bar ??= out.progress("copy");
                bar.update(event.done, event.total);
              },
            }
          : {}),
      });
      bar?.finish();
      out.result(convertView(result), convertText);
    } catch (err) {
      bar?.fail(err);
      throw err;
    }
  });
  program.addCommand(command);
};
