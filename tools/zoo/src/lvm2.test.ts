import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatLvmId, lvExtents, lvmCrc, lvSize, peCount, pvHeaderArea, vgMetadataText, type VolumeGroup } from "./lvm2.js";
import { el7VolumeGroup } from "./guests/el7-vmware.js";

describe("lvmCrc", () => {
  it("is zlib's CRC-32 without the pre- and post-inversion", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect((lvmCrc(bytes, 0xffffffff) ^ 0xffffffff) >>> 0).toBe(crc32(bytes));
      }),
      { numRuns: 200 },
    );
  });
  it("starts from lvm2's seed", () => {
    expect(lvmCrc(new Uint8Array(0))).toBe(0xf597a6cf);
  });
});

describe("pvHeaderArea", () => {
  const vg: VolumeGroup = el7VolumeGroup;
  const pv = vg.pvs[0]!;
  const area = pvHeaderArea(vg, pv);

  it("puts LABELONE at sector 1 with a valid checksum and the pv_header after it", () => {
    const label = area.subarray(512, 1024);
    expect(label.subarray(0, 8).toString("latin1")).toBe("LABELONE");
    expect(label.readBigUInt64LE(8)).toBe(1n);
    expect(label.readUInt32LE(16)).toBe(lvmCrc(label.subarray(20)));
    expect(label.subarray(24, 32).toString("latin1")).toBe("LVM2 001");
    expect(label.subarray(32, 64).toString("latin1")).toBe(pv.id);
    expect(label.readBigUInt64LE(64)).toBe(BigInt(pv.size));
    expect(label.readBigUInt64LE(72)).toBe(BigInt(pv.peStart)); // data area
    expect(label.readBigUInt64LE(104)).toBe(4096n); // metadata area
  });

  it("puts the mda_header at 4 KiB pointing at the text, both checksummed", () => {
    const mda = area.subarray(4096, 4608);
    expect(mda.subarray(4, 20).toString("latin1")).toBe(" LVM2 x[5A%r0N*>");
    expect(mda.readUInt32LE(0)).toBe(lvmCrc(mda.subarray(4)));
    const offset = Number(mda.readBigUInt64LE(40));
    const size = Number(mda.readBigUInt64LE(48));
    const text = area.subarray(4096 + offset, 4096 + offset + size);
    expect(mda.readUInt32LE(56)).toBe(lvmCrc(text));
    expect(text.toString("utf8")).toBe(`${vgMetadataText(vg)}\0`);
  });

  it("describes every LV segment and PV in the text", () => {
    const text = vgMetadataText(vg);
    expect(text).toMatch(/^centos \{\nid = "[0-9A-Za-z]{6}(-[0-9A-Za-z]{4}){5}-[0-9A-Za-z]{6}"/);
    expect(text).toContain(`pe_count = ${peCount(vg, pv)}`);
    expect(text).toContain("segment_count = 2");
    expect(text).toContain('stripes = [\n"pv0", 48\n]');
    expect(text).toContain('contents = "Text Format Volume Group"');
  });

  it("maps LV bytes to PV bytes segment by segment", () => {
    const root = vg.lvs[0]!;
    expect(lvSize(vg, root)).toBe(80 * 4 * 1024 * 1024);
    expect(lvExtents(vg, root).map((e) => [e.lvOffset, e.pvOffset, e.length])).toEqual([
      [0, pv.peStart, 40 * vg.extentSize],
      [40 * vg.extentSize, pv.peStart + 48 * vg.extentSize, 40 * vg.extentSize],
    ]);
  });

  it("maps a striped LV chunk by chunk, round-robin over its stripes", () => {
    const home = vg.lvs.find((l) => l.name === "home")!;
    const runs = lvExtents(vg, home);
    const chunk = 64 * 1024;
    expect(runs).toHaveLength(lvSize(vg, home) / chunk);
    const pv1 = vg.pvs[1]!;
    expect(runs.slice(0, 3).map((r) => [r.pv.key, r.lvOffset, r.pvOffset])).toEqual([
      ["pv0", 0, pv.peStart + 88 * vg.extentSize],
      ["pv1", chunk, pv1.peStart],
      ["pv0", 2 * chunk, pv.peStart + 88 * vg.extentSize + chunk],
    ]);
    expect(vgMetadataText(vg)).toContain('stripe_count = 2\nstripe_size = 128\n\nstripes = [\n"pv0", 88,\n"pv1", 0\n]');
  });

  it("refuses ids that are not lvm2 ids", () => {
    expect(() => formatLvmId("short")).toThrow(/32-character/);
    expect(() => formatLvmId("x".repeat(31) + "/")).toThrow(/32-character/);
  });
});
