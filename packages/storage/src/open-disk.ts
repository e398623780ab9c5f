import { realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { BlockDevice, DiskFormat, OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { detectFormat, driverFor } from "./formats.js";

export interface OpenDiskOptions {
  /** The image's format; probed from its content when omitted. */
  format?: DiskFormat;
  /** Open for writing (raw and qcow2 only). Backing files are always opened read-only. */
  writable?: boolean;
  /** Longest backing chain followed, counting the top image (default 64). */
  maxChainLength?: number;
}

/** Where a device came from, kept by `openDisk` for `diskInfo` and the chain walkers. */
export interface Layer {
  /** The path the image was opened by (absolute). */
  path: string;
  /** Its real path (symlinks resolved), used for loop detection. */
  realPath: string;
  format: DiskFormat;
  /** The backing device it opened, if any. */
  backing: BlockDevice | undefined;
}

const layers = new WeakMap<BlockDevice, Layer>();

/** How `openDisk` opened a device: its path, format and backing device; undefined for devices from elsewhere. */
export function layerOf(device: BlockDevice): Layer | undefined {
  return layers.get(device);
}

export const DEFAULT_MAX_CHAIN_LENGTH = 64;

/**
 * Opens a disk image as a `BlockDevice`, following its backing chain: relative backing names
 * resolve against the directory of the image naming them, absolute ones are used as they are.
 * A chain that comes back to a file already in it is STORAGE_BACKING_LOOP, one longer than
 * `maxChainLength` is STORAGE_BACKING_DEPTH, a backing file that does not exist is
 * STORAGE_BACKING_MISSING. A missing top-level image is the host's ENOENT error.
 */
export async function openDisk(path: string, options: OpenDiskOptions = {}): Promise<BlockDevice> {
  const max = options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH;
  return openLayer(resolve(path), options.format, options.writable ?? false, [], max);
}

/** Backing names that are not plain file paths (qemu's protocols and json: pseudo-files). */
function isProtocolName(name: string): boolean {
  return /^json:/i.test(name) || /^[a-z][a-z0-9+.-]*:\/\//i.test(name) || /^(nbd|rbd|iscsi|gluster|ssh|sheepdog|vxhs|nfs|http|https|ftp|ftps):/i.test(name);
}

async function openLayer(path: string, format: DiskFormat | undefined, writable: boolean, chain: string[], max: number): Promise<BlockDevice> {
  const isBacking = chain.length > 0;
  let realPath: string;
  try {
    realPath = await realpath(path);
  } catch (err) {
    if (isBacking && (err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new StorageError("STORAGE_BACKING_MISSING", `backing file ${path} (needed by ${chain[chain.length - 1]}) does not exist; restore it or rebase the image`, { path, cause: err });
    }
    throw err;
  }
  if (chain.includes(realPath)) {
    throw new StorageError("STORAGE_BACKING_LOOP", `backing chain loops: ${[...chain, realPath].join(" -> ")}`, { path });
  }
  if (chain.length + 1 > max) {
    throw new StorageError("STORAGE_BACKING_DEPTH", `backing chain of ${chain[0] ?? path} is longer than ${max} images; refusing to follow it further`, { path });
  }
  const info = await stat(realPath);
  if (info.isDirectory()) throw new StorageError("STORAGE_UNSUPPORTED", `${path} is a directory, not a disk image`, { path });

  const fmt = format ?? (await detectFormat(realPath));
  const driver = driverFor(fmt);
  const opened: BlockDevice[] = [];
  let backing: BlockDevice | undefined;
  const context: OpenContext = {
    writable,
    async openBacking(name, backingFormat) {
      if (isProtocolName(name)) {
        throw new StorageError("STORAGE_UNSUPPORTED", `${path}: backing file "${name}" is not a local file; only local backing files are supported`, { path });
      }
      const target = isAbsolute(name) ? name : resolve(dirname(path), name);
      const device = await openLayer(target, backingFormat, false, [...chain, realPath], max);
      opened.push(device);
      backing = device;
      return device;
    },
  };
  let device: BlockDevice;
  try {
    device = await driver.open(path, context);
  } catch (err) {
    // A driver that failed after opening its backing file leaves it to us.
    await Promise.allSettled(opened.map((d) => d.close()));
    throw err;
  }
  if (writable && !device.writable) {
    await device.close();
    throw new StorageError("STORAGE_UNSUPPORTED", `${path}: ${fmt} images can only be opened read-only; convert to qcow2 or raw to write`, { path });
  }
  layers.set(device, { path, realPath, format: fmt, backing });
  return device;
}
