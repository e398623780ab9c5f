// The vmdk driver against images made by the real qemu-img (our oracle), and lying ones.
import { mkdir, open, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { detectDiskFormat } from "./formats.js";
import { expectConformsToQemu, expectStorageError, fuzzImage, makeScatteredRaw, patchedCopy, qemuConvert, readAt, type Patch } from "./image-conformance.js";
import { expectSameContentAsQemu, qemuImg, scratchDir } from "./testing.js";

const MIB = 1024 * 1024;
const SUBFORMATS = ["monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"];
let dir: string;
let raw: string;
let sparse: string;
let stream: string;
beforeAll(async () => {
  dir = await scratchDir();
  // Not a multiple of the 64 KiB grain.
  raw = await makeScatteredRaw(dir, 45 * MIB + 4321 * 512);
  sparse = await qemuConvert(raw, dir, "vmdk", "subformat=monolithicSparse", "sparse.vmdk");
  stream = await qemuConvert(raw, dir, "vmdk", "subformat=streamOptimized", "stream.vmdk");
});

/** qemu-io, qemu's own test tool, for writing into an existing image. */
function qemuIo(image: string, ...commands: string[]): Promise<unknown> {
  return promisify(execFile)("qemu-io", ["-f", "vmdk", ...commands.flatMap((c) => ["-c", c]), image]);
}

const bad = (source: string, name: string, ...patches: Patch[]) => patchedCopy(source, join(dir, `${name}.vmdk`), patches);

describe("vmdk driver against qemu-img", () => {
  it.each(SUBFORMATS)("reads a %s VMDK like qemu-img convert -O raw", async (subformat) => {
    const sub = join(dir, subformat);
    await mkdir(sub);
    await expectConformsToQemu(await qemuConvert(raw, sub, "vmdk", `subformat=${subformat}`), "vmdk");
  });

  it("reads a streamOptimized VMDK whose grain directory is found through the footer (GD_AT_END)", async () => {
    // What VMware writes as a stream: header says GD_AT_END; footer marker, footer header, EOS.
    const header = await readAt(stream, 0, 512);
    const image = await bad(stream, "gd-at-end", [56, 8, (b) => b.writeBigUInt64LE(0xffffffffffffffffn)]);
    const marker = Buffer.alloc(512);
    marker.writeBigUInt64LE(1n, 0);
    marker.writeUInt32LE(3, 12);
    const file = await open(image, "a");
    await file.write(Buffer.concat([marker, header, Buffer.alloc(512)]));
    await file.close();
    await expectConformsToQemu(image, "vmdk");
  });

  it.each(["twoGbMaxExtentSparse", "twoGbMaxExtentFlat"])("reads a %s VMDK of several extents", async (subformat) => {
    const big = await scratchDir();
    const source = await makeScatteredRaw(big, 2100 * MIB + 512, { runs: 10, seed: 3 });
    // Data across the 2 GiB extent boundary.
    const file = await open(source, "r+");
    await file.write(Buffer.alloc(256 * 1024, 0x3c), 0, 256 * 1024, 2047.9 * MIB);
    await file.close();
    const image = await qemuConvert(source, big, "vmdk", `subformat=${subformat}`);
    expect(await detectDiskFormat(image)).toBe("vmdk");
    await expectSameContentAsQemu(image, { useExtents: true });
  });

  it("reads 20 GiB sparse and streamOptimized VMDKs holding little data, sparse-aware", async () => {
    const big = await scratchDir();
    const source = await makeScatteredRaw(big, 20 * 1024 * MIB, { runs: 12, seed: 23 });
    for (const subformat of ["monolithicSparse", "streamOptimized"]) {
      const image = await qemuConvert(source, big, "vmdk", `subformat=${subformat}`, `${subformat}.vmdk`);
      await expectSameContentAsQemu(image, { format: "vmdk", useExtents: true });
    }
  });

  it("reads a delta VMDK over its parent (parentFileNameHint), zeroed grains included", async () => {
    const chain = await scratchDir();
    await qemuConvert(raw, chain, "vmdk", "subformat=monolithicSparse,zeroed_grain=on", "base.vmdk");
    const delta = join(chain, "delta.vmdk");
    await qemuImg("create", "-f", "vmdk", "-o", "zeroed_grain=on", "-b", "base.vmdk", "-F", "vmdk", delta);
    await qemuIo(delta, "write -P 0x55 1M 100k", "write -z 0 64k", "write -P 0x66 44M 70k");
    await expectConformsToQemu(delta, "vmdk");
  });
});

describe("vmdk driver on bad input", () => {
  const descriptor = (extentLine: string) => `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n${extentLine}\n`;

  it("refuses extents outside the descriptor's directory: ../../etc/passwd, absolute paths, symlinks", async () => {
    const jail = join(dir, "jail");
    await mkdir(jail);
    await symlink("/etc/passwd", join(jail, "link.vmdk"));
    for (const [name, line] of [
      ["dotdot", 'RW 8 FLAT "../../etc/passwd" 0'],
      ["absolute", 'RW 8 FLAT "/etc/passwd" 0'],
      ["symlink", 'RW 8 FLAT "link.vmdk" 0'],
      ["sparse-dotdot", 'RW 8 SPARSE "../sparse.vmdk"'],
    ]) {
      const path = join(jail, `${name}.vmdk`);
      await writeFile(path, descriptor(line!));
      expect(await detectDiskFormat(path)).toBe("vmdk");
      await expectStorageError(path, "vmdk", "STORAGE_PATH_ESCAPE");
    }
  });

  it("names a missing extent file", async () => {
    const path = join(dir, "missing.vmdk");
    await writeFile(path, descriptor('RW 8 FLAT "gone-flat.vmdk" 0'));
    const error = await expectStorageError(path, "vmdk", "STORAGE_BACKING_MISSING");
    expect(error.message).toMatch(/gone-flat\.vmdk/);
  });

  it("refuses a huge capacity (grain directory) and absurd grain or table sizes", async () => {
    await expectStorageError(await bad(sparse, "huge", [12, 8, (b) => b.writeBigUInt64LE(1n << 50n)]), "vmdk", "STORAGE_CORRUPT", "STORAGE_TRUNCATED");
    await expectStorageError(await bad(sparse, "grain3", [20, 8, (b) => b.writeBigUInt64LE(3n)]), "vmdk", "STORAGE_CORRUPT");
    await expectStorageError(await bad(sparse, "gtes", [44, 4, (b) => b.writeUInt32LE(100_000)]), "vmdk", "STORAGE_CORRUPT");
  });

  it("refuses a grain table entry past the end of the file", async () => {
    const gd = Number((await readAt(sparse, 56, 8)).readBigUInt64LE(0)) * 512;
    const gt = (await readAt(sparse, gd, 4)).readUInt32LE(0) * 512;
    const error = await expectStorageError(await bad(sparse, "far-grain", [gt, 4, (b) => b.writeUInt32LE(0x7ffffff0)]), "vmdk", "STORAGE_CORRUPT");
    expect(error.message).toMatch(/past the end/);
  });

  it("refuses damaged compressed grains and markers that lie", async () => {
    const gd = Number((await readAt(stream, 56, 8)).readBigUInt64LE(0)) * 512;
    const gt = (await readAt(stream, gd, 4)).readUInt32LE(0) * 512;
    const grain = (await readAt(stream, gt, 4)).readUInt32LE(0) * 512;
    await expectStorageError(await bad(stream, "garbled", [grain + 12, 64, (b) => b.fill(0x77)]), "vmdk", "STORAGE_CORRUPT");
    await expectStorageError(await bad(stream, "long-marker", [grain + 8, 4, (b) => b.writeUInt32LE(0x7fffffff)]), "vmdk", "STORAGE_CORRUPT");
  });

  it("refuses GD_AT_END without a footer", async () => {
    await expectStorageError(await bad(stream, "no-footer", [56, 8, (b) => b.writeBigUInt64LE(0xffffffffffffffffn)]), "vmdk", "STORAGE_CORRUPT");
  });

  it("fails with a typed error on truncated, empty and random files", async () => {
    const cut = await bad(sparse, "cut");
    await truncate(cut, 1000);
    await expectStorageError(cut, "vmdk", "STORAGE_TRUNCATED");
    await writeFile(join(dir, "empty.vmdk"), "");
    await expectStorageError(join(dir, "empty.vmdk"), "vmdk", "STORAGE_CORRUPT");
    await writeFile(join(dir, "random.vmdk"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    await expectStorageError(join(dir, "random.vmdk"), "vmdk", "STORAGE_CORRUPT");
  });
});

describe("vmdk driver under fuzzing", () => {
  it("reads or rejects with a StorageError every mutation of real VMDK headers, descriptors and tables", async () => {
    const small = await scratchDir();
    const source = await makeScatteredRaw(small, 5 * MIB + 1536, { seed: 6 });
    for (const [seed, subformat] of [[7, "monolithicSparse"], [8, "streamOptimized"], [9, "monolithicFlat"]] as const) {
      const image = await qemuConvert(source, small, "vmdk", `subformat=${subformat}`, `fuzz-${subformat}.vmdk`);
      const regions: [number, number][] = [[0, 512]];
      if (subformat !== "monolithicFlat") {
        const header = await readAt(image, 0, 512);
        const descriptor = Number(header.readBigUInt64LE(28)) * 512;
        const gd = Number(header.readBigUInt64LE(56)) * 512;
        const overhead = Number(header.readBigUInt64LE(64)) * 512;
        regions.push([descriptor, 512], [gd, overhead - gd]);
        // The first grain (its marker, for streamOptimized).
        const grain = (await readAt(image, (await readAt(image, gd, 4)).readUInt32LE(0) * 512, 4)).readUInt32LE(0) * 512;
        if (grain > 0) regions.push([grain, 64]);
      }
      const report = await fuzzImage(image, "vmdk", { seed, cases: 50, regions });
      expect(report.read, "some mutations still read").toBeGreaterThan(0);
      expect(Object.keys(report.errors).length, "some mutations are refused").toBeGreaterThan(0);
    }
  });
});
