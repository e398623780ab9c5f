import { randomBytes } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { mkdir, mkdtemp, open, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { createOverlay, openDisk, TEMPORARY_INFIX, type BlockDevice } from "@leapp/storage";
import { diskName } from "../block/volumes.js";
import { InspectError } from "../errors.js";
import { openImageGuest } from "../guestfs/image-guest.js";
import type { WritableGuest } from "../guestfs/writable-guest.js";
import { applyOperations, checkOperations, type ApplyOptions, type ApplyResult } from "./apply.js";
import type { CustomizeOperation } from "./operations.js";

/**
 * Where the changes go: new qcow2 overlays backed by the images (one per disk, in disk order),
 * overlays named `NAME-sdX.qcow2` in a directory, or the images themselves.
 */
export type CustomizeOutput = { overlays: readonly string[] } | { overlayDir: string } | { inPlace: true };

export interface CustomizeOptions extends ApplyOptions {
  /** Required unless `dryRun`. */
  output?: CustomizeOutput;
  /** Directories where the images' own backing files may lie besides their own (see @leapp/storage's openDisk). */
  trustedBackingDirs?: readonly string[];
}

export interface CustomizeResult extends ApplyResult {
  /** The overlays made (in a dry run: the ones that would be). */
  overlays: string[];
  /** The images edited in place. */
  inPlace: string[];
  dryRun: boolean;
}

/** `disk.img` → `disk`, `web01.qcow2` → `web01`: the stem overlays in a directory are named after. */
function stem(image: string): string {
  const name = basename(image);
  const dot = name.indexOf(".", 1);
  return dot > 0 ? name.slice(0, dot) : name;
}

/** The overlay paths for `images`, checked: one per image, none existing yet, none an image. */
export function overlayPaths(images: readonly string[], output: CustomizeOutput): string[] {
  if ("inPlace" in output) return [];
  const paths = "overlays" in output ? output.overlays.map((p) => resolve(p)) : images.map((image, i) => join(resolve(output.overlayDir), `${stem(image)}-${basename(diskName(i))}.qcow2`));
  if (paths.length !== images.length) {
    throw new InspectError("INSPECT_INVALID", `${images.length} disk image(s) but ${paths.length} overlay(s): give one -o per disk, in disk order, or -o DIR/`);
  }
  for (const [i, path] of paths.entries()) {
    if (images.some((image) => resolve(image) === path) || paths.indexOf(path) !== i) throw new InspectError("INSPECT_INVALID", `overlay ${path} is named twice, or names a source image`, { path });
    if (existsSync(path)) throw new InspectError("INSPECT_EXISTS", `overlay ${path} exists already; remove it or choose another name (leapp never overwrites)`, { path });
  }
  return paths;
}

/** A name in the target's directory that no finished overlay has: storage's name for outputs not yet complete. */
const temporaryName = (path: string) => join(dirname(path), `.${basename(path)}${TEMPORARY_INFIX}${randomBytes(6).toString("hex")}`);

/**
 * Applies `operations` to the guest on `images` (its disks, in order) — virt-customize's job,
 * with no appliance: the filesystems are written directly, in this process.
 *
 * With overlays the images are never opened for writing: each overlay is created under a
 * temporary name beside its final one, every change goes into it, everything is flushed, and only
 * then is it renamed into place — an error, an abort or a kill leaves no overlay (only, after a
 * kill, a `.NAME.leapp-tmp-*` file, which nothing takes for an overlay). `inPlace` writes the
 * images themselves (raw or qcow2). A dry run resolves every path on throwaway overlays in the
 * system's temporary directory and reports where each change would land; it writes nothing else.
 */
export async function customize(images: readonly string[], operations: readonly CustomizeOperation[], options: CustomizeOptions = {}): Promise<CustomizeResult> {
  if (images.length === 0) throw new InspectError("INSPECT_NOT_FOUND", "no disk image given; name the guest's disk images in disk order");
  checkOperations(operations);
  const dryRun = options.dryRun ?? false;
  if (!options.output && !dryRun) throw new InspectError("INSPECT_INVALID", "say where the changes go: overlays (-o), a directory for them (-o DIR/), or in place (--in-place)");
  const output = options.output ?? { overlays: [] };
  const finals = options.output ? overlayPaths(images, output) : [];
  const inPlace = "inPlace" in output && !dryRun;
  options.signal?.throwIfAborted();

  let scratch: string | undefined;
  let partial: string[] = [];
  let guest: WritableGuest | undefined;
  const devices: BlockDevice[] = [];
  try {
    let opened: readonly string[] = images;
    if (dryRun) {
      scratch = await mkdtemp(join(tmpdir(), "leapp-customize-"));
      partial = images.map((image, i) => join(scratch!, `${i}.qcow2`));
    } else if (!inPlace) {
      if ("overlayDir" in output) await mkdir(resolve(output.overlayDir), { recursive: true });
      partial = finals.map(temporaryName);
    }
    // The overlays lie elsewhere than their bases: the bases' directories are the ones to trust.
    // (an image named through a symlink lies where the link leads: that directory too)
    const trustedBackingDirs = [...new Set([...(options.trustedBackingDirs ?? []), ...images.flatMap((i) => [dirname(resolve(i)), dirname(realpathSync(i))])])];
    for (const [i, path] of partial.entries()) await createOverlay(images[i]!, path, { trustedBackingDirs, ...(options.signal ? { signal: options.signal } : {}) });
    if (partial.length > 0) opened = partial;
    for (const path of opened) devices.push(await openDisk(path, { writable: true, trustedBackingDirs }));
    guest = await openImageGuest(devices, { writable: true });
    const result = await applyOperations(guest, operations, options);
    if (!dryRun) await guest.flush();
    const closing = guest;
    guest = undefined;
    await closing.close();
    for (const device of devices.splice(0)) await device.close();
    options.signal?.throwIfAborted();
    if (!dryRun && !inPlace) {
      for (const path of partial) await syncFile(path);
      for (const [i, path] of partial.entries()) await rename(path, finals[i]!);
      partial = [];
      for (const dir of new Set(finals.map((f) => dirname(f)))) await syncFile(dir);
    }
    return { overlays: finals, inPlace: inPlace ? images.map((i) => resolve(i)) : [], dryRun, ...result };
  } finally {
    await guest?.close().catch(() => undefined);
    await Promise.allSettled(devices.map((d) => d.close()));
    if (!dryRun) await Promise.all(partial.map((p) => rm(p, { force: true })));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** fsync: the data of a finished overlay is on disk before its name says it is finished. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
