import { openDisk, type BlockDevice } from "@leapp/storage";
import { InspectError } from "../errors.js";
import { canonicalMountpoint, isIgnoredFstabEntry, parseFstab, resolveFstabSpec } from "./fstab.js";
import type { GuestVolume, InspectableGuest } from "./guest-source.js";
import type { Filesystem } from "./guestfs.js";
import { looksLikeLinuxRoot } from "./guest-reader.js";
import { mountTree, type Mount } from "./mount-table.js";
import { SMALL_FILE_BYTES } from "../read-limits.js";
import { resolvingGuestFS } from "./resolving-guestfs.js";
import { scanDisks } from "../block/scan.js";
import { decodeText } from "../text.js";
import type { Volume } from "../block/volumes.js";
import { openFilesystem } from "../fs/drivers.js";
import { openWritableMounts, type WritableGuest } from "./writable-guest.js";
import { readAheadDevice } from "../block/read-ahead.js";

/** An fstab spec that names a block device (not tmpfs, proc, an NFS export…). */
function namesBlockDevice(spec: string): boolean {
  return spec.startsWith("/dev/") || /^(UUID|LABEL|PARTUUID)=/.test(spec);
}

export interface OpenImageOptions {
  /** Open this root (a device name such as /dev/sda2) when the disks hold several operating systems. */
  root?: string;
  /** Directories where the images' backing files may lie besides their own (see @leapp/storage's openDisk). */
  trustedBackingDirs?: readonly string[];
  /**
   * Open the disks and every filesystem the guest mounts for writing, and return a writable
   * guest. Only for images meant to be written (overlays, images named for in-place edits): a
   * disk that cannot be written is refused; a filesystem leapp cannot write stays readable and
   * refuses changes (INSPECT_READ_ONLY, with the reason).
   */
  writable?: boolean;
}

/**
 * A guest from its disk images (in guest disk order; any format @leapp/storage reads, as paths or
 * as opened devices, which stay the caller's to close — an OVA's disk opened in place): the disks
 * are scanned for partitions, LVM and filesystems, the first Linux root is found as libguestfs
 * finds it, and the other filesystems are mounted where the guest's /etc/fstab puts them.
 * Read-only unless `writable` is asked for: then the images themselves are written.
 */
export async function openImageGuest(sources: readonly (string | BlockDevice)[], options: OpenImageOptions & { writable: true }): Promise<InspectableGuest & WritableGuest>;
export async function openImageGuest(sources: readonly (string | BlockDevice)[], options?: OpenImageOptions): Promise<InspectableGuest>;
export async function openImageGuest(sources: readonly (string | BlockDevice)[], options: OpenImageOptions = {}): Promise<InspectableGuest> {
  if (sources.length === 0) throw new InspectError("INSPECT_NOT_FOUND", "no disk image given; name the guest's disk images in disk order");
  const paths = sources.map((s, i) => (typeof s === "string" ? s : `disk ${i + 1} (an opened device)`));
  const disks: BlockDevice[] = [];
  const owned: BlockDevice[] = [];
  const opened: Filesystem[] = [];
  const closeAll = async () => {
    await Promise.allSettled(opened.map((f) => f.close()));
    await Promise.allSettled(owned.map((d) => d.close()));
  };
  try {
    for (const source of sources) {
      if (typeof source !== "string") {
        if (options.writable && !source.writable) throw new InspectError("INSPECT_READ_ONLY", `${paths[disks.length]} is opened read-only; open it writable to change the guest`);
        disks.push(source);
      } else {
        const disk = await openDisk(source, { writable: options.writable ?? false, ...(options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {}) });
        owned.push(disk);
        // Read-only: small reads (inodes, directories, small files) come from shared windows of the image.
        disks.push(options.writable ? disk : readAheadDevice(disk));
      }
    }
    const volumes = await scanDisks(disks);
    const guestVolumes: GuestVolume[] = volumes
      .filter((v) => v.content === "filesystem" || v.content === "swap")
      .map((v) => ({ device: v.device, fsType: v.fsType, uuid: v.uuid, label: v.label, partUuid: v.partUuid }));

    const roots: { volume: Volume; fs: Filesystem }[] = [];
    for (const volume of volumes) {
      if (volume.content !== "filesystem") continue;
      let fs: Filesystem;
      try {
        fs = await openFilesystem(volume);
      } catch (err) {
        if (err instanceof InspectError) continue; // a filesystem we cannot read holds no root we can use
        throw err;
      }
      if (await looksLikeLinuxRoot(resolvingGuestFS(mountTree([{ mountpoint: "/", fs }]), { cacheLookups: true }))) {
        roots.push({ volume, fs });
        opened.push(fs);
      } else await fs.close();
    }
    if (roots.length === 0) {
      throw new InspectError("INSPECT_NO_OS", `no operating system found on ${paths.join(", ")}: no filesystem holds a Linux root (is the image of a data disk, or of an OS leapp does not read?)`);
    }
    const chosen = options.root === undefined ? roots[0] : roots.find((r) => r.volume.device === options.root);
    if (!chosen) throw new InspectError("INSPECT_NOT_FOUND", `no root ${options.root} on these disks; roots found: ${roots.map((r) => r.volume.device).join(", ")}`);
    for (const r of roots) {
      if (r !== chosen) {
        await r.fs.close();
        opened.splice(opened.indexOf(r.fs), 1);
      }
    }

    const mounts: Mount[] = [{ mountpoint: "/", fs: chosen.fs }];
    const planned = [{ mountpoint: "/", volume: chosen.volume }];
    const rootOnly = resolvingGuestFS(mountTree(mounts), { cacheLookups: true });
    let fstabText = "";
    try {
      fstabText = decodeText(await rootOnly.readFile("/etc/fstab", { maxBytes: SMALL_FILE_BYTES }));
    } catch (err) {
      if (!(err instanceof InspectError)) throw err;
    }
    const warnings: string[] = [];
    for (const entry of parseFstab(fstabText)) {
      if (isIgnoredFstabEntry(entry)) continue;
      const mountpoint = canonicalMountpoint(entry.mountpoint);
      const device = resolveFstabSpec(entry.spec, guestVolumes, disks.length, chosen.volume.device);
      // The root was found by its content; only the other filesystems can be missing.
      if (device === undefined && mountpoint !== "/" && namesBlockDevice(entry.spec)) {
        warnings.push(`/etc/fstab ${entry.vfstype === "swap" ? "uses swap on" : `mounts ${mountpoint} from`} ${entry.spec}, which is on none of the given disks: name all of the guest's disks, in order`);
      }
      if (entry.vfstype === "swap") continue;
      if (!mountpoint.startsWith("/") || mountpoint === "/" || mounts.some((m) => m.mountpoint === mountpoint)) continue;
      const volume = device === undefined ? undefined : volumes.find((v) => v.device === device && v.content === "filesystem");
      if (!volume || volume === chosen.volume) continue;
      planned.push({ mountpoint, volume });
      try {
        const fs = await openFilesystem(volume);
        opened.push(fs);
        mounts.push({ mountpoint, fs });
      } catch (err) {
        // The guest still inspects without that mount (e.g. a filesystem type we do not read).
        if (!(err instanceof InspectError)) throw err;
      }
    }

    const context = {
      kind: "image" as const,
      location: [...paths],
      rootDevice: chosen.volume.device,
      volumes: guestVolumes,
      diskCount: disks.length,
      otherRoots: roots.filter((r) => r !== chosen).map((r) => r.volume.device),
      warnings,
    };
    if (options.writable) {
      await Promise.allSettled(opened.splice(0).map((f) => f.close()));
      return Object.assign(await openWritableMounts(planned, async () => void (await Promise.allSettled(owned.map((d) => d.close())))), { context });
    }
    const tree = mountTree(mounts);
    const guest = resolvingGuestFS({
      ...tree,
      async close() {
        await closeAll();
      },
    }, { cacheLookups: true });
    return Object.assign(guest, { context });
  } catch (err) {
    await closeAll();
    throw err;
  }
}
