// The vhdx driver against images made by the real qemu-img (our oracle), and lying ones.
import { truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { expectConformsToQemu, expectStorageError, fuzzImage, makeScatteredRaw, patchedCopy, qemuConvert, readAt, type Patch } from "./image-conformance.js";
import { expectSameContentAsQemu, scratchDir } from "./testing.js";
import { crc32c } from "./vhdx.js";

const KIB = 1024;
const MIB = 1024 * KIB;
let dir: string;
let raw: string;
let dynamic: string;
beforeAll(async () => {
  dir = await scratchDir();
  raw = await makeScatteredRaw(dir, 41 * MIB + 777 * 512);
  dynamic = await qemuConvert(raw, dir, "vhdx", "subformat=dynamic", "dynamic.vhdx");
});

const bad = (name: string, ...patches: Patch[]) => patchedCopy(dynamic, join(dir, `${name}.vhdx`), patches);

/** Where a region (by its on-disk GUID prefix) lies, from the primary region table. */
async function region(guidPrefix: string, image = dynamic): Promise<number> {
  const table = await readAt(image, 192 * KIB, 64 * KIB);
  for (let i = 0; i < table.readUInt32LE(8); i++) {
    const at = 16 + i * 32;
    if (table.toString("hex", at, at + 16).startsWith(guidPrefix)) return Number(table.readBigUInt64LE(at + 16));
  }
  throw new Error(`no region ${guidPrefix}`);
}

/** Sets a header field in both headers and fixes their checksums, so only the field lies. */
function bothHeaders(offset: number, length: number, write: (b: Buffer) => void): Patch[] {
  return [64 * KIB, 128 * KIB].map((at): Patch => [
    at,
    4 * KIB,
    (header) => {
      write(header.subarray(offset, offset + length));
      header.writeUInt32LE(0, 4);
      header.writeUInt32LE(crc32c(header), 4);
    },
  ]);
}

describe("vhdx driver against qemu-img", () => {
  it.each([
    ["fixed", "subformat=fixed"],
    ["dynamic", "subformat=dynamic"],
    ["dynamic-1m", "subformat=dynamic,block_size=1M"],
    ["dynamic-8m-small-log", "subformat=dynamic,log_size=1M,block_size=8M"],
    ["dynamic-no-zero-state", "subformat=dynamic,block_state_zero=off"],
  ])("reads a %s VHDX like qemu-img convert -O raw", async (name, options) => {
    await expectConformsToQemu(await qemuConvert(raw, dir, "vhdx", options, `${name}.vhdx`), "vhdx");
  });

  it("reads a 20 GiB dynamic VHDX holding little data, sparse-aware", async () => {
    const big = await scratchDir();
    const source = await makeScatteredRaw(big, 20 * 1024 * MIB, { runs: 12, seed: 22 });
    const image = await qemuConvert(source, big, "vhdx", "subformat=dynamic");
    await expectSameContentAsQemu(image, { format: "vhdx", useExtents: true });
  });
});

describe("vhdx driver on bad input", () => {
  it("refuses a disk whose log needs replaying, saying so", async () => {
    const error = await expectStorageError(await bad("dirty", ...bothHeaders(48, 16, (g) => g.fill(0x5a))), "vhdx", "STORAGE_UNSUPPORTED");
    expect(error.message).toMatch(/log/);
  });

  it("refuses a BAT entry past the end of the file", async () => {
    const bat = await region("6677c22d");
    const entry = (BigInt(100_000) << 20n) | 6n; // fully present, at 100000 MiB
    const error = await expectStorageError(await bad("far-block", [bat, 8, (b) => b.writeBigUInt64LE(entry)]), "vhdx", "STORAGE_CORRUPT");
    expect(error.message).toMatch(/outside/);
  });

  it("refuses a block size that is not a power of two", async () => {
    const metadata = await region("06a27c8b");
    const table = await readAt(dynamic, metadata, 64 * KIB);
    let parameters = -1;
    for (let i = 0; i < table.readUInt16LE(10); i++) {
      const at = 32 + i * 32;
      if (table.toString("hex", at, at + 4) === "3767a1ca") parameters = metadata + table.readUInt32LE(at + 16);
    }
    await expectStorageError(await bad("block3m", [parameters, 4, (b) => b.writeUInt32LE(3 * MIB)]), "vhdx", "STORAGE_CORRUPT");
  });

  it("refuses headers whose checksums fail", async () => {
    await expectStorageError(await bad("checksums", [64 * KIB + 8, 1, (b) => (b[0]! ^= 1)], [128 * KIB + 8, 1, (b) => (b[0]! ^= 1)]), "vhdx", "STORAGE_CORRUPT");
  });

  it("fails with a typed error on truncated, empty and random files", async () => {
    const cut = await bad("cut");
    await truncate(cut, 100 * KIB);
    await expectStorageError(cut, "vhdx", "STORAGE_TRUNCATED");
    await writeFile(join(dir, "empty.vhdx"), "");
    await expectStorageError(join(dir, "empty.vhdx"), "vhdx", "STORAGE_TRUNCATED");
    await writeFile(join(dir, "random.vhdx"), Buffer.from(Array.from({ length: 300 * KIB }, (_, i) => (i * 7919) % 251)));
    await expectStorageError(join(dir, "random.vhdx"), "vhdx", "STORAGE_CORRUPT");
  });
});

/** Recomputes the CRC-32C of both headers and both region tables, where their signatures survive. */
function fixChecksums(image: Buffer): void {
  for (const [at, length, signature] of [[64 * KIB, 4 * KIB, "head"], [128 * KIB, 4 * KIB, "head"], [192 * KIB, 64 * KIB, "regi"], [256 * KIB, 64 * KIB, "regi"]] as const) {
    const bytes = image.subarray(at, at + length);
    if (bytes.toString("latin1", 0, 4) !== signature) continue;
    bytes.writeUInt32LE(0, 4);
    bytes.writeUInt32LE(crc32c(bytes), 4);
  }
}

describe("vhdx driver under fuzzing", () => {
  it("reads or rejects with a StorageError every mutation of a real VHDX's headers, regions, metadata and BAT", async () => {
    const small = await scratchDir();
    const source = await makeScatteredRaw(small, 5 * MIB + 1536, { seed: 5 });
    for (const [seed, subformat] of [[5, "dynamic"], [6, "fixed"]] as const) {
      const image = await qemuConvert(source, small, "vhdx", `subformat=${subformat}`, `fuzz-${subformat}.vhdx`);
      const metadata = await region("06a27c8b", image);
      const bat = await region("6677c22d", image);
      const regions: [number, number][] = [[64 * KIB, 80], [128 * KIB, 80], [192 * KIB, 80], [metadata, 256], [metadata + 64 * KIB, 64], [bat, 64]];
      const report = await fuzzImage(image, "vhdx", { seed, cases: 40, regions, fix: fixChecksums });
      expect(report.read, "some mutations still read").toBeGreaterThan(0);
      expect(Object.keys(report.errors).length, "some mutations are refused").toBeGreaterThan(0);
    }
  });
});
