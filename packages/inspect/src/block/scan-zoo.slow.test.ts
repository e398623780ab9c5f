// scanDisks on the debian-12 zoo guest (debootstrap: slow tier), as qcow2: MBR, a separate /boot,
// fstab by UUID; every filesystem found as blkid names it, and each one's top directory readable.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { buildZooGuest } from "@leapp/zoo";
import { describe, expect, it } from "vitest";
import { scanDisks } from "./scan.js";
import { openFilesystem } from "../fs/drivers.js";

describe("scanDisks on the debian-12 zoo guest", () => {
  it("finds every filesystem and reads each one's top directory", async () => {
    const guest = await buildZooGuest("debian-12", "qcow2");
    const disks = await Promise.all(guest.disks.map((d) => openDisk(d)));
    try {
      const started = performance.now();
      const volumes = await scanDisks(disks);
      expect(performance.now() - started).toBeLessThan(1000);
      const found = volumes.filter((v) => v.fsType !== undefined).map((v) => ({ device: v.device, type: v.fsType, uuid: v.uuid, label: v.label ?? "" }));
      expect(found).toEqual(expect.arrayContaining(guest.expected.filesystems));
      expect(found.length).toBe(guest.expected.filesystems.length);
      for (const [mountpoint, device] of Object.entries(guest.expected.mountpoints)) {
        const volume = volumes.find((v) => v.device === device);
        expect(volume, device).toBeDefined();
        const fs = await openFilesystem(volume!);
        const expected = readdirSync(join(guest.rootTree, mountpoint)).filter((n) => n !== "lost+found").sort();
        expect((await fs.readdir("/")).filter((n) => n !== "lost+found").sort(), mountpoint).toEqual(expected);
        await fs.close();
      }
    } finally {
      await Promise.all(disks.map((d) => d.close()));
    }
  });
});
