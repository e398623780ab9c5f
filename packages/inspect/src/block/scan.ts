import { sliceDevice, StorageError, type BlockDevice } from "@leapp/storage";
import { identify } from "./identify.js";
import { assembleVolumeGroups, readPhysicalVolume, type PhysicalVolume } from "./lvm.js";
import { readPartitionTable } from "./partitions.js";
import { diskName, type DiskRange, type Volume } from "./volumes.js";

/** [offset, offset+length) of a window at `start` of disk `disk`, checked against the window's size. */
function windowOnDisk(disk: number, start: number, size: number): (offset: number, length: number) => Iterable<DiskRange> {
  return (offset, length) => {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new StorageError("STORAGE_OUT_OF_RANGE", `range of ${length} bytes at ${offset} is outside the ${size}-byte volume`);
    }
    return [{ disk, offset: start + offset, length }];
  };
}

/**
 * Walks disks → partitions (MBR with extended/logical, GPT) → LVM2 PVs → VGs → LVs → identifies
 * each. Volumes come in disk order, each disk's partitions in number order, then the logical
 * volumes sorted by /dev/VG/LV name. Logical volumes of unsupported types (thin, raid…) are left out.
 */
export async function scanDisks(disks: BlockDevice[]): Promise<Volume[]> {
  const volumes: Volume[] = [];
  const add = async (device: string, block: BlockDevice, disk: number, start: number, partUuid: string | undefined, partNumber: number | undefined) => {
    const identity = await identify(block);
    volumes.push({ device, block, ...identity, partUuid, partNumber, disk, onDisks: windowOnDisk(disk, start, block.size) });
  };
  for (const [index, disk] of disks.entries()) {
    const name = diskName(index);
    const whole = await identify(disk);
    // A whole-disk filesystem or PV wins; a FAT boot sector looks too much like an MBR to decide first.
    const table = whole.content !== "unknown" && whole.fsType !== "vfat" ? undefined : await readPartitionTable(disk);
    if (!table) {
      volumes.push({ device: name, block: disk, ...whole, partUuid: undefined, partNumber: undefined, disk: index, onDisks: windowOnDisk(index, 0, disk.size) });
      continue;
    }
    volumes.push({ device: name, block: disk, content: "partition-table", fsType: undefined, uuid: undefined, label: undefined, partUuid: undefined, partNumber: undefined, disk: index });
    for (const partition of table.partitions) {
      await add(`${name}${partition.number}`, sliceDevice(disk, partition.start, partition.size), index, partition.start, partition.partUuid, partition.number);
    }
  }
  const pvs: PhysicalVolume[] = [];
  const pvVolume = new Map<PhysicalVolume, Volume>();
  for (const volume of volumes) {
    if (volume.content !== "lvm-pv") continue;
    const pv = await readPhysicalVolume(volume.block, volume.disk);
    pvs.push(pv);
    pvVolume.set(pv, volume);
  }
  if (pvs.length > 0) {
    const { lvs } = assembleVolumeGroups(pvs);
    lvs.sort((a, b) => (a.vg === b.vg ? (a.lv < b.lv ? -1 : 1) : a.vg < b.vg ? -1 : 1));
    for (const lv of lvs) {
      const identity = await identify(lv.device);
      const onDisks = function* (offset: number, length: number): Iterable<DiskRange> {
        for (const piece of lv.locate(offset, length)) yield* pvVolume.get(piece.pv)?.onDisks?.(piece.offset, piece.length) ?? [];
      };
      volumes.push({ device: `/dev/${lv.vg}/${lv.lv}`, block: lv.device, ...identity, partUuid: undefined, partNumber: undefined, disk: lv.disk, lvm: { vg: lv.vg, lv: lv.lv }, onDisks });
    }
  }
  return volumes;
}
