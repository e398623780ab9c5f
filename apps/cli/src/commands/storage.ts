import { Option, type Command } from "commander";
import type { DiskInfo } from "@leapp/storage";
import { ExitCode } from "../errors.js";
import { formatBytes } from "../output.js";
import type { Cli, RegisterCommand } from "../program.js";

/** The JSON contract of `leapp storage info --json`: these keys at least, sizes in bytes. */
export interface StorageInfoJson {
  path: string;
  format: string;
  virtualSize: number;
  actualSize: number;
  clusterSize: number | null;
  compat: string | null;
  backingFile: string | null;
  backing: { path: string; format: string }[];
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
    backing: info.backing,
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
  for (const [i, b] of info.backing.entries()) lines.push(`backing ${i + 1}: ${b.path} (${b.format})`);
  if (info.compat !== null || info.specific) {
    lines.push("Format specific information:");
    if (info.compat !== null) lines.push(`    compat: ${info.compat}`);
    for (const [k, v] of Object.entries(info.specific ?? {})) lines.push(`    ${k}: ${v}`);
  }
  return lines.join("\n");
}

export const registerStorage: RegisterCommand = (program: Command, cli: Cli) => {
  const storage = program.command("storage").description("disk images: info, convert, overlay, compare (raw, qcow2, vmdk, vdi, vhdx, vpc)");

  storage
    .command("info")
    .description("what an image is: format, virtual and actual size, cluster size, backing chain")
    .argument("<image>", "the disk image (format detected by content)")
    .action(async (image: string, _options: unknown, cmd: Command) => {
      const out = cli.output(cmd);
      const { diskInfo } = await import("@leapp/storage");
      const info = storageInfoJson(await diskInfo(image));
      out.result(info, infoText);
    });

  storage
    .command("convert")
    .description("convert an image to a new raw or qcow2 image; holes and zeros cost nothing")
    .argument("<source>", "the source image (any known format; never written)")
    .argument("<target>", "the new image (must not exist)")
    .addOption(new Option("-O, --output-format <format>", "target format").choices(["raw", "qcow2"]).default("qcow2"))
    .option("-c, --compress", "compress the qcow2 target with zlib")
    .action(async (source: string, target: string, options: { outputFormat: "raw" | "qcow2"; compress?: boolean }, cmd: Command) => {
      const out = cli.output(cmd);
      const { convertDisk } = await import("@leapp/storage");
      const progress = out.progress("convert");
      try {
        const result = await convertDisk(source, target, {
          format: options.outputFormat,
          compress: options.compress ?? false,
          onProgress: (done, total) => progress.update(done, total),
        });
        progress.finish();
        out.result({ source, target, ...result }, (r) => `converted ${r.source} to ${r.target} (${r.format}, ${formatBytes(r.virtualSize)} virtual, ${formatBytes(r.dataBytes)} of data)`);
      } catch (err) {
        progress.finish();
        throw err;
      }
    });

  storage
    .command("overlay")
    .description("create a qcow2 overlay backed by an image; the base is never written")
    .argument("<base>", "the backing image")
    .argument("<overlay>", "the new qcow2 overlay (must not exist)")
    .action(async (base: string, overlay: string, _options: unknown, cmd: Command) => {
      const out = cli.output(cmd);
      const { createOverlay, diskInfo } = await import("@leapp/storage");
      await createOverlay(base, overlay);
      const info = await diskInfo(overlay);
      out.result({ overlay: info.path, backing: info.backing }, (r) => `created ${r.overlay} on ${r.backing.map((b) => `${b.path} (${b.format})`).join(" <- ")}`);
    });

  storage
    .command("compare")
    .description("whether two images read the same (exit 1 when they differ), like qemu-img compare")
    .argument("<a>", "first image")
    .argument("<b>", "second image")
    .action(async (a: string, b: string, _options: unknown, cmd: Command) => {
      const out = cli.output(cmd);
      const { compareDisks } = await import("@leapp/storage");
      const result = await compareDisks(a, b);
      if (!result.identical) cli.exitCode = ExitCode.negative;
      out.result({ identical: result.identical, firstDifference: result.firstDifference ?? null, sizeA: result.sizeA, sizeB: result.sizeB }, (r) =>
        r.identical ? "Images are identical." : `Content mismatch at offset ${r.firstDifference}!`,
      );
    });
};
