// scanDisks over disks partitioned by sfdisk and formatted by the real mkfs tools, checked with blkid.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { scanDisks } from "./scan.js";
import { openFilesystem } from "../fs/drivers.js";
import { fileDevice, run } from "./volumes-test-support.js";

const work = mkdtempSync(join(tmpdir(), "leapp-scan-"));

/** blkid's own view of a filesystem image: TYPE, UUID, LABEL. */
function blkid(image: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of run("blkid", ["-p", "-o", "export", image]).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function partitionImage(name: string, sizeMiB: number, mkfs: (part: string) => void): string {
  const part = join(work, `${name}.part`);
  run("truncate", ["-s", `${sizeMiB}M`, part]);
  mkfs(part);
  return part;
}

describe("scanDisks", () => {
  it("names, identifies and opens the volumes of an MBR disk and a GPT disk as blkid sees them", async () => {
    const ext4 = partitionImage("ext4", 32, (p) => run("mkfs.ext4", ["-q", "-F", "-L", "root", p]));
    const swap = partitionImage("swap", 8, (p) => run("mkswap", ["-L", "swappy", p]));
    const vfat = partitionImage("vfat", 33, (p) => run("mkfs.vfat", ["-F", "32", "-n", "ESP", p]));
    const ext2 = partitionImage("ext2", 16, (p) => run("mkfs.ext2", ["-q", "-F", p]));
    const disk1 = join(work, "disk1.raw");
    run("truncate", ["-s", "64M", disk1]);
    run("sfdisk", ["-q", disk1], "label: dos\nlabel-id: 0xdeadbeef\nstart=2048, size=65536, type=83\nstart=67584, type=5\nstart=69632, size=16384, type=82\n");
    run("dd", [`if=${ext4}`, `of=${disk1}`, "bs=512", "seek=2048", "conv=notrunc", "status=none"]);
    run("dd", [`if=${swap}`, `of=${disk1}`, "bs=512", "seek=69632", "conv=notrunc", "status=none"]);
    const disk2 = join(work, "disk2.raw");
    run("truncate", ["-s", "64M", disk2]);
    run("sfdisk", ["-q", disk2], "label: gpt\nstart=2048, size=67584, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=69632, size=32768\n");
    run("dd", [`if=${vfat}`, `of=${disk2}`, "bs=512", "seek=2048", "conv=notrunc", "status=none"]);
    run("dd", [`if=${ext2}`, `of=${disk2}`, "bs=512", "seek=69632", "conv=notrunc", "status=none"]);
    const gpt = JSON.parse(run("sfdisk", ["--json", disk2])) as { partitiontable: { partitions: Array<{ uuid: string }> } };

    const volumes = await scanDisks([fileDevice(disk1), fileDevice(disk2)]);
    const summary = volumes.map((v) => [v.device, v.content, v.fsType, v.uuid, v.label, v.partUuid, v.disk]);
    const b = { ext4: blkid(ext4), swap: blkid(swap), vfat: blkid(vfat), ext2: blkid(ext2) };
    expect(summary).toEqual([
      ["/dev/sda", "partition-table", undefined, undefined, undefined, undefined, 0],
      ["/dev/sda1", "filesystem", "ext4", b.ext4.UUID, "root", "deadbeef-01", 0],
      ["/dev/sda5", "swap", "swap", b.swap.UUID, "swappy", "deadbeef-05", 0],
      ["/dev/sdb", "partition-table", undefined, undefined, undefined, undefined, 1],
      ["/dev/sdb1", "filesystem", "vfat", b.vfat.UUID, "ESP", gpt.partitiontable.partitions[0]!.uuid.toLowerCase(), 1],
      ["/dev/sdb2", "filesystem", "ext2", b.ext2.UUID, undefined, gpt.partitiontable.partitions[1]!.uuid.toLowerCase(), 1],
    ]);
    expect(b.vfat.TYPE).toBe("vfat");
    // The root directory's label entry wins over the boot sector's copy, as in blkid.
    const relabeled = join(work, "relabeled.vfat");
    const bytes = readFileSync(vfat);
    bytes.write("BOOTSECTOR ", 71, "latin1"); // FAT32 boot sector label field
    writeFileSync(relabeled, bytes);
    const [relabeledVolume] = await scanDisks([fileDevice(relabeled)]);
    expect(blkid(relabeled).LABEL).toBe("ESP");
    expect(relabeledVolume!.label).toBe(blkid(relabeled).LABEL);
    const root = await openFilesystem(volumes[1]!);
    expect(await root.readdir("/")).toEqual(["lost+found"]);
    await expect(openFilesystem(volumes[4]!)).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
  });
});
