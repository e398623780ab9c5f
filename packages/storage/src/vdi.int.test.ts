// The vdi driver against images made by the real qemu-img (our oracle), and against lying ones.
import { truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { expectConformsToQemu, expectStorageError, fuzzImage, makeScatteredRaw, patchedCopy, qemuConvert, readAt, type Patch } from "./image-conformance.js";
import { expectSameContentAsQemu, scratchDir } from "./testing.js";

const MIB = 1024 * 1024;
let dir: string;
let raw: string;
let dynamic: string;
beforeAll(async () => {
  dir = await scratchDir();
  // Not a multiple of the 1 MiB block.
  raw = await makeScatteredRaw(dir, 46 * MIB + 12345 * 512);
  dynamic = await qemuConvert(raw, dir, "vdi", "", "dynamic.vdi");
});

const bad = (name: string, ...patches: Patch[]) => patchedCopy(dynamic, join(dir, `${name}.vdi`), patches);

describe("vdi driver against qemu-img", () => {
  it.each([["dynamic", ""], ["static", "static=on"]])("reads a %s VDI like qemu-img convert -O raw", async (name, options) => {
    await expectConformsToQemu(await qemuConvert(raw, dir, "vdi", options, `${name}.vdi`), "vdi");
  });

  it("reads a 20 GiB dynamic VDI holding little data, sparse-aware", async () => {
    const big = await scratchDir();
    const source = await makeScatteredRaw(big, 20 * 1024 * MIB, { runs: 12, seed: 20 });
    const image = await qemuConvert(source, big, "vdi", "");
    await expectSameContentAsQemu(image, { format: "vdi", useExtents: true });
  });
});

describe("vdi driver on bad input", () => {
  it("refuses a block size that is not a power of two", async () => {
    await expectStorageError(await bad("block3m", [376, 4, (b) => b.writeUInt32LE(3 * MIB)]), "vdi", "STORAGE_CORRUPT");
  });

  it("refuses a block map entry pointing past the end of the file", async () => {
    const mapOffset = (await readAt(dynamic, 340, 4)).readUInt32LE(0);
    const error = await expectStorageError(await bad("far-entry", [mapOffset + 12, 4, (b) => b.writeUInt32LE(0xfff0)]), "vdi", "STORAGE_CORRUPT");
    expect(error.message).toMatch(/past the end/);
  });

  it("refuses a disk size the block map cannot cover, and a huge block map", async () => {
    await expectStorageError(await bad("huge-size", [368, 8, (b) => b.writeBigUInt64LE(1n << 50n)]), "vdi", "STORAGE_CORRUPT");
    const huge = await bad("huge-map", [368, 8, (b) => b.writeBigUInt64LE(1n << 50n)], [384, 4, (b) => b.writeUInt32LE(0x40000000)]);
    await expectStorageError(huge, "vdi", "STORAGE_TRUNCATED", "STORAGE_CORRUPT");
  });

  it("fails with STORAGE_TRUNCATED on a file cut inside its block map", async () => {
    const image = await bad("cut");
    await truncate(image, 600);
    await expectStorageError(image, "vdi", "STORAGE_TRUNCATED");
  });

  it("gives typed errors for empty and random files opened as vdi", async () => {
    await writeFile(join(dir, "empty.vdi"), "");
    await expectStorageError(join(dir, "empty.vdi"), "vdi", "STORAGE_TRUNCATED");
    await writeFile(join(dir, "random.vdi"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    await expectStorageError(join(dir, "random.vdi"), "vdi", "STORAGE_CORRUPT");
  });
});

describe("vdi driver under fuzzing", () => {
  it("reads or rejects with a StorageError every mutation of a real VDI's header and block map", async () => {
    const small = await scratchDir();
    for (const [seed, options] of [[1, ""], [2, "static=on"]] as const) {
      const image = await qemuConvert(await makeScatteredRaw(small, 5 * MIB + 1536, { seed }), small, "vdi", options, `fuzz${seed}.vdi`);
      const mapOffset = (await readAt(image, 340, 4)).readUInt32LE(0);
      const report = await fuzzImage(image, "vdi", { seed, cases: 60, regions: [[0, 512], [mapOffset, 6 * 4]] });
      expect(report.read, "some mutations still read").toBeGreaterThan(0);
      expect(Object.keys(report.errors).length, "some mutations are refused").toBeGreaterThan(0);
    }
  });
});
