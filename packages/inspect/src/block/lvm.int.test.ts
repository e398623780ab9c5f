// LVM2 volume groups written by the real lvm tools on loop devices (pvcreate, vgcreate, and
// vgcfgrestore for the logical volumes: the kernel here has no device-mapper, so lvcreate cannot
// activate; restoring metadata needs none). Filesystems are then placed into the LVs' extents.
import { mkdtempSync, readFileSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import { buildTree, compareTree } from "../fs/conformance.js";
import { readPhysicalVolume, assembleVolumeGroups, lvmCrc } from "./lvm.js";
import { parseLvmText } from "./lvm-metadata.js";
import { scanDisks } from "./scan.js";
import { openFilesystem } from "../fs/drivers.js";
import { fileDevice, memoryDevice, run } from "./volumes-test-support.js";
import { seededRandom } from "@leapp/zoo";

const work = mkdtempSync(join(tmpdir(), "leapp-lvm-"));
const loops: string[] = [];
process.env.LVM_SUPPRESS_FD_WARNINGS = "1";

function attach(image: string): string {
  const loop = run("losetup", ["-f", "--show", image]).trim();
  loops.push(loop);
  return loop;
}
function detachAll(): void {
  while (loops.length > 0) run("losetup", ["-d", loops.pop()!]);
}
afterAll(() => {
  for (const vg of ["leappvg", "wrapvg"]) {
    try {
      run("vgchange", ["-an", vg]);
    } catch {
      /* not there */
    }
  }
  detachAll();
});

const MiB = 1024 * 1024;
const PE_START = MiB; // pe_start = 2048 sectors, as lvm2 puts it by default

/** Writes `data` into the LV described by `segments` (LV byte offset → image, offset). */
function writeThrough(segments: Array<{ lvStart: number; length: number; image: string; offset: number }>, data: Buffer): void {
  for (const s of segments) {
    const fd = openSync(s.image, "r+");
    writeSync(fd, data, s.lvStart, Math.min(s.length, data.length - s.lvStart), s.offset);
    closeSync(fd);
  }
}

describe("LVM2", () => {
  it("assembles a VG over two PVs and maps linear, multi-segment and striped LVs as lvm2 describes them", async () => {
    const img1 = join(work, "pv1.raw");
    const img2 = join(work, "pv2.raw");
    run("truncate", ["-s", "64M", img1]);
    run("truncate", ["-s", "64M", img2]);
    const [l1, l2] = [attach(img1), attach(img2)];
    run("pvcreate", ["-q", l1]);
    run("pvcreate", ["-q", "--metadatacopies", "2", l2]);
    run("vgcreate", ["-q", "-s", "1M", "leappvg", l1, l2]);
    const backup = join(work, "vg.txt");
    run("vgcfgbackup", ["-q", "-f", backup, "leappvg"]);
    const lvs = `
	logical_volumes {
		root {
			id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-000001"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 2
			segment1 {
				start_extent = 0
				extent_count = 30
				type = "striped"
				stripe_count = 1
				stripes = ["pv0", 0]
			}
			segment2 {
				start_extent = 30
				extent_count = 10
				type = "striped"
				stripe_count = 1
				stripes = ["pv1", 40]
			}
		}
		swap-lv {
			id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-000002"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 8
				type = "striped"
				stripe_count = 1
				stripes = ["pv0", 30]
			}
		}
		data {
			id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-000003"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 20
				type = "striped"
				stripe_count = 2
				stripe_size = 128
				stripes = ["pv0", 38, "pv1", 0]
			}
		}
		hidden_cow {
			id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-000004"
			status = ["READ", "WRITE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 2
				type = "striped"
				stripe_count = 1
				stripes = ["pv1", 10]
			}
		}
	}
`;
    const text = readFileSync(backup, "utf8");
    const vgClose = text.lastIndexOf("}");
    writeFileSync(backup, `${text.slice(0, vgClose)}${lvs}${text.slice(vgClose)}`);
    run("vgcfgrestore", ["-q", "-f", backup, "leappvg"]);
    const pvUuids = run("pvs", ["--noheadings", "-o", "pv_uuid", l1, l2]).split("\n").map((l) => l.trim()).filter(Boolean);
    // lvm2 itself reads the metadata back: the real consumer of what we parse.
    const report = JSON.parse(run("lvs", ["--reportformat", "json", "-a", "-o", "lv_name,seg_pe_ranges,stripes", "leappvg"])) as { report: Array<{ lv: Array<{ lv_name: string; seg_pe_ranges: string }> }> };
    const names = report.report[0]!.lv.map((l) => l.lv_name);
    expect(names).toEqual(expect.arrayContaining(["root", "swap-lv", "data"]));
    detachAll();

    // Filesystems into the LVs, through their extents.
    const tree = join(work, "tree");
    buildTree(tree, { seed: 7, manyEntries: 300 });
    const rootFs = join(work, "root.ext4");
    run("mkfs.ext4", ["-q", "-F", "-d", tree, "-L", "lvroot", rootFs, "40M"]);
    writeThrough(
      [
        { lvStart: 0, length: 30 * MiB, image: img1, offset: PE_START },
        { lvStart: 30 * MiB, length: 10 * MiB, image: img2, offset: PE_START + 40 * MiB },
      ],
      readFileSync(rootFs),
    );
    const swap = join(work, "swap.img");
    run("truncate", ["-s", "8M", swap]);
    run("mkswap", ["-L", "lvswap", swap]);
    writeThrough([{ lvStart: 0, length: 8 * MiB, image: img1, offset: PE_START + 30 * MiB }], readFileSync(swap));
    // Striped: 64 KiB chunks alternate between pv0 (from extent 38) and pv1 (from extent 0).
    const dataFs = join(work, "data.ext2");
    run("mkfs.ext2", ["-q", "-F", "-d", tree, "-L", "striped", dataFs, "20M"]);
    const dataBytes = readFileSync(dataFs);
    const chunk = 64 * 1024;
    const fd1 = openSync(img1, "r+");
    const fd2 = openSync(img2, "r+");
    for (let i = 0; i * chunk < dataBytes.length; i++) {
      const row = Math.floor(i / 2);
      const [fd, base] = i % 2 === 0 ? [fd1, PE_START + 38 * MiB] : [fd2, PE_START];
      writeSync(fd, dataBytes, i * chunk, chunk, base + row * chunk);
    }
    closeSync(fd1);
    closeSync(fd2);

    const blkid = (image: string) => /UUID="([^"]+)"/.exec(run("blkid", ["-p", image]))![1];
    const volumes = await scanDisks([fileDevice(img1), fileDevice(img2)]);
    expect(volumes.map((v) => [v.device, v.content, v.fsType, v.label, v.disk, v.lvm?.lv])).toEqual([
      ["/dev/sda", "lvm-pv", undefined, undefined, 0, undefined],
      ["/dev/sdb", "lvm-pv", undefined, undefined, 1, undefined],
      ["/dev/leappvg/data", "filesystem", "ext2", "striped", 0, "data"],
      ["/dev/leappvg/root", "filesystem", "ext4", "lvroot", 0, "root"],
      ["/dev/leappvg/swap-lv", "swap", "swap", "lvswap", 0, "swap-lv"],
    ]);
    expect(volumes[3]!.uuid).toBe(blkid(rootFs));
    expect([volumes[0]!.uuid, volumes[1]!.uuid]).toEqual(pvUuids);
    expect(volumes[0]!.uuid).toBe(blkid(img1));
    expect(volumes[4]!.uuid).toBe(blkid(swap));
    expect(volumes[3]!.block.size).toBe(40 * MiB);
    for (const v of [volumes[2]!, volumes[3]!]) {
      const fs = await openFilesystem(v);
      expect(await compareTree(fs, tree)).toBeGreaterThan(300);
    }
    // One disk alone: the VG cannot be assembled, and the error says what to do.
    await expect(scanDisks([fileDevice(img1)])).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining("pass all of the guest's disks") });
    // The second PV carries two metadata areas; either alone is enough.
    const pv2 = await readPhysicalVolume(fileDevice(img2), 1);
    expect(pv2.metadata).toContain("leappvg");
  });

  it("reads metadata that wraps around the end of the circular metadata area", async () => {
    const image = join(work, "wrap.raw");
    run("truncate", ["-s", "16M", image]);
    const loop = attach(image);
    run("pvcreate", ["-q", loop]);
    run("vgcreate", ["-q", "wrapvg", loop]);
    const backup = join(work, "wrap.txt");
    run("vgcfgbackup", ["-q", "-f", backup, "wrapvg"]);
    // ~300 KiB of VG tags makes every commit large, so a few commits wrap the 1 MiB buffer.
    const tags = Array.from({ length: 1200 }, (_, i) => `"tag${i}-${"x".repeat(240)}"`).join(", ");
    const text = readFileSync(backup, "utf8").replace(/flags = \[\]/, `flags = []\n\ttags = [${tags}]`);
    writeFileSync(backup, text);
    const header = () => {
      const bytes = readFileSync(image).subarray(4096, 4096 + 512);
      return { offset: Number(bytes.readBigUInt64LE(40)), size: Number(bytes.readBigUInt64LE(48)), area: Number(bytes.readBigUInt64LE(32)) };
    };
    let wrapped = false;
    for (let i = 0; i < 8 && !wrapped; i++) {
      run("vgcfgrestore", ["-q", "-f", backup, "wrapvg"]);
      const h = header();
      wrapped = h.offset + h.size > h.area;
    }
    expect(wrapped).toBe(true);
    const vgs = JSON.parse(run("vgs", ["--reportformat", "json", "-o", "vg_name,vg_tags,vg_seqno", "wrapvg"])) as { report: Array<{ vg: Array<{ vg_seqno: string; vg_tags: string }> }> };
    detachAll();
    const pv = await readPhysicalVolume(fileDevice(image), 0);
    expect(pv.seqno).toBe(Number(vgs.report[0]!.vg[0]!.vg_seqno));
    const parsed = parseLvmText(pv.metadata!);
    const tagList = (parsed.wrapvg as { tags: string[] }).tags;
    const lvmTags = vgs.report[0]!.vg[0]!.vg_tags.split(",");
    expect(tagList.length).toBe(1200);
    // Compared as one boolean: a diff of 300 KiB of tags would drown the report.
    expect([...tagList].sort().join(",") === [...lvmTags].sort().join(",")).toBe(true);
  });

  it("turns lying labels and metadata into InspectErrors, never crashes (seeded mutations)", async () => {
    const image = join(work, "pv1.raw");
    const original = readFileSync(image).subarray(0, 2 * MiB);
    const pv = await readPhysicalVolume(memoryDevice(original), 0);
    const metadata = pv.metadata!;
    const random = seededRandom(11);
    let errors = 0;
    let results = 0;
    const started = performance.now();
    // Mutate the label/mda sectors (CRCs catch these) …
    for (let round = 0; round < 300; round++) {
      const bytes = Buffer.from(original);
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
        const at = random() < 0.5 ? 512 + Math.floor(random() * 512) : 4096 + Math.floor(random() * 512);
        bytes[at] = Math.floor(random() * 256);
      }
      try {
        await readPhysicalVolume(memoryDevice(bytes), 0);
        results++;
      } catch (error) {
        if (!(error instanceof InspectError)) throw error;
        errors++;
      }
    }
    // … and lie in the metadata text itself, with valid CRCs: the parser and the mapper must cope.
    const lies = [
      (t: string) => t.replace(/pe_count = \d+/, "pe_count = 99999999"),
      (t: string) => t.replace(/extent_count = \d+/, "extent_count = 4000000000"),
      (t: string) => t.replace(/stripes = \["pv0", \d+\]/, 'stripes = ["pv9", 0]'),
      (t: string) => t.replace(/stripes = \["pv0", \d+\]/, 'stripes = ["pv0", 60]'),
      (t: string) => t.replace(/id = "[^"]+"/g, (m, offset: number) => (offset > t.indexOf("pv1") ? 'id = "ZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZ"' : m)),
      (t: string) => t.replace(/stripe_count = 2/, "stripe_count = 3"),
      (t: string) => t.replace(/extent_size = \d+/, "extent_size = 0"),
      (t: string) => t.slice(0, Math.floor(t.length / 2)),
      (t: string) => t.replace(/\{/g, "{{"),
      (t: string) => `${"a { ".repeat(50)}${t}`,
    ];
    const other = await readPhysicalVolume(fileDevice(join(work, "pv2.raw")), 1);
    for (const lie of lies) {
      const text = lie(metadata);
      try {
        assembleVolumeGroups([{ ...pv, metadata: text, seqno: 99 }, other]);
        results++;
      } catch (error) {
        if (!(error instanceof InspectError)) throw error;
        errors++;
      }
    }
    for (let round = 0; round < 300; round++) {
      const chars = metadata.split("");
      for (let k = 0; k < 1 + Math.floor(random() * 6); k++) chars[Math.floor(random() * chars.length)] = String.fromCharCode(32 + Math.floor(random() * 95));
      try {
        assembleVolumeGroups([{ ...pv, metadata: chars.join(""), seqno: 99 }, other]);
        results++;
      } catch (error) {
        if (!(error instanceof InspectError)) throw error;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(lies.length);
    expect(results).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(lvmCrc(new Uint8Array(0))).toBe(0xf597a6cf);
  });
});
