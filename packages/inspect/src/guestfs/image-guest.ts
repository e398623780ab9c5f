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
import { readAheadDevice } from "../block/read-ahead.js";

/** An fstab spec that names a block device (not tmpfs, proc, an NFS export…). */
function namesBlockDevice(spec: string): boolean {
  return spec.startsWith("/dev/") || /^(UUID|LABEL|PARTUUID)=/.test(spec);
}

export interface OpenImageOptions {
  /** Open this root (a device name such as /dev/sda2) when the disks hold several operating systems. */
  root?: string;
}

/**
 * A guest from its disk images (in guest disk order; any format @leapp/storage reads): the disks
 * are scanned for partitions, LVM and filesystems, the first Linux root is found as libguestfs
 * finds it, and the other filesystems are mounted where the guest's /etc/fstab puts them.
 * Read-only throughout: the images are never written.
 */
export async function openImageGuest(paths: readonly string[], options: OpenImageOptions = {}): Promise<InspectableGuest> {
  if (paths.length === 0) throw new InspectError("INSPECT_NOT_FOUND", "no disk image given; name the guest's disk images in disk order");
  const disks: BlockDevice[] = [];
  const opened: Filesystem[] = [];
  const closeAll = async () => {
    await Promise.allSettled(opened.map((f) => f.close()));
    await Promise.allSettled(disks.map((d) => d.close()));
  };
  try {
    // Read-only: small reads (inodes, directories, small files) come from shared windows of the image.
    for (const path of paths) disks.push(readAheadDevice(await openDisk(path)));
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
      try {
        const fs = await openFilesystem(volume);
        opened.push(fs);
        mounts.push({ mountpoint, fs });
      } catch (err) {
        // The guest still inspects without that mount (e.g. a filesystem type we do not read).
        if (!(err instanceof InspectError)) throw err;
      }
    }

    const tree = mountTree(mounts);
    const guest = resolvingGuestFS({
      ...tree,
      async close() {
        await closeAll();
      },
    }, { cacheLookups: true });
    return Object.assign(guest, {
      context: {
        kind: "image" as const,
        location: [...paths],
        rootDevice: chosen.volume.device,
        volumes: guestVolumes,
        diskCount: disks.length,
        otherRoots: roots.filter((r) => r !== chosen).map((r) => r.volume.device),
        warnings,
      },
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
}
