import { InspectError } from "../errors.js";
import type { Volume } from "../block/volumes.js";
import { openFilesystem } from "../fs/drivers.js";
import type { Filesystem, NodeAttributes, WritableFilesystem, WriteOptions } from "../fs/filesystem.js";
import { MAX_PATH_LENGTH, joinGuestPath, normalizeGuestPath, splitGuestPath } from "./guest-path.js";
import type { WritableGuestFS } from "./guestfs.js";
import { mountLocator, mountTree } from "./mount-table.js";
import { MAX_SYMLINK_HOPS, pathTree, resolvingTreeFS, walkGuestPath } from "./resolving-guestfs.js";

/** Longest name one directory entry may have, in bytes (ext2/3/4 and XFS alike). */
const MAX_NAME_BYTES = 255;

/** A filesystem the guest mounts, as a writable guest holds it. */
export interface GuestMount {
  mountpoint: string;
  /** Writable, or a filesystem leapp only reads: then every change under it is INSPECT_READ_ONLY. */
  fs: Filesystem;
  /** The volume it lives on as libguestfs names it (/dev/sda1, /dev/VG/LV), for reports. */
  device: string;
  /** Why it is not writable, when it is not (the driver's refusal). */
  refusal?: Error;
}

/** A writable guest that also tells where each path lands. */
export interface WritableGuest extends WritableGuestFS {
  readonly mounts: readonly GuestMount[];
  /**
   * The filesystem a change of `path` touches: for a name yet to be created, its directory's —
   * and under directories yet to be made, the one they would be made on.
   */
  mountOf(path: string): Promise<GuestMount>;
  /**
   * Where `path` leads once every symlink — the last one included — is followed in the guest:
   * what open(2) with O_CREAT would write. The last component need not exist.
   */
  realpath(path: string): Promise<string>;
}

/** A change that names its target by guest path: where it lands, once its directory is resolved. */
interface Placement {
  /** The physical guest path (no symlink in it). */
  path: string;
  mount: GuestMount;
  /** The path inside that filesystem; "/" when `path` is the mountpoint itself. */
  inner: string;
}

/**
 * A whole guest over its mounts, for reading and writing by guest path: symlinks resolve inside
 * the guest (as for reading: absolute targets mean the guest's `/`, at most 40 hops), except the
 * last component of a name being created, removed or renamed, which is never followed. Each change
 * goes to the filesystem mounted there; one change at a time, in call order. Nothing is written to
 * the devices until `flush`; `close` does not flush.
 */
export function writableGuestFS(mounts: readonly GuestMount[], onClose: () => Promise<void> = async () => {}): WritableGuest {
  const tree = mountTree(mounts);
  const locate = mountLocator(mounts);
  // Lookups are cached (the guest changes only through this object), and forgotten after a removal or rename.
  const paths = pathTree(
    {
      ...tree,
      async close() {
        await tree.close();
        await onClose();
      },
    },
    true,
  );
  const reads = resolvingTreeFS(paths);
  /** The physical path `path` names (its directories' links followed; the last one only if `followLast`). */
  const resolve = async (path: string, followLast: boolean): Promise<string> => {
    const { dir, name } = await walkGuestPath(paths, path, followLast);
    return name === undefined ? dir : dir === "/" ? `/${name}` : `${dir}/${name}`;
  };
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs changes one after the other: the drivers below see one caller. */
  function serialized<T>(change: () => Promise<T>): Promise<T> {
    const run = queue.then(() => {
      if (closed) throw new InspectError("INSPECT_CLOSED", "the guest was closed; open it again to change it");
      return change();
    });
    queue = run.catch(() => undefined);
    return run;
  }

  function checkPath(path: string): string[] {
    if (typeof path !== "string" || !path.startsWith("/")) throw new InspectError("INSPECT_INVALID", `${JSON.stringify(path)} is not an absolute guest path; guest paths start with /`, { path });
    if (path.includes("\0")) throw new InspectError("INSPECT_INVALID_NAME", `${JSON.stringify(path)} holds a NUL byte, which no file name may`, { path });
    if (path.length > MAX_PATH_LENGTH) throw new InspectError("INSPECT_INVALID_NAME", `a guest path of ${path.length} characters is longer than ${MAX_PATH_LENGTH}`, { path: path.slice(0, 80) + "…" });
    const components = splitGuestPath(path);
    for (const c of components) {
      if (Buffer.byteLength(c) > MAX_NAME_BYTES) throw new InspectError("INSPECT_INVALID_NAME", `a name of ${Buffer.byteLength(c)} bytes is longer than the ${MAX_NAME_BYTES} a filesystem allows (${c.slice(0, 40)}…)`, { path });
    }
    return components;
  }

  /** Where a name lands: its directory resolved in the guest, the name itself not followed. */
  async function place(path: string): Promise<Placement> {
    const components = checkPath(path);
    const name = components.pop();
    if (name === undefined) return at("/");
    if (name === "..") throw new InspectError("INSPECT_INVALID_NAME", `${path} ends in "..": name the directory itself`, { path });
    const dir = await resolve(joinGuestPath(components), true);
    return at(dir === "/" ? `/${name}` : `${dir}/${name}`);
  }

  /** An existing file, every symlink followed. */
  async function follow(path: string): Promise<Placement> {
    checkPath(path);
    return at(await resolve(path, true));
  }

  function at(physical: string): Placement {
    const { mount, inner } = locate(physical);
    return { path: physical, mount, inner };
  }

  function writable(p: Placement): WritableFilesystem {
    if (!p.mount.fs.writable) {
      const { device, mountpoint, refusal } = p.mount;
      throw new InspectError(
        "INSPECT_READ_ONLY",
        `${p.path} is on ${device} (${p.mount.fs.type}, mounted at ${mountpoint}), which leapp cannot write${refusal ? `: ${refusal.message}` : ""}; leave that filesystem out of the changes`,
        { path: p.path, ...(refusal ? { cause: refusal } : {}) },
      );
    }
    return p.mount.fs as WritableFilesystem;
  }

  /** Removing or renaming a mountpoint — or a directory holding one — would tear the guest's mount table. */
  function notAMountpoint(p: Placement, what: string): void {
    const held = mounts.find((m) => m.mountpoint !== "/" && (m.mountpoint === p.path || m.mountpoint.startsWith(`${p.path}/`)));
    if (held || p.path === "/") {
      throw new InspectError("INSPECT_INVALID", `cannot ${what} ${p.path}: the guest mounts ${held?.device ?? "its root"} at ${held?.mountpoint ?? "/"}`, { path: p.path });
    }
  }

  function sameFilesystem(a: Placement, b: Placement, what: string): void {
    if (a.mount !== b.mount) {
      throw new InspectError("INSPECT_CROSS_DEVICE", `cannot ${what} ${a.path} to ${b.path}: they are on different filesystems (${a.mount.mountpoint} and ${b.mount.mountpoint}); copy and delete instead`, { path: b.path });
    }
  }

  const guest: WritableGuest = {
    ...reads,
    writable: true,
    mounts,

    writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, attributes?: NodeAttributes, options?: WriteOptions) {
      return serialized(async () => {
        const p = await place(path);
        await writable(p).writeFile(p.inner, content, attributes, options);
      });
    },
    truncate(path: string, size: number) {
      return serialized(async () => {
        const p = await follow(path);
        await writable(p).truncate(p.inner, size);
      });
    },
    mkdir(path: string, attributes?: NodeAttributes) {
      return serialized(async () => {
        const p = await place(path);
        if (p.inner === "/") throw new InspectError("INSPECT_EXISTS", `${p.path} exists (a mountpoint)`, { path });
        await writable(p).mkdir(p.inner, attributes);
      });
    },
    rmdir(path: string) {
      return serialized(async () => {
        const p = await place(path);
        notAMountpoint(p, "remove");
        await writable(p).rmdir(p.inner);
        paths.forget();
      });
    },
    unlink(path: string) {
      return serialized(async () => {
        const p = await place(path);
        notAMountpoint(p, "remove");
        await writable(p).unlink(p.inner);
        paths.forget();
      });
    },
    symlink(target: string, path: string, attributes?: NodeAttributes) {
      return serialized(async () => {
        if (target === "" || target.includes("\0") || target.length > MAX_PATH_LENGTH) {
          throw new InspectError("INSPECT_INVALID", `a symbolic link's target must be 1 to ${MAX_PATH_LENGTH} characters without NUL`, { path });
        }
        const p = await place(path);
        if (p.inner === "/") throw new InspectError("INSPECT_EXISTS", `${p.path} exists (a mountpoint)`, { path });
        await writable(p).symlink(target, p.inner, attributes);
      });
    },
    link(existing: string, path: string) {
      return serialized(async () => {
        const from = await place(existing);
        const to = await place(path);
        sameFilesystem(from, to, "hard-link");
        await writable(to).link(from.inner, to.inner);
      });
    },
    rename(from: string, to: string) {
      return serialized(async () => {
        const source = await place(from);
        const target = await place(to);
        notAMountpoint(source, "rename");
        notAMountpoint(target, "replace");
        sameFilesystem(source, target, "rename");
        await writable(target).rename(source.inner, target.inner);
        paths.forget();
      });
    },
    mknod(path, type, attributes) {
      return serialized(async () => {
        const p = await place(path);
        if (p.inner === "/") throw new InspectError("INSPECT_EXISTS", `${p.path} exists (a mountpoint)`, { path });
        await writable(p).mknod(p.inner, type, attributes);
      });
    },
    chmod(path: string, mode: number) {
      return serialized(async () => {
        const p = await follow(path);
        await writable(p).chmod(p.inner, mode);
      });
    },
    chown(path: string, uid: number, gid: number) {
      return serialized(async () => {
        const p = await follow(path);
        await writable(p).chown(p.inner, uid, gid);
      });
    },
    utimes(path: string, atimeNs: bigint, mtimeNs: bigint) {
      return serialized(async () => {
        const p = await follow(path);
        await writable(p).utimes(p.inner, atimeNs, mtimeNs);
      });
    },
    setxattr(path: string, name: string, value: Uint8Array) {
      return serialized(async () => {
        const p = await place(path);
        await writable(p).setxattr(p.inner, name, value);
      });
    },
    removexattr(path: string, name: string) {
      return serialized(async () => {
        const p = await place(path);
        await writable(p).removexattr(p.inner, name);
      });
    },
    async mountpointOf(path: string) {
      return (await place(path)).mount.mountpoint;
    },
    async mountOf(path: string) {
      try {
        return (await place(path)).mount;
      } catch (err) {
        if (!(err instanceof InspectError) || ["INSPECT_CLOSED", "INSPECT_INVALID", "INSPECT_INVALID_NAME"].includes(err.code)) throw err;
        // The deepest directory that resolves decides; below it the path is taken as written.
        const components = checkPath(path);
        for (let n = components.length - 1; n >= 0; n--) {
          let dir: string;
          try {
            dir = await resolve(joinGuestPath(components.slice(0, n)), true);
          } catch (inner) {
            if (inner instanceof InspectError && n > 0) continue;
            throw inner;
          }
          return locate(normalizeGuestPath(`${dir}/${components.slice(n).join("/")}`)).mount;
        }
        throw err;
      }
    },
    async realpath(path: string) {
      let p = (await place(path)).path;
      for (let hops = 0; ; hops++) {
        let type;
        try {
          type = (await tree.lstat(p)).type;
        } catch (err) {
          if (err instanceof InspectError && err.code === "INSPECT_NOT_FOUND") return p;
          throw err;
        }
        if (type !== "symlink") return p;
        if (hops >= MAX_SYMLINK_HOPS) throw new InspectError("INSPECT_SYMLINK_LOOP", `too many symbolic links while resolving ${path} (a link loop in the guest?)`, { path });
        const target = await tree.readlink(p);
        if (target === "") throw new InspectError("INSPECT_NOT_FOUND", `empty symbolic link ${p} in the guest`, { path });
        const next = target.startsWith("/") ? target : `${p.slice(0, p.lastIndexOf("/"))}/${target}`;
        // A link to ".." names a directory that exists: resolve it whole.
        p = splitGuestPath(next).at(-1) === ".." ? await resolve(next, true) : (await place(next)).path;
      }
    },
    flush() {
      return serialized(async () => {
        for (const m of mounts) if (m.fs.writable) await (m.fs as WritableFilesystem).flush();
      });
    },
    async close() {
      await queue;
      closed = true;
      await reads.close();
    },
  };
  return guest;
}

/** A volume the guest mounts, planned by the image source. */
export interface PlannedMount {
  mountpoint: string;
  volume: Pick<Volume, "device" | "block" | "fsType">;
}

/**
 * Opens the filesystem of each planned mount for writing (the first plan of a mountpoint wins).
 * One that leapp cannot write (no writer for its type, a journal to replay, a feature the writer
 * does not handle) is opened read-only instead, or — unreadable too — refuses everything; either
 * way changes under it fail with the driver's reason, and changes elsewhere go on.
 */
export async function openWritableMounts(planned: readonly PlannedMount[], onClose: () => Promise<void>): Promise<WritableGuest> {
  const mounts: GuestMount[] = [];
  try {
    for (const { mountpoint, volume } of planned) {
      if (mounts.some((m) => m.mountpoint === mountpoint)) continue;
      try {
        mounts.push({ mountpoint, device: volume.device, fs: await openFilesystem(volume, { writable: true }) });
      } catch (refusal) {
        if (!(refusal instanceof InspectError)) throw refusal;
        let fs: Filesystem;
        try {
          fs = await openFilesystem(volume);
        } catch (err) {
          if (!(err instanceof InspectError)) throw err;
          fs = refusingFilesystem(volume.fsType ?? "unknown", refusal);
        }
        mounts.push({ mountpoint, device: volume.device, fs, refusal });
      }
    }
  } catch (err) {
    await Promise.allSettled(mounts.map((m) => m.fs.close()));
    throw err;
  }
  return writableGuestFS(mounts, onClose);
}

/** Stands at a mountpoint leapp can neither read nor write, so nothing lands on the directory below it. */
function refusingFilesystem(type: string, reason: InspectError): Filesystem {
  const refuse = async (): Promise<never> => {
    throw new InspectError(reason.code, reason.message, { cause: reason });
  };
  return {
    type,
    uuid: undefined,
    label: undefined,
    writable: false,
    lstat: refuse,
    readdir: refuse,
    readFile: refuse,
    openFile: refuse,
    readlink: refuse,
    xattrs: refuse,
    // eslint-disable-next-line require-yield
    async *freeRanges() {
      await refuse();
    },
    async close() {},
  };
}
