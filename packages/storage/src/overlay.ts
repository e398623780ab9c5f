import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { layerOf, openDisk, type OpenDiskOptions } from "./open-disk.js";
import type { OperationOptions } from "./progress.js";
import { createQcow2Output } from "./qcow2-create.js";

export interface OverlayOptions extends OperationOptions, Pick<OpenDiskOptions, "trustedBackingDirs"> {
  /** Record the backing file by absolute path instead of relative to the overlay's directory. */
  absoluteBacking?: boolean;
  /** Cluster size of the overlay (default 64 KiB). */
  clusterSize?: number;
  /** Replace an existing overlay, atomically (never the base or a file its chain reads). */
  overwrite?: boolean;
}

/**
 * Creates a qcow2 overlay on `base`: it reads as the base until written, and every write goes to
 * the overlay — the base is never opened for writing. The base's format is recorded, so it is
 * never probed again (a raw base cannot be mistaken for another format later). The overlay is
 * written under a temporary name and renamed into place when complete.
 *
 * Opening the overlay follows `openDisk`'s rule: a base outside the overlay's directory opens only
 * with that directory in `trustedBackingDirs`.
 */
export async function createOverlay(base: string, path: string, options: OverlayOptions = {}): Promise<void> {
  options.signal?.throwIfAborted();
  const device = await openDisk(base, options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {});
  const size = device.size;
  const format = device.format;
  const files = layerOf(device)!.files;
  await device.close();
  const overlayDir = dirname(resolve(path));
  const baseAbsolute = resolve(base);
  const rel = relative(overlayDir, baseAbsolute);
  const recorded = options.absoluteBacking || isAbsolute(rel) ? baseAbsolute : rel || basename(baseAbsolute);
  options.signal?.throwIfAborted();
  await createQcow2Output(
    path,
    { size, backingFile: recorded, backingFormat: format, overwrite: options.overwrite ?? false, ...(options.clusterSize ? { clusterSize: options.clusterSize } : {}) },
    { protect: files, signal: options.signal },
  );
  options.onProgress?.({ phase: "overlay", done: 1, total: 1, unit: "steps", detail: resolve(path) });
}
