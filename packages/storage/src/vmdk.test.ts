// The vmdk driver on small VMDKs built here byte by byte (qemu-img-made ones are in
// vmdk.int.test.ts): compressed and zeroed grains, descriptors of several extents over a parent,
// and the confinement of extent paths.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRange, type BlockDevice, type Extent } from "./block-device.js";
import { openDirect } from "./image-conformance.js";
import { vmdkDriver } from "./vmdk.js";
import { openDisk } from "./open-disk.js";

const GRAIN = 4096; // 8 sectors
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "leapp-vmdk-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * A sparse extent of `grains` 4 KiB grains, 4 per grain table. `content[i]` is grain i's fill
 * byte, `null` for unallocated, `"zero"` for a zeroed grain. With `compress`, grains are deflated
 * behind markers as in streamOptimized.
 */
function sparseExtent(content: (number | null | "zero")[], options: { compress?: boolean; descriptor?: string } = {}): Buffer {
  const sectors: Buffer[] = [];
  const header = Buffer.alloc(512);
  const tables = Math.ceil(content.length / 4);
  const gdSector = 1;
  const gtSector = gdSector + 1;
  const descriptorSector = gtSector + tables;
  let next = descriptorSector + 2; // grains start after a 2-sector descriptor area
  header.writeUInt32LE(0x564d444b, 0);
  header.writeUInt32LE(options.compress ? 3 : 1, 4);
  header.writeUInt32LE((1 << 2) | (options.compress ? (1 << 16) | (1 << 17) : 0), 8);
  header.writeBigUInt64LE(BigInt((content.length * GRAIN) / 512), 12);
  header.writeBigUInt64LE(8n, 20);
  header.writeBigUInt64LE(options.descriptor ? BigInt(descriptorSector) : 0n, 28);
  header.writeBigUInt64LE(options.descriptor ? 2n : 0n, 36);
  header.writeUInt32LE(4, 44);
  header.writeBigUInt64LE(BigInt(gdSector), 56);
  header.writeUInt16LE(options.compress ? 1 : 0, 77);
  const directory = Buffer.alloc(512);
  const gts = Buffer.alloc(512 * tables);
  const grains: Buffer[] = [];
  content.forEach((fill, i) => {
    if (fill === null) return;
    if (fill === "zero") return gts.writeUInt32LE(1, (Math.floor(i / 4) * 512) + (i % 4) * 4);
    gts.writeUInt32LE(next, Math.floor(i / 4) * 512 + (i % 4) * 4);
    let grain = Buffer.alloc(GRAIN, fill);
    if (options.compress) {
      const data = deflateSync(grain);
      const marker = Buffer.alloc(12);
      marker.writeBigUInt64LE(BigInt((i * GRAIN) / 512), 0);
      marker.writeUInt32LE(data.length, 8);
      grain = Buffer.concat([marker, data]);
      grain = Buffer.concat([grain, Buffer.alloc((512 - (grain.length % 512)) % 512)]);
    }
    grains.push(grain);
    next += grain.length / 512;
  });
  for (let t = 0; t < tables; t++) directory.writeUInt32LE(content.slice(t * 4, t * 4 + 4).some((c) => c !== null) ? gtSector + t : 0, t * 4);
  const descriptor = Buffer.alloc(1024);
  if (options.descriptor) descriptor.write(options.descriptor, "latin1");
  sectors.push(header, directory, gts, descriptor, ...grains);
  return Buffer.concat(sectors);
}

async function all(device: BlockDevice): Promise<{ bytes: Buffer; map: Extent[] }> {
  const bytes = Buffer.alloc(device.size);
  await device.read(bytes, 0);
  const map: Extent[] = [];
  for await (const e of device.extents()) map.push(e);
  return { bytes, map };
}

/** A parent disk in memory, every byte 0x11, all data. */
function memoryParent(size: number): BlockDevice {
  return {
    format: "raw",
    size,
    writable: false,
    async read(buffer, position) {
      checkRange(size, position, buffer.length);
      buffer.fill(0x11);
    },
    async *extents(start = 0, length = size - start) {
      checkRange(size, start, length);
      yield { offset: start, length, kind: "data" };
    },
    async write() {},
    async flush() {},
    async close() {},
  };
}

describe("vmdk sparse extents", () => {
  it.each([false, true])("reads data, unallocated and zeroed grains (compressed: %s)", async (compress) => {
    const path = join(dir, `sparse-${compress}.vmdk`);
    await writeFile(path, sparseExtent([0x21, null, "zero", 0x24, null, null, null, null, 0x29], { compress }));
    expect(vmdkDriver.probe(await readFile(path), new Uint8Array(0), 0)).toBe(true);
    const device = await openDirect(vmdkDriver, path);
    const { bytes, map } = await all(device);
    const fill = (i: number) => bytes.subarray(i * GRAIN, (i + 1) * GRAIN);
    expect(fill(0).every((b) => b === 0x21)).toBe(true);
    expect(fill(3).every((b) => b === 0x24)).toBe(true);
    expect(fill(8).every((b) => b === 0x29)).toBe(true);
    expect(bytes.subarray(GRAIN, 3 * GRAIN).every((b) => b === 0)).toBe(true);
    expect(map).toEqual([
      { offset: 0, length: GRAIN, kind: "data" },
      { offset: GRAIN, length: GRAIN, kind: "unallocated" },
      { offset: 2 * GRAIN, length: GRAIN, kind: "zero" },
      { offset: 3 * GRAIN, length: GRAIN, kind: "data" },
      { offset: 4 * GRAIN, length: 4 * GRAIN, kind: "unallocated" },
      { offset: 8 * GRAIN, length: GRAIN, kind: "data" },
    ]);
    // Small reads inside one grain, concurrently (compressed grains are then served from a cache).
    const small = await Promise.all([1, 2, 3, 4].map(async (k) => {
      const b = Buffer.alloc(100);
      await device.read(b, 3 * GRAIN + k * 100);
      return b.every((x) => x === 0x24);
    }));
    expect(small).toEqual([true, true, true, true]);
    await device.close();
  });

  it("reads unallocated grains of a delta disk from its parent", async () => {
    const path = join(dir, "delta.vmdk");
    const descriptor = 'version=1\nCID=2\nparentCID=1\ncreateType="monolithicSparse"\nparentFileNameHint="base.vmdk"\nRW 32 SPARSE "delta.vmdk"\n';
    await writeFile(path, sparseExtent([0x21, null, "zero", null], { descriptor }));
    const asked: string[] = [];
    const device = await openDirect(vmdkDriver, path, async (name) => (asked.push(name), memoryParent(4 * GRAIN)));
    expect(asked).toEqual(["base.vmdk"]);
    const { bytes, map } = await all(device);
    expect(bytes[0]).toBe(0x21);
    expect(bytes[GRAIN]).toBe(0x11);
    expect(bytes[2 * GRAIN]).toBe(0);
    expect(bytes[3 * GRAIN]).toBe(0x11);
    expect(map.map((e) => e.kind)).toEqual(["data", "zero", "data"]);
    await device.close();
  });
});

describe("vmdk descriptors", () => {
  it("lays extents end to end: sparse, zero and flat, over a parent at the right offsets", async () => {
    const sub = join(dir, "multi");
    await mkdir(sub);
    await writeFile(join(sub, "a-s001.vmdk"), sparseExtent([0x31, null]));
    await writeFile(join(sub, "b-flat.vmdk"), Buffer.concat([Buffer.alloc(1024, 0xee), Buffer.alloc(GRAIN, 0x42)]));
    const descriptor = [
      "# Disk DescriptorFile",
      "version=1",
      'parentFileNameHint="parent.vmdk"',
      'RW 16 SPARSE "a-s001.vmdk"',
      "RW 8 ZERO",
      'RW 8 FLAT "b-flat.vmdk" 2',
    ].join("\n");
    await writeFile(join(sub, "disk.vmdk"), descriptor);
    const device = await openDirect(vmdkDriver, join(sub, "disk.vmdk"), async () => memoryParent(3 * GRAIN));
    expect(device.size).toBe(4 * GRAIN);
    const { bytes, map } = await all(device);
    expect(bytes[0]).toBe(0x31);
    expect(bytes[GRAIN]).toBe(0x11); // unallocated in the sparse extent: the parent's
    expect(bytes[2 * GRAIN]).toBe(0); // ZERO
    expect(bytes.subarray(3 * GRAIN).every((b) => b === 0x42)).toBe(true); // flat, from offset 1024
    expect(map).toEqual([
      { offset: 0, length: 2 * GRAIN, kind: "data" },
      { offset: 2 * GRAIN, length: GRAIN, kind: "zero" },
      { offset: 3 * GRAIN, length: GRAIN, kind: "data" },
    ]);
    const across = Buffer.alloc(GRAIN);
    await device.read(across, 2 * GRAIN + GRAIN / 2);
    expect(across[0]).toBe(0);
    expect(across[GRAIN - 1]).toBe(0x42);
    await device.close();
  });

  it("refuses a descriptor naming one extent file twice, or none at all", async () => {
    const sub = join(dir, "twice");
    await mkdir(sub);
    await writeFile(join(sub, "x-flat.vmdk"), Buffer.alloc(GRAIN));
    await writeFile(join(sub, "twice.vmdk"), 'version=1\nRW 8 FLAT "x-flat.vmdk" 0\nRW 8 FLAT "x-flat.vmdk" 0\n');
    await expect(openDirect(vmdkDriver, join(sub, "twice.vmdk"))).rejects.toMatchObject({ code: "STORAGE_CORRUPT" });
    await writeFile(join(sub, "none.vmdk"), "version=1\n");
    await expect(openDirect(vmdkDriver, join(sub, "none.vmdk"))).rejects.toMatchObject({ code: "STORAGE_CORRUPT" });
  });

  it("confines extent paths to the descriptor's directory (or a trusted one)", async () => {
    const jail = join(dir, "jail");
    await mkdir(jail);
    await writeFile(join(jail, "ok-flat.vmdk"), Buffer.alloc(4096, 0x61));
    await symlink("/etc/hostname", join(jail, "out.vmdk"));
    const withExtent = async (name: string) => {
      const descriptor = join(jail, "disk.vmdk");
      await writeFile(descriptor, `version=1\nRW 8 FLAT "${name}" 0\n`);
      return descriptor;
    };
    for (const name of ["ok-flat.vmdk", join(jail, "ok-flat.vmdk"), "sub/../ok-flat.vmdk"]) {
      const device = await openDisk(await withExtent(name));
      const byte = new Uint8Array(1);
      await device.read(byte, 4095);
      expect(byte[0], name).toBe(0x61);
      await device.close();
    }
    for (const name of ["../../etc/passwd", "/etc/passwd", "..", ".", "out.vmdk", "sub/../../x"]) {
      await expect(openDisk(await withExtent(name)), name).rejects.toMatchObject({ code: "STORAGE_PATH_ESCAPE" });
    }
    await expect(openDisk(await withExtent("missing.vmdk"))).rejects.toMatchObject({ code: "STORAGE_BACKING_MISSING" });
    // A directory the caller trusts opens like the descriptor's own.
    const outside = join(dir, "trusted");
    await mkdir(outside);
    await writeFile(join(outside, "far-flat.vmdk"), Buffer.alloc(4096, 0x62));
    const far = await withExtent(join(outside, "far-flat.vmdk"));
    await expect(openDisk(far)).rejects.toMatchObject({ code: "STORAGE_PATH_ESCAPE" });
    await (await openDisk(far, { trustedBackingDirs: [outside] })).close();
  });
});
