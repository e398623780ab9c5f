// Where the converted guest goes. One driver per `-o` (outputs/*.ts), all behind this interface:
// each says where the disks are written and publishes the guest once every disk is complete.
import { randomBytes } from "node:crypto";
import { link, open, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { TEMPORARY_INFIX } from "@leapp/storage";
import type { GuestCapabilities } from "@leapp/guestos";
import { HvTargetsError } from "../errors.js";
import type { OutputKind, TargetDisk } from "../types.js";

export interface OutputRequest {
  /** `-os`: a directory (local, qemu) or a storage pool (libvirt). */
  storage: string | undefined;
  /** `-oc`: the libvirt connection URI. */
  connection: string | undefined;
}

export interface PublishRequest {
  dir: string;
  name: string;
  domainXml: string;
  disks: readonly TargetDisk[];
  capabilities: GuestCapabilities | undefined;
  /** Source NICs' MACs, in order. */
  macs: readonly (string | undefined)[];
  memoryBytes: number;
  vcpus: number;
}

export interface OutputDriver {
  readonly kind: OutputKind;
  /** Whether the disks are thrown away once converted (`-o null`). */
  readonly discards: boolean;
  /** The directory the disks are written to (it must exist); for `-o null`, undefined (a scratch directory). */
  diskDir(request: OutputRequest): Promise<string | undefined>;
  /** Refuses, before anything is written, a guest this output has already (files, a defined domain). */
  checkFree(request: OutputRequest, dir: string, name: string): Promise<void>;
  /** Publishes the guest once its disks are in place; returns the files written besides the disks. */
  publish(request: OutputRequest, target: PublishRequest): Promise<string[]>;
}

/**
 * Writes `content` to `path` under a temporary name and links it into place only when complete
 * (a kill leaves no `path`); never replaces an existing file.
 */
export async function writeNewFile(path: string, content: string, mode = 0o644): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}${TEMPORARY_INFIX}${randomBytes(6).toString("hex")}`);
  const handle = await open(temporary, "wx", mode);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temporary, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new HvTargetsError("HV_EXISTS", `${path} appeared while the guest was converted; remove it and convert again`, { path });
      throw err;
    }
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}
