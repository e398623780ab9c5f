import { stat } from "node:fs/promises";
import type { BlockDevice, DiskFormat } from "./block-device.js";
import { layerOf, openDisk } from "./open-disk.js";

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
  /** The backing chain below this image, nearest first: resolved path and format. */
  backing: { path: string; format: DiskFormat }[];
  /** Format-specific facts (qemu-img's "format-specific" data). */
  specific?: Record<string, string | number | boolean>;
}

/** What `qemu-img info` tells about an image, read by leapp itself. */
export async function diskInfo(path: string): Promise<DiskInfo> {
  const device = await openDisk(path);
  try {
    const layer = layerOf(device);
    const top = layer?.path ?? path;
    const fileStat = await stat(top);
    const details = device.details ?? {};
    const info: DiskInfo = {
      path: top,
      format: device.format,
      virtualSize: device.size,
      actualSize: details.actualSize ?? fileStat.blocks * 512,
      fileSize: fileStat.size,
      backing: [],
    };
    if (details.clusterSize !== undefined) info.clusterSize = details.clusterSize;
    if (details.compat !== undefined) info.compat = details.compat;
    if (details.backingFile !== undefined) info.backingFile = details.backingFile;
    if (details.specific !== undefined) info.specific = details.specific;
    let below: BlockDevice | undefined = layer?.backing;
    while (below) {
      const l = layerOf(below);
      if (!l) break;
      info.backing.push({ path: l.path, format: l.format });
      below = l.backing;
    }
    return info;
  } finally {
    await device.close();
  }
}
