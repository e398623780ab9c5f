import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import type { BlockDevice, DiskFormat, OpenContext } from "./block-device.js";
import { StorageError } from "./errors.js";
import { driverFor, probeFormat } from "./formats.js";
import { ImageFile } from "./image-file.js";

export interface OpenDiskOptions {
  /** The image's format; probed from its content when omitted. A format its content contradicts is STORAGE_FORMAT_MISMATCH. */
  format?: DiskFormat;
  /** Open for writing (raw and qcow2 only). Backing files are always opened read-only. */
  writable?: boolean;
  /**
   * A writable image that is thrown away after use (a conversion's working overlay): nothing it
   * writes is made durable — no syncs order its metadata, `flush` does not sync — so it never
   * waits for the host's other writes to reach the disk. A crash may leave it corrupt.
   */
  scratch?: boolean;
  /** Longest backing chain followed, counting the top image (default 64). */
  maxChainLength?: number;
  /**
   * Directories, besides the directory of the image naming them, where backing files (and vmdk
   * extents, qcow2 data files) may lie. Nothing else is ever opened: see `openDisk`.
   */
  trustedBackingDirs?: readonly string[];
}

/** Where a device came from, kept by `openDisk` for `diskInfo`, the chain walkers and `convertDisk`. */
export interface Layer {
  /** The path the image was opened by (absolute), or the name of the device it lies in. */
  path: string;
  /** Its format; undefined for a backing file that could not be opened. */
  format: DiskFormat | undefined;
  /** The backing device it opened, if any. */
  backing: BlockDevice | undefined;
  /** Why this layer could not be opened (only in the chains `diskInfo` walks); the chain ends here. */
  problem?: StorageError;
  /** `dev:ino` of every host file this image and the images below it read. */
  files: ReadonlySet<string>;
}

const layers = new WeakMap<BlockDevice, Layer>();

/** How `openDisk` opened a device: its path, format and backing device; undefined for devices from elsewhere. */
export function layerOf(device: BlockDevice): Layer | undefined {
  return layers.get(device);
}

export const DEFAULT_MAX_CHAIN_LENGTH = 64;

interface Walk {
  max: number;
  /** Trusted directories, as given and with symlinks resolved. */
  trusted: string[];
  /** diskInfo: a backing file that cannot be opened is recorded in its layer instead of thrown. */
  tolerant: boolean;
}

/**
 * Opens a disk image — a file, or an opened device the caller keeps owning (an OVA member,
 * a slice of another disk) — as a `BlockDevice`, following its backing chain.
 *
 * Nothing the image names is trusted: a backing file (qcow2 backing file, vmdk parent, qcow2
 * external data file, vmdk extent) must resolve, symlinks followed, inside the directory of the
 * image naming it or one of `trustedBackingDirs` (else STORAGE_PATH_ESCAPE), and be a regular file
 * (else STORAGE_NOT_A_FILE). A backing file without a recorded format is opened as raw, and only
 * when it holds no other format's magic (else STORAGE_BACKING_FORMAT): an image written by a guest
 * into its own disk must not make leapp read host files. Loops are STORAGE_BACKING_LOOP, chains
 * longer than `maxChainLength` STORAGE_BACKING_DEPTH, missing backing files STORAGE_BACKING_MISSING.
 * The top-level image may be a block device; FIFOs, sockets and character devices are refused
 * without blocking. A missing top-level image is the host's ENOENT error.
 */
export async function openDisk(source: string | BlockDevice, options: OpenDiskOptions = {}): Promise<BlockDevice> {
  return openTop(source, options, false);
}

/** `openDisk` for `diskInfo`: backing files that cannot be opened end the chain with a `problem` layer. */
export function openDiskForInfo(source: string | BlockDevice, options: OpenDiskOptions = {}): Promise<BlockDevice> {
  return openTop(source, options, true);
}

async function openTop(source: string | BlockDevice, options: OpenDiskOptions, tolerant: boolean): Promise<BlockDevice> {
  const walk: Walk = { max: options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH, trusted: await trustedDirs(options.trustedBackingDirs ?? []), tolerant };
  const writable = options.writable ?? false;
  const file = typeof source === "string" ? await ImageFile.open(resolve(source), { writable, allowBlockDevice: true }) : ImageFile.overDevice(source, deviceName(source));
  return openImage(file, options.format, "any", writable, [], walk, options.scratch ?? false);
}

function deviceName(device: BlockDevice): string {
  const layer = layerOf(device);
  return layer ? `${layer.path} (a ${device.size}-byte range of it)` : `a ${device.format} device of ${device.size} bytes`;
}

async function trustedDirs(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const absolute = resolve(dir);
    let real: string;
    try {
      real = await realpath(absolute);
    } catch (cause) {
      throw new StorageError("STORAGE_BACKING_MISSING", `the trusted backing directory ${absolute} does not exist`, { path: absolute, cause });
    }
    out.push(absolute, real);
  }
  return out;
}

/** Backing names that are not plain file paths (qemu's protocols and json: pseudo-files). */
function isProtocolName(name: string): boolean {
  return /^json:/i.test(name) || /^[a-z][a-z0-9+.-]*:\/\//i.test(name) || /^(nbd|rbd|iscsi|gluster|ssh|sheepdog|vxhs|nfs|http|https|ftp|ftps):/i.test(name);
}

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * The real path of a file an image names, checked against the confinement rule. The name is
 * checked as written before the file system is asked anything, so a refused name never reveals
 * whether a host file exists.
 */
async function confinedPath(name: string, naming: ImageFile, what: string, walk: Walk): Promise<string> {
  const directory = naming.directory;
  const flag = "allow its directory with --backing-dir DIR (library: trustedBackingDirs) if you trust it";
  const escape = (where: string) =>
    new StorageError("STORAGE_PATH_ESCAPE", `${naming.path}: its ${what} "${name}" ${where}; leapp opens the files an image names only beside it — ${flag}`, { path: naming.path });
  if (name === "" || name.includes("\0")) throw escape("is not a usable file name");
  if (isProtocolName(name)) {
    throw new StorageError("STORAGE_UNSUPPORTED", `${naming.path}: its ${what} "${name}" is not a local file; only local files are supported`, { path: naming.path });
  }
  if (directory === undefined && !isAbsolute(name)) throw escape("is relative, but the image lies inside a device, not a directory");
  const candidate = isAbsolute(name) ? resolve(name) : resolve(directory!, name);
  const roots = directory === undefined ? walk.trusted : [directory, ...walk.trusted];
  if (!roots.some((root) => inside(root, candidate))) throw escape(`resolves to ${candidate}, outside ${directory ?? "any trusted directory"}`);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") {
      throw new StorageError("STORAGE_BACKING_MISSING", `${naming.path}: its ${what} ${candidate} does not exist; restore it beside the image (or rebase the image)`, { path: candidate, cause });
    }
    throw new StorageError("STORAGE_BACKING_MISSING", `${naming.path}: its ${what} ${candidate} cannot be looked up (${(cause as NodeJS.ErrnoException).code ?? "error"})`, { path: candidate, cause });
  }
  const realRoots = directory === undefined ? walk.trusted : [await realpath(directory), ...walk.trusted];
  if (!realRoots.some((root) => inside(root, real))) throw escape(`is a symbolic link leading outside ${directory ?? "any trusted directory"}`);
  return real;
}

/** A backing file that could not be opened, standing in for it in the chains `diskInfo` walks. */
function unavailable(problem: StorageError): BlockDevice {
  const fail = () => Promise.reject(problem);
  return {
    format: "raw",
    size: Number.MAX_SAFE_INTEGER,
    writable: false,
    read: fail,
    // eslint-disable-next-line require-yield
    extents: async function* () {
      throw problem;
    },
    write: fail,
    flush: async () => {},
    close: async () => {},
  };
}

async function openImage(file: ImageFile, declared: DiskFormat | undefined, probing: "any" | "raw", writable: boolean, chain: string[], walk: Walk, scratch = false): Promise<BlockDevice> {
  let format: DiskFormat;
  const identity = file.identity ?? file.path;
  try {
    if (chain.includes(identity)) throw new StorageError("STORAGE_BACKING_LOOP", `backing chain loops: ${file.path} is already part of it`, { path: file.path });
    if (chain.length + 1 > walk.max) {
      throw new StorageError("STORAGE_BACKING_DEPTH", `the backing chain is longer than ${walk.max} images at ${file.path}; refusing to follow it further`, { path: file.path });
    }
    format = await probeFormat(file, declared, probing);
  } catch (err) {
    await file.close();
    throw err;
  }
  const files = new Set<string>(file.identity ? [file.identity] : []);
  const opened: BlockDevice[] = [];
  let backing: BlockDevice | undefined;
  const context: OpenContext = {
    writable,
    scratch,
    async openBacking(name, backingFormat) {
      let device: BlockDevice;
      try {
        const real = await confinedPath(name, file, "backing file", walk);
        const backingFile = await ImageFile.open(real, { noFollow: true });
        device = await openImage(backingFile, backingFormat, "raw", false, [...chain, identity], walk);
      } catch (err) {
        if (!walk.tolerant || !(err instanceof StorageError || (err as { syscall?: unknown }).syscall)) throw err;
        const problem = err instanceof StorageError ? err : new StorageError("STORAGE_BACKING_MISSING", `${file.path}: its backing file "${name}" cannot be opened: ${(err as Error).message}`, { path: file.path, cause: err });
        device = unavailable(problem);
        const path = file.directory !== undefined && !isAbsolute(name) ? resolve(file.directory, name) : name;
        layers.set(device, { path, format: backingFormat, backing: undefined, problem, files: new Set() });
      }
      for (const f of layerOf(device)?.files ?? []) files.add(f);
      opened.push(device);
      backing = device;
      return device;
    },
    async openFile(name, what) {
      const real = await confinedPath(name, file, what, walk);
      const other = await ImageFile.open(real, { noFollow: true });
      if (other.identity) files.add(other.identity);
      return other;
    },
  };
  let device: BlockDevice;
  try {
    device = await driverFor(format).open(file, context);
  } catch (err) {
    // A driver that failed after opening its backing file leaves it to us.
    await Promise.allSettled(opened.map((d) => d.close()));
    throw err;
  }
  if (writable && !device.writable) {
    await device.close();
    throw new StorageError("STORAGE_UNSUPPORTED", `${file.path}: ${format} images can only be opened read-only; convert to qcow2 or raw to write`, { path: file.path });
  }
  layers.set(device, { path: file.path, format, backing, files });
  return device;
}
