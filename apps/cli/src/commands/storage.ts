import { Option, type Command } from "commander";
import { dirname, extname } from "node:path";
import type { DiskInfo } from "@leapp/storage";
import { ExitCode } from "../errors.js";
import { formatBytes } from "../output.js";
import type { Cli, RegisterCommand } from "../program.js";

const DISK_FORMATS = ["raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc"] as const;
type DiskFormatName = (typeof DISK_FORMATS)[number];

/** The JSON contract of `leapp storage info --json`: these keys at least, sizes in bytes. */
export interface StorageInfoJson {
  path: string;
  format: string;
  virtualSize: number;
  actualSize: number;
  clusterSize: number | null;
  compat: string | null;
  backingFile: string | null;
  backingFormat: string | null;
  /** The chain below, nearest first; `problem` marks a backing file that was not opened (the chain ends there). */
  backing: { path: string; format: string | null; problem: { code: string; message: string } | null }[];
  specific: Record<string, string | number | boolean> | null;
}

export function storageInfoJson(info: DiskInfo): StorageInfoJson {
  return {
    path: info.path,
    format: info.format,
    virtualSize: info.virtualSize,
    actualSize: info.actualSize,
    clusterSize: info.clusterSize ?? null,
    compat: info.compat ?? null,
    backingFile: info.backingFile ?? null,
    backingFormat: info.backingFormat ?? null,
    backing: info.backing.map((b) => ({ path: b.path, format: b.format ?? null, problem: b.problem ?? null })),
    specific: info.specific ?? null,
  };
}

/** Laid out like `qemu-img info`. */
function infoText(info: StorageInfoJson): string {
  const lines = [
    `image: ${info.path}`,
    `file format: ${info.format}`,
    `virtual size: ${formatBytes(info.virtualSize)} (${info.virtualSize} bytes)`,
    `disk size: ${formatBytes(info.actualSize)}`,
  ];
  if (info.clusterSize !== null) lines.push(`cluster_size: ${info.clusterSize}`);
  if (info.backingFile !== null) lines.push(`backing file: ${info.backingFile}`);
  if (info.backingFormat !== null) lines.push(`backing file format: ${info.backingFormat}`);
  for (const [i, b] of info.backing.entries()) {
    const what = `backing ${i + 1}: ${b.path} (${b.format ?? "format not recorded"})`;
    lines.push(b.problem ? `${what} NOT OPENED: ${b.problem.message} [${b.problem.code}]` : what);
  }
  if (info.compat !== null || info.specific) {
    lines.push("Format specific information:");
    if (info.compat !== null) lines.push(`    compat: ${info.compat}`);
    for (const [k, v] of Object.entries(info.specific ?? {})) lines.push(`    ${k}: ${v}`);
  }
  return lines.join("\n");
}

/** The format a file name suggests, for the "its name says" warning; undefined when it says nothing. */
function formatOfName(path: string): string | undefined {
  const ext = extname(path).toLowerCase();
  const known: Record<string, string> = { ".qcow2": "qcow2", ".qcow": "qcow2", ".raw": "raw", ".vmdk": "vmdk", ".vdi": "vdi", ".vhdx": "vhdx", ".vhd": "vpc" };
  return known[ext];
}

const collect = (value: string, previous: string[]) => [...previous, value];
const backingDirOption = () =>
  new Option("--backing-dir <dir>", "also open backing files (and extents, data files) in DIR, not only those beside the image naming them (repeatable)").argParser(collect).default([], "none");
const sourceFormatOption = () => new Option("-f, --format <format>", "the image's format: skips detection; content in another format is refused").choices(DISK_FORMATS);

export const registerStorage: RegisterCommand = (program: Command, cli: Cli) => {
  const storage = program.command("storage").description("disk images: info, convert, overlay, compare (raw, qcow2, vmdk, vdi, vhdx, vpc)");

  storage
    .command("info")
    .description("what an image is: format, virtual and actual size, cluster size, backing chain (exit 3 when the chain cannot be opened: the report marks where)")
    .argument("<image>", "the disk image (format detected by content)")
    .addOption(sourceFormatOption())
    .addOption(backingDirOption())
    .action(async (image: string, options: { format?: DiskFormatName; backingDir: string[] }, cmd: Command) => {
      const out = cli.output(cmd);
      const { diskInfo } = await import("@leapp/storage");
      const info = storageInfoJson(await diskInfo(image, { trustedBackingDirs: options.backingDir, ...(options.format ? { format: options.format } : {}) }));
      out.result(info, infoText);
      const problem = info.backing.find((b) => b.problem)?.problem;
      if (problem) {
        // The report is printed; the image is still unusable as it stands, and scripts must see that.
        out.note(`leapp: the backing chain of ${info.path} is incomplete: ${problem.message} [${problem.code}]`);
        cli.exitCode = ExitCode.input;
      }
    });

  storage
    .command("convert")
    .description("convert an image to a new raw or qcow2 image (written beside the target, renamed when complete); holes and zeros cost nothing")
    .argument("<source>", "the source image (any known format; never written)")
    .argument("<target>", "the new image (must not exist unless --force)")
    .addOption(sourceFormatOption())
    .addOption(new Option("-O, --output-format <format>", "target format, as qemu-img").choices(["raw", "qcow2"]).default("raw"))
    .option("-c, --compress", "compress the qcow2 target with zlib")
    .option("-p", "show progress (a bar; as qemu-img -p)")
    .option("--force", "replace an existing target (atomically; never the source)")
    .option("--no-sync", "rename the target into place without waiting for it to reach the disk, as qemu-img (a power loss soon after may damage it)")
    .addOption(backingDirOption())
    .action(
      async (
        source: string,
        target: string,
        options: { format?: DiskFormatName; outputFormat: "raw" | "qcow2"; compress?: boolean; p?: boolean; force?: boolean; sync: boolean; backingDir: string[] },
        cmd: Command,
      ) => {
        const out = cli.output(cmd);
        const named = formatOfName(target);
        if (named !== undefined && named !== options.outputFormat) {
          out.note(`leapp: warning: ${target} will be a ${options.outputFormat} image, though its name says ${named} (use -O ${named === "qcow2" ? "qcow2" : "raw"} or another name)`);
        }
        const { convertDisk } = await import("@leapp/storage");
        const progress = out.progress("convert", options.p ?? false);
        cli.interruptNote = `removed the unfinished ${target}`;
        try {
          const result = await convertDisk(source, target, {
            format: options.outputFormat,
            compress: options.compress ?? false,
            overwrite: options.force ?? false,
            sync: options.sync,
            trustedBackingDirs: options.backingDir,
            ...(options.format ? { sourceFormat: options.format } : {}),
            signal: cli.signal,
            onProgress: (e) => progress.update(e.done, e.total ?? e.done),
          });
          progress.finish();
          out.result({ source, target, ...result }, (r) => `converted ${r.source} to ${r.target} (${r.format}, ${formatBytes(r.virtualSize)} virtual, ${formatBytes(r.dataBytes)} of data)`);
        } catch (err) {
          progress.fail(err);
          throw err;
        }
      },
    );

  storage
    .command("overlay")
    .description("create a qcow2 overlay backed by an image; the base is never written")
    .argument("<base>", "the backing image")
    .argument("<overlay>", "the new qcow2 overlay (must not exist unless --force)")
    .option("--force", "replace an existing overlay (atomically; never the base)")
    .addOption(backingDirOption())
    .action(async (base: string, overlay: string, options: { force?: boolean; backingDir: string[] }, cmd: Command) => {
      const out = cli.output(cmd);
      const { createOverlay, diskInfo } = await import("@leapp/storage");
      cli.interruptNote = `removed the unfinished ${overlay}`;
      await createOverlay(base, overlay, { overwrite: options.force ?? false, trustedBackingDirs: options.backingDir, signal: cli.signal });
      // The user named the base: its directory is trusted for the report, wherever the overlay is.
      const info = await diskInfo(overlay, { trustedBackingDirs: [...options.backingDir, dirname(base)] });
      out.result({ overlay: info.path, backing: info.backing }, (r) => `created ${r.overlay} on ${r.backing.map((b) => `${b.path} (${b.format})`).join(" <- ")}`);
      if (dirname(info.path) !== dirname(info.backing[0]?.path ?? info.path)) {
        out.note(`leapp: note: the base is outside the overlay's directory; open the overlay with --backing-dir ${dirname(info.backing[0]!.path)}`);
      }
    });

  storage
    .command("compare")
    .description("whether two images read the same (exit 1 when they differ), like qemu-img compare")
    .argument("<a>", "first image")
    .argument("<b>", "second image")
    .addOption(backingDirOption())
    .action(async (a: string, b: string, options: { backingDir: string[] }, cmd: Command) => {
      const out = cli.output(cmd);
      const { compareDisks } = await import("@leapp/storage");
      const result = await compareDisks(a, b, { trustedBackingDirs: options.backingDir, signal: cli.signal });
      if (!result.identical) cli.exitCode = ExitCode.negative;
      out.result({ identical: result.identical, firstDifference: result.firstDifference ?? null, sizeA: result.sizeA, sizeB: result.sizeB }, (r) =>
        r.identical ? "Images are identical." : `Content mismatch at offset ${r.firstDifference}!`,
      );
    });
};
