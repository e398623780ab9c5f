// The vpc (VHD) driver against images made by the real qemu-img (our oracle), and lying ones.
import { stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { detectDiskFormat } from "./formats.js";
import { expectConformsToQemu, expectStorageError, fuzzImage, makeScatteredRaw, patchedCopy, qemuConvert, readAt, type Patch } from "./image-conformance.js";
import { expectSameContentAsQemu, qemuInfo, scratchDir } from "./testing.js";

const MIB = 1024 * 1024;
let dir: string;
let raw: string;
let dynamic: string;
let fixed: string;
beforeAll(async () => {
  dir = await scratchDir();
  // Not a multiple of the 2 MiB block, nor of a CHS cylinder.
  raw = await makeScatteredRaw(dir, 37 * MIB + 4321 * 512);
  dynamic = await qemuConvert(raw, dir, "vpc", "subformat=dynamic", "dynamic.vhd");
  fixed = await qemuConvert(raw, dir, "vpc", "subformat=fixed", "fixed.vhd");
});

const bad = (name: string, ...patches: Patch[]) => patchedCopy(dynamic, join(dir, `${name}.vhd`), patches);

describe("vpc driver against qemu-img", () => {
  it("reads a dynamic VHD like qemu-img convert -O raw", async () => {
    await expectConformsToQemu(dynamic, "vpc");
  });

  it("reads a fixed VHD like qemu-img convert -f vpc -O raw, though qemu-img itself probes it as raw", async () => {
    expect((await qemuInfo(fixed)).format).toBe("raw");
    expect(await detectDiskFormat(fixed)).toBe("vpc");
    await expectConformsToQemu(fixed, "vpc");
  });

  it("reads a 20 GiB dynamic VHD holding little data, sparse-aware", async () => {
    const big = await scratchDir();
    const source = await makeScatteredRaw(big, 20 * 1024 * MIB, { runs: 12, seed: 21 });
    const image = await qemuConvert(source, big, "vpc", "subformat=dynamic");
    await expectSameContentAsQemu(image, { format: "vpc", useExtents: true });
  });
});

describe("vpc driver on bad input", () => {
  const dynamicHeader = async () => Number((await readAt(dynamic, 16, 8)).readBigUInt64BE(0));

  it("refuses a block size that is not a power of two", async () => {
    await expectStorageError(await bad("block3m", [(await dynamicHeader()) + 32, 4, (b) => b.writeUInt32BE(3 * MIB)]), "vpc", "STORAGE_CORRUPT");
  });

  it("refuses a block table entry past the end of the file, and a table too small for the disk", async () => {
    const header = await dynamicHeader();
    const table = Number((await readAt(dynamic, header + 16, 8)).readBigUInt64BE(0));
    const error = await expectStorageError(await bad("far-entry", [table + 4, 4, (b) => b.writeUInt32BE(0x00fffff0)]), "vpc", "STORAGE_CORRUPT");
    expect(error.message).toMatch(/past the end/);
    await expectStorageError(await bad("small-table", [header + 28, 4, (b) => b.writeUInt32BE(3)]), "vpc", "STORAGE_CORRUPT");
  });

  it("refuses a footer whose checksum does not match", async () => {
    await expectStorageError(await bad("checksum", [48, 8, (b) => b.writeBigUInt64BE(1n << 40n)]), "vpc", "STORAGE_CORRUPT");
  });

  it("fails with a typed error on truncated files", async () => {
    const cut = await bad("cut");
    await truncate(cut, 700);
    await expectStorageError(cut, "vpc", "STORAGE_TRUNCATED");
    // A fixed VHD cut short loses its footer: not a VHD any more.
    const fixedCut = await patchedCopy(fixed, join(dir, "fixed-cut.vhd"), []);
    await truncate(fixedCut, 5 * MIB);
    expect(await detectDiskFormat(fixedCut)).toBe("raw");
    await expectStorageError(fixedCut, "vpc", "STORAGE_CORRUPT");
  });

  it("gives typed errors for empty and random files opened as vpc", async () => {
    await writeFile(join(dir, "empty.vhd"), "");
    await expectStorageError(join(dir, "empty.vhd"), "vpc", "STORAGE_CORRUPT");
    await writeFile(join(dir, "random.vhd"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    await expectStorageError(join(dir, "random.vhd"), "vpc", "STORAGE_CORRUPT");
  });
});

/** Recomputes the checksum of the footer at `at` (one's complement of the byte sum). */
function fixFooter(image: Buffer, at: number): void {
  if (at < 0 || image.toString("latin1", at, at + 8) !== "conectix") return;
  image.writeUInt32BE(0, at + 64);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += image[i]!;
  image.writeUInt32BE(~sum >>> 0, at + 64);
}

describe("vpc driver under fuzzing", () => {
  it("reads or rejects with a StorageError every mutation of a real VHD's footer, header and block table", async () => {
    const small = await scratchDir();
    const source = await makeScatteredRaw(small, 5 * MIB + 1536, { seed: 4 });
    for (const [seed, subformat] of [[3, "dynamic"], [4, "fixed"]] as const) {
      const image = await qemuConvert(source, small, "vpc", `subformat=${subformat}`, `fuzz-${subformat}.vhd`);
      const { size } = await stat(image);
      const regions: [number, number][] = [[size - 512, 512]];
      if (subformat === "dynamic") {
        const header = Number((await readAt(image, 16, 8)).readBigUInt64BE(0));
        const table = Number((await readAt(image, header + 16, 8)).readBigUInt64BE(0));
        regions.push([0, 512], [header, 1024], [table, 16]);
      }
      const fix = (image: Buffer) => {
        fixFooter(image, 0);
        fixFooter(image, image.length - 512);
      };
      const report = await fuzzImage(image, "vpc", { seed, cases: 60, regions, fix });
      expect(report.read, "some mutations still read").toBeGreaterThan(0);
      expect(Object.keys(report.errors).length, "some mutations are refused").toBeGreaterThan(0);
    }
  });
});
