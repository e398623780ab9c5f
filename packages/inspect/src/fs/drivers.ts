import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../errors.js";
import type { Volume } from "../block/volumes.js";
import { extDriver } from "./ext/ext.js";
import type { Filesystem, FilesystemDriver, OpenFilesystemOptions, WritableFilesystem } from "./filesystem.js";
import { xfsDriver } from "./xfs/xfs.js";

/** Every filesystem driver; each opens the identified types it lists. */
export const filesystemDrivers: readonly FilesystemDriver[] = [extDriver, xfsDriver];

/** The driver for an identified filesystem type, or undefined when leapp reads no files from it. */
export function filesystemDriverFor(fsType: string | undefined): FilesystemDriver | undefined {
  return fsType === undefined ? undefined : filesystemDrivers.find((d) => d.types.includes(fsType));
}

/** Opens a filesystem volume with the right driver (ext2/3/4, XFS), read-only unless asked. */
export async function openFilesystem(volume: Pick<Volume, "device" | "block" | "fsType">, options: OpenFilesystemOptions & { writable: true }): Promise<WritableFilesystem>;
export async function openFilesystem(volume: Pick<Volume, "device" | "block" | "fsType">, options?: OpenFilesystemOptions): Promise<Filesystem>;
export async function openFilesystem(volume: Pick<Volume, "device" | "block" | "fsType">, options: OpenFilesystemOptions = {}): Promise<Filesystem> {
  const driver = filesystemDriverFor(volume.fsType);
  if (!driver) {
    throw new InspectError(
      "INSPECT_UNSUPPORTED",
      volume.fsType === undefined
        ? `${volume.device} holds no filesystem leapp recognizes`
        : `${volume.device} is ${volume.fsType}, which leapp recognizes but does not read files from`,
    );
  }
  return driver.open(volume.block as BlockDevice, options);
}
