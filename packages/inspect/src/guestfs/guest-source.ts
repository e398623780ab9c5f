import type { GuestFS } from "./guestfs.js";
import type { ListeningPort } from "./listening-ports.js";

/** A block device holding a filesystem (or swap), as an image source found it. */
export interface GuestVolume {
  /** The name libguestfs gives it: /dev/sda1, /dev/VG/LV. */
  device: string;
  fsType: string | undefined;
  uuid: string | undefined;
  label: string | undefined;
  partUuid: string | undefined;
}

/** Where a guest is read from, and what only its source can tell. */
export interface GuestContext {
  kind: "image" | "directory" | "ssh";
  /** Image paths, the directory, or the ssh:// URL (without credentials). */
  location: string[];
  /** The root filesystem's device (image sources). */
  rootDevice?: string;
  /** Every filesystem found on the disks (image sources); fstab is resolved against these. */
  volumes?: GuestVolume[];
  /** Number of disks, in order (image sources): fstab's /dev/xvdb means the second. */
  diskCount?: number;
  /** Roots of other operating systems on the same disks, not opened (multi-boot images): open each with `openImageGuest(paths, { root })`. */
  otherRoots?: string[];
  /** What the source could not find (a disk fstab needs that was not given); inspection reports them. */
  warnings?: string[];
  /** Live hosts only: the TCP ports listening now. */
  listeningPorts?(): Promise<ListeningPort[]>;
}

/** A GuestFS that also says where it came from; every source in this package returns one. */
export interface InspectableGuest extends GuestFS {
  readonly context: GuestContext;
}
