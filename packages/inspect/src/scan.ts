import { sliceDevice, type BlockDevice } from "@leapp/storage";
import { identify } from "./identify.js";
import { readPartitionTable } from "./partitions.js";
import { diskName, type Volume } from "./volumes.js";

/** Walks disks → partitions (MBR with extended/logical, GPT) → LVM2 PVs → VGs → LVs → identifies each. */
export async function scanDisks(disks: BlockDevice[]): Promise<Volume[]> {
  const volumes: Volume[] = [];
  for (const [index, disk] of disks.entries()) {
    const name = diskName(index);
    const whole = await identify(disk);
    if (whole.content !== "unknown" && whole.fsType !== "vfat") {
      volumes.push({ device: name, block: disk, ...whole, partUuid: undefined, partNumber: undefined, disk: index });
      continue;
    }
    const table = await readPartitionTable(disk);
    if (!table) {
      volumes.push({ device: name, block: disk, ...whole, partUuid: undefined, partNumber: undefined, disk: index });
      continue;
    }
    volumes.push({ device: name, block: disk, content: "partition-table", fsType: undefined, uuid: undefined, label: undefined, partUuid: undefined, partNumber: undefined, disk: index });
    for (const partition of table.partitions) {
      const block = sliceDevice(disk, partition.start, partition.size);
      const identity = await identify(block);
      volumes.push({ device: `${name}${partition.number}`, block, ...identity, partUuid: partition.partUuid, partNumber: partition.number, disk: index });
    }
  }
  return volumes;
}
