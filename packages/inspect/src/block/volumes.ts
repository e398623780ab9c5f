import type { BlockDevice } from "@leapp/storage";
import type { FsType } from "./identify.js";

/** One block device of a guest, named and identified as libguestfs/blkid would. */
export interface Volume {
  /** The name libguestfs would give it, by disk order: /dev/sda, /dev/sda1, /dev/sdb2, and for LVs /dev/VG/LV. */
  device: string;
  block: BlockDevice;
  /** What is on it. */
  content: "filesystem" | "swap" | "lvm-pv" | "partition-table" | "unknown";
  fsType: FsType | undefined;
  /** Filesystem/swap UUID, formatted as blkid does. */
  uuid: string | undefined;
  label: string | undefined;
  /** GPT partition GUID, or MBR "<diskid>-<nn>", as blkid prints PARTUUID. */
  partUuid: string | undefined;
  partNumber: number | undefined;
  /** Index of the disk it lives on (LVs: of their first PV). */
  disk: number;
  /** For logical volumes; the /dev/mapper/<vg>-<lv> alias doubles the dashes in each name. */
  lvm?: { vg: string; lv: string };
  /**
   * Where [offset, offset+length) of this volume lies on the guest's disks (by index), run by
   * run, in order: what a copy of the disks needs to skip a filesystem's free ranges.
   */
  onDisks?(offset: number, length: number): Iterable<DiskRange>;
}

/** A byte range of one of the guest's disks, by disk index. */
export interface DiskRange {
  disk: number;
  offset: number;
  length: number;
}

/** /dev/sda, /dev/sdb, … /dev/sdz, /dev/sdaa — the kernel's (and libguestfs's) disk naming. */
export function diskName(index: number): string {
  let name = "";
  let n = index;
  do {
    name = String.fromCharCode(97 + (n % 26)) + name;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `/dev/sd${name}`;
}

/** The device-mapper name of a logical volume: /dev/mapper/<vg>-<lv>, dashes in each doubled. */
export function mapperName(vg: string, lv: string): string {
  return `/dev/mapper/${vg.replaceAll("-", "--")}-${lv.replaceAll("-", "--")}`;
}
