import { basename, extname, join, resolve } from "node:path";
import type { BlockDevice, DiskFormat } from "./block-device.js";
import { StorageError } from "./errors.js";
import { convertDisk } from "./convert.js";
import { detectDiskFormat } from "./formats.js";
import { createOverlay } from "./overlay.js";
import type { OperationOptions } from "./progress.js";

/**
 * How a conversion gets its target disks, as in virt-v2v:
 * - `copy`: a new image converted from the source (the source is only read);
 * - `snapshot`: a qcow2 overlay backed by the untouched source (fast; the source must stay);
 * - `in-place`: the source itself (no copy; the caller accepts that it will be changed).
 */
export type StorageStrategy = "copy" | "snapshot" | "in-place";

export interface StoragePlanOptions {
  strategy: StorageStrategy;
  /** Where `copy` and `snapshot` put their targets (required for them, ignored for in-place). */
  targetDir?: string;
  /** `copy` only: the target format (default qcow2) and compression. */
  format?: "raw" | "qcow2";
  compress?: boolean;
  /** Directories where the sources' backing files may lie besides their own (see `openDisk`). */
  trustedBackingDirs?: readonly string[];
}

/** One source disk mapped to its target. */
export interface MappedDisk {
  /** The source's path, or the device given (which the plan never closes). */
  source: string | BlockDevice;
  /** The target's path; for in-place, the source itself. */
  target: string | BlockDevice;
  /** Format the target has once created. */
  targetFormat: DiskFormat;
  strategy: StorageStrategy;
  /**
   * Creates the target (convert, overlay, or nothing for in-place), atomically: an abort or an
   * error leaves nothing. Throws if it already exists.
   */
  create(options?: OperationOptions): Promise<void>;
}

/**
 * Maps each source disk (a path, or an opened device the caller keeps) to its target location for
 * a strategy. Nothing is written until `create` is called on a mapping, so a plan is also a dry
 * run. Target names come from the source names, made unique (two `disk.img` in different folders
 * become `disk` and `disk-2`; devices are `disk`). A snapshot overlay needs a source file to
 * record as its backing file, so devices only take `copy` and `in-place`.
 */
export async function planStorage(sources: readonly (string | BlockDevice)[], options: StoragePlanOptions): Promise<MappedDisk[]> {
  const { strategy } = options;
  if (strategy !== "in-place" && options.targetDir === undefined) {
    throw new StorageError("STORAGE_UNSUPPORTED", `the ${strategy} strategy needs a target directory`);
  }
  if (strategy === "in-place" && (options.format !== undefined || options.compress)) {
    throw new StorageError("STORAGE_UNSUPPORTED", "the in-place strategy keeps the source as it is: no target format or compression");
  }
  const used = new Set<string>();
  const plan: MappedDisk[] = [];
  const trusted = options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {};
  for (const given of sources) {
    const source = typeof given === "string" ? resolve(given) : given;
    const sourceFormat = await detectDiskFormat(source);
    if (strategy === "in-place") {
      plan.push({ source, target: source, targetFormat: sourceFormat, strategy, create: async () => {} });
      continue;
    }
    if (strategy === "snapshot" && typeof source !== "string") {
      throw new StorageError("STORAGE_UNSUPPORTED", "the snapshot strategy records its source as the overlay's backing file, so it needs a source file, not a device; use copy");
    }
    const targetFormat = strategy === "snapshot" ? "qcow2" : (options.format ?? "qcow2");
    const stem = uniqueStem((typeof source === "string" && basename(source, extname(source))) || "disk", used);
    const suffix = strategy === "snapshot" ? ".overlay.qcow2" : `.${targetFormat}`;
    const target = join(resolve(options.targetDir!), stem + suffix);
    const create =
      strategy === "snapshot"
        ? (run: OperationOptions = {}) => createOverlay(source as string, target, { ...run, ...trusted })
        : async (run: OperationOptions = {}) => {
            await convertDisk(source, target, { ...run, ...trusted, format: targetFormat, compress: options.compress ?? false });
          };
    plan.push({ source, target, targetFormat, strategy, create });
  }
  return plan;
}

function uniqueStem(stem: string, used: Set<string>): string {
  let candidate = stem;
  for (let n = 2; used.has(candidate); n++) candidate = `${stem}-${n}`;
  used.add(candidate);
  return candidate;
}
