// Logical volumes over writable PVs are writable: every byte written through an LV lands where
// the zoo's independent LVM2 writer (lvExtents) says that LV byte lives, and reads back the same.
import { checkRange, StorageError, type BlockDevice } from "@leapp/storage";
import { lvExtents, pvHeaderArea, seededRandom, type LvmVolumeGroup } from "@leapp/zoo";
import { describe, expect, it } from "vitest";
import { assembleVolumeGroups, readPhysicalVolume } from "./lvm.js";

const MiB = 1024 * 1024;

function bytesDevice(bytes: Buffer, writable: boolean): BlockDevice {
  return {
    format: "raw",
    size: bytes.length,
    writable,
    async read(buffer, position) {
      checkRange(bytes.length, position, buffer.length);
      buffer.set(bytes.subarray(position, position + buffer.length));
    },
    async *extents(start = 0, length = bytes.length - start) {
      yield { offset: start, length, kind: "data" as const };
    },
    async write(data, position) {
      if (!writable) throw new StorageError("STORAGE_READ_ONLY", "read-only");
      checkRange(bytes.length, position, data.length);
      bytes.set(data, position);
    },
    async flush() {},
    async close() {},
  };
}

const vg: LvmVolumeGroup = {
  name: "vg0",
  id: "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",
  seqno: 3,
  extentSize: MiB,
  creationHost: "test",
  creationTime: 1600000000,
  pvs: [
    { key: "pv0", id: "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6", device: "/dev/sda2", size: 12 * MiB, peStart: MiB },
    { key: "pv1", id: "Z1x2C3v4B5n6M7q8W9e0R1t2Y3u4I5o6", device: "/dev/sdb1", size: 12 * MiB, peStart: MiB },
  ],
  lvs: [
    {
      name: "linear",
      id: "L1n2E3a4R5l6V7a8B9c0D1e2F3g4H5i6",
      segments: [
        { startExtent: 0, extentCount: 2, stripes: [{ pv: "pv0", startExtent: 0 }] },
        { startExtent: 2, extentCount: 2, stripes: [{ pv: "pv1", startExtent: 5 }] },
      ],
    },
    { name: "striped", id: "S1t2R3i4P5e6D7l8V9a0B1c2D3e4F5g6", segments: [{ startExtent: 0, extentCount: 4, stripes: [{ pv: "pv0", startExtent: 4 }, { pv: "pv1", startExtent: 0 }], stripeSize: 128 }] },
  ],
};

async function open(writable: boolean) {
  const pvBytes = vg.pvs.map((pv) => {
    const b = Buffer.alloc(pv.size);
    pvHeaderArea(vg, pv).copy(b, 0);
    return b;
  });
  const pvs = await Promise.all(pvBytes.map((b, i) => readPhysicalVolume(bytesDevice(b, writable), i)));
  const { lvs } = assembleVolumeGroups(pvs);
  return { pvBytes, lvs };
}

describe("writable logical volumes", () => {
  it("write every byte where the LVM2 layout puts it, linear segments and stripes alike", async () => {
    const { pvBytes, lvs } = await open(true);
    const random = seededRandom(7);
    for (const lv of lvs) {
      expect(lv.device.writable).toBe(true);
      const image = Buffer.alloc(lv.device.size);
      for (let i = 0; i < 40; i++) {
        const length = 1 + Math.floor(random() * 300_000);
        const at = Math.floor(random() * (lv.device.size - length));
        const data = Buffer.alloc(length, Math.floor(random() * 255) + 1);
        await lv.device.write(data, at);
        data.copy(image, at);
      }
      await lv.device.flush();
      const back = Buffer.alloc(lv.device.size);
      await lv.device.read(back, 0);
      expect(back.equals(image)).toBe(true);
      // Independently: each run of the LV as the zoo's writer lays it out.
      for (const run of lvExtents(vg, vg.lvs.find((l) => l.name === lv.lv)!)) {
        const onPv = pvBytes[vg.pvs.indexOf(run.pv)]!.subarray(run.pvOffset, run.pvOffset + run.length);
        expect(onPv.equals(image.subarray(run.lvOffset, run.lvOffset + run.length)), `${lv.lv} at ${run.lvOffset}`).toBe(true);
      }
    }
  });

  it("stay read-only over read-only PVs, and refuse writes outside the volume", async () => {
    const { lvs } = await open(false);
    for (const lv of lvs) {
      expect(lv.device.writable).toBe(false);
      await expect(lv.device.write(new Uint8Array(1), 0)).rejects.toMatchObject({ code: "STORAGE_READ_ONLY" });
    }
    const { lvs: rw } = await open(true);
    await expect(rw[0]!.device.write(new Uint8Array(2), rw[0]!.device.size - 1)).rejects.toMatchObject({ code: "STORAGE_OUT_OF_RANGE" });
  });
});
