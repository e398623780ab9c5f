import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { diskInfo } from "./info.js";
import { createQcow2 } from "./qcow2-create.js";

export interface OverlayOptions {
  /** Record the backing file by absolute path instead of relative to the overlay's directory. */
  absoluteBacking?: boolean;
  /** Cluster size of the overlay (default 64 KiB). */
  clusterSize?: number;
}

/**
 * Creates a qcow2 overlay on `base`: it reads as the base until written, and every write goes to
 * the overlay — the base is never opened for writing. The base's format is recorded, so it is
 * never probed again (a raw base cannot be mistaken for another format later).
 */
export async function createOverlay(base: string, path: string, options: OverlayOptions = {}): Promise<void> {
  const info = await diskInfo(base);
  const overlayDir = dirname(resolve(path));
  const baseAbsolute = resolve(base);
  const rel = relative(overlayDir, baseAbsolute);
  const recorded = options.absoluteBacking || isAbsolute(rel) ? baseAbsolute : rel || basename(baseAbsolute);
  await createQcow2(path, {
    size: info.virtualSize,
    backingFile: recorded,
    backingFormat: info.format,
    ...(options.clusterSize ? { clusterSize: options.clusterSize } : {}),
  });
}
