// scanDisks and the filesystem drivers on the zoo's realistic guests: every filesystem the guest
// was built with is found under its libguestfs name with blkid's type, UUID and label, and each
// one reads back the files of the tree it was made from.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { buildZooGuest, type ZooGuestName } from "@leapp/zoo";
import { describe, expect, it } from "vitest";
import { scanDisks } from "./scan.js";
import { openFilesystem } from "../fs/drivers.js";

const cases: Array<[ZooGuestName, "raw" | "qcow2"]> = [
  ["el6-xen", "raw"],
  ["el7-vmware", "qcow2"],
  ["el9-like", "raw"],
];

describe("scanDisks on zoo guests", () => {
  for (const [name, container] of cases) {
    it(`${name} (${container}): finds every filesystem and reads each one's files`, async () => {
      const guest = await buildZooGuest(name, container);
      const disks = await Promise.all(guest.disks.map((d) => openDisk(d)));
      try {
        const volumes = await scanDisks(disks);
        const found = volumes.filter((v) => v.fsType !== undefined).map((v) => ({ device: v.device, type: v.fsType, uuid: v.uuid, label: v.label ?? "" }));
        expect(found).toEqual(expect.arrayContaining(guest.expected.filesystems));
        expect(found.length).toBe(guest.expected.filesystems.length);
        const mountpointOf = new Map(Object.entries(guest.expected.mountpoints).map(([mp, device]) => [device, mp]));
        for (const volume of volumes) {
          if (volume.fsType !== "ext4" && volume.fsType !== "ext3" && volume.fsType !== "ext2" && volume.fsType !== "xfs") continue;
          const mountpoint = mountpointOf.get(volume.device);
          if (mountpoint === undefined) continue;
          const fs = await openFilesystem(volume);
          const host = join(guest.rootTree, mountpoint);
          // Other filesystems mounted below this one show up as empty directories in it.
          const expected = readdirSync(host).filter((n) => n !== "lost+found").sort();
          const actual = (await fs.readdir("/")).filter((n) => n !== "lost+found").sort();
          expect(actual, `${volume.device} at ${mountpoint}`).toEqual(expected);
          if (mountpoint === "/") {
            for (const file of ["etc/fstab", "etc/redhat-release"]) {
              if (lstatSync(join(host, file)).isSymbolicLink()) expect(await fs.readlink(`/${file}`)).toBe(readlinkSync(join(host, file)));
              else expect(Buffer.from(await fs.readFile(`/${file}`)).equals(readFileSync(join(host, file))), file).toBe(true);
            }
          }
          await fs.close();
        }
      } finally {
        await Promise.all(disks.map((d) => d.close()));
      }
    });
  }
});

describe("Volume.onDisks", () => {
  it("el7-vmware: every volume's bytes are the disk bytes onDisks names, across partitions, linear segments and stripes", async () => {
    const guest = await buildZooGuest("el7-vmware", "raw");
    const disks = await Promise.all(guest.disks.map((d) => openDisk(d)));
    try {
      const volumes = await scanDisks(disks);
      let pieces = 0;
      for (const volume of volumes) {
        if (!volume.onDisks) continue;
        // Ranges that straddle stripe and segment boundaries, at both ends and in the middle.
        const size = volume.block.size;
        for (const [offset, length] of [[0, 8192], [size - 3 * 65536 - 512, 3 * 65536], [Math.floor(size / 2 / 512) * 512 - 70_000, 300_000]] as const) {
          if (offset < 0 || offset + length > size) continue;
          const expected = new Uint8Array(length);
          await volume.block.read(expected, offset);
          const actual = new Uint8Array(length);
          let at = 0;
          for (const r of volume.onDisks(offset, length)) {
            await disks[r.disk]!.read(actual.subarray(at, at + r.length), r.offset);
            at += r.length;
            pieces++;
          }
          expect(at, `${volume.device} ${offset}+${length}`).toBe(length);
          expect(Buffer.from(actual).equals(Buffer.from(expected)), `${volume.device} ${offset}+${length}`).toBe(true);
        }
        expect(() => [...volume.onDisks!(size - 1, 2)]).toThrow(/outside/);
      }
      // The striped home LV alone maps a 300 kB range onto several runs on two disks' partitions.
      expect(pieces).toBeGreaterThan(volumes.length * 3);
    } finally {
      await Promise.all(disks.map((d) => d.close()));
    }
  });
});
