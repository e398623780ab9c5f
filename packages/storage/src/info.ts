import { stat } from "node:fs/promises";
import type { BlockDevice, DiskFormat } from "./block-device.js";
import type { StorageErrorCode } from "./errors.js";
import { layerOf, openDiskForInfo, type OpenDiskOptions } from "./open-disk.js";

/** One image below the top of a backing chain. */
export interface BackingInfo {
  /** Its resolved path (for one that could not be opened: where the image above says it is). */
  path: string;
  /** Its format; absent when it could not be opened and the image above records none. */
  format?: DiskFormat;
  /** Why it could not be opened (missing, outside the trusted directories…); the chain ends here. */
  problem?: { code: StorageErrorCode; message: string };
}

export interface DiskInfo {
  path: string;
  format: DiskFormat;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Bytes the image takes on the host (allocated blocks, as `du`). */
  actualSize: number;
  /** The file's apparent size in bytes. */
  fileSize: number;
  clusterSize?: number;
  /** qcow2 only: "0.10" (v2) or "1.1" (v3). */
  compat?: string;
  /** The backing file name exactly as the image records it. */
  backingFile?: string;
  /** The backing file's format as the image records it. */
  backingFormat?: DiskFormat;
  /** The backing chain below this image, nearest first. */
  backing: BackingInfo[];
  /** Format-specific facts (qemu-img's "format-specific" data). */
  specific?: Record<string, string | number | boolean>;
}

/**
 * What `qemu-img info` tells about an image, read by leapp itself. The backing chain is opened
 * under `openDisk`'s rules, but a backing file those rules refuse (or that is missing or damaged)
 * is not an error here: it ends the chain with its `problem`, and is never opened.
 */
export async function diskInfo(source: string | BlockDevice, options: Pick<OpenDiskOptions, "format" | "trustedBackingDirs" | "maxChainLength"> = {}): Promise<DiskInfo> {
  const device = await openDiskForInfo(source, options);
  try {
    const layer = layerOf(device)!;
    const fileStat = typeof source === "string" ? await stat(layer.path) : undefined;
    const details = device.details ?? {};
    const info: DiskInfo = {
      path: layer.path,
      format: device.format,
      virtualSize: device.size,
      actualSize: details.actualSize ?? (fileStat ? fileStat.blocks * 512 : device.size),
      fileSize: fileStat?.size ?? device.size,
      backing: [],
    };
    if (details.clusterSize !== undefined) info.clusterSize = details.clusterSize;
    if (details.compat !== undefined) info.compat = details.compat;
    if (details.backingFile !== undefined) info.backingFile = details.backingFile;
    if (details.backingFormat !== undefined) info.backingFormat = details.backingFormat;
    if (details.specific !== undefined) info.specific = details.specific;
    for (let below = layer.backing; below; ) {
      const l = layerOf(below);
      if (!l) break;
      const entry: BackingInfo = { path: l.path };
      if (l.format !== undefined) entry.format = l.format;
      if (l.problem) entry.problem = { code: l.problem.code, message: l.problem.message };
      info.backing.push(entry);
      below = l.backing;
    }
    return info;
  } finally {
    await device.close();
  }
}
