// The vdi driver on small VDIs built here byte by byte (the qemu-img-made ones are in vdi.int.test.ts).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlockDevice, Extent } from "./block-device.js";
import { StorageError } from "./errors.js";
import { openDirect } from "./image-conformance.js";
import { vdiDriver } from "./vdi.js";

const BLOCK = 4096;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "leapp-vdi-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A dynamic VDI of `size` bytes in 4 KiB blocks; `map` is the block map, `blocks` the data area. */
function vdi(size: number, map: number[], blocks: Buffer[], edit?: (header: Buffer) => void): Buffer {
  const header = Buffer.alloc(512);
  header.write("<<< Oracle VM VirtualBox Disk Image >>>\n", 0, "latin1");
  header.writeUInt32LE(0xbeda107f, 64);
  header.writeUInt32LE(0x00010001, 68);
  header.writeUInt32LE(400, 72);
  header.writeUInt32LE(1, 76); // dynamic
  header.writeUInt32LE(512, 340); // block map
  header.writeUInt32LE(1024, 344); // data
  header.writeUInt32LE(512, 360);
  header.writeBigUInt64LE(BigInt(size), 368);
  header.writeUInt32LE(BLOCK, 376);
  header.writeUInt32LE(map.length, 384);
  header.writeUInt32LE(blocks.length, 388);
  edit?.(header);
  const table = Buffer.alloc(512, 0xff);
  map.forEach((entry, i) => table.writeUInt32LE(entry, i * 4));
  return Buffer.concat([header, table, ...blocks]);
}

async function openBytes(name: string, bytes: Buffer): Promise<BlockDevice> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return openDirect(vdiDriver, path);
}

async function extents(device: BlockDevice): Promise<Extent[]> {
  const all: Extent[] = [];
  for await (const e of device.extents()) all.push(e);
  return all;
}

describe("vdi driver", () => {
  it("maps allocated, free and zero blocks, and reads across block boundaries", async () => {
    const a = Buffer.alloc(BLOCK, 0xaa);
    const b = Buffer.alloc(BLOCK, 0xbb);
    // Virtual blocks: 0 -> data block 1 (b), 1 free, 2 zero, 3 -> data block 0 (a, partly used).
    const device = await openBytes("mixed.vdi", vdi(3 * BLOCK + 1000, [1, 0xffffffff, 0xfffffffe, 0], [a, b]));
    expect(device.size).toBe(3 * BLOCK + 1000);
    expect(device.format).toBe("vdi");
    const all = Buffer.alloc(device.size);
    await device.read(all, 0);
    expect(all.subarray(0, BLOCK).every((x) => x === 0xbb)).toBe(true);
    expect(all.subarray(BLOCK, 3 * BLOCK).every((x) => x === 0)).toBe(true);
    expect(all.subarray(3 * BLOCK).every((x) => x === 0xaa)).toBe(true);
    const middle = Buffer.alloc(10);
    await device.read(middle, BLOCK - 5);
    expect([...middle]).toEqual([0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0, 0, 0, 0, 0]);
    expect(await extents(device)).toEqual([
      { offset: 0, length: BLOCK, kind: "data" },
      { offset: BLOCK, length: BLOCK, kind: "unallocated" },
      { offset: 2 * BLOCK, length: BLOCK, kind: "zero" },
      { offset: 3 * BLOCK, length: 1000, kind: "data" },
    ]);
    await expect(device.read(Buffer.alloc(2), device.size - 1)).rejects.toMatchObject({ code: "STORAGE_OUT_OF_RANGE" });
    await expect(device.write(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: "STORAGE_READ_ONLY" });
    await device.close();
    await expect(device.read(Buffer.alloc(1), 0)).rejects.toMatchObject({ code: "STORAGE_CLOSED" });
  });

  it("serves concurrent reads correctly", async () => {
    const blocks = Array.from({ length: 8 }, (_, i) => Buffer.alloc(BLOCK, i + 1));
    const device = await openBytes("concurrent.vdi", vdi(8 * BLOCK, [7, 6, 5, 4, 3, 2, 1, 0], blocks));
    const results = await Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        const buffer = Buffer.alloc(100);
        const at = ((i * 997) % 8) * BLOCK + 7;
        await device.read(buffer, at);
        return buffer.every((x) => x === 8 - Math.floor(at / BLOCK));
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    await device.close();
  });

  it("gives typed errors for lying headers", async () => {
    const data = [Buffer.alloc(BLOCK, 1)];
    const code = async (name: string, bytes: Buffer) => {
      try {
        await (await openBytes(name, bytes)).close();
        return "opened";
      } catch (error) {
        expect(error).toBeInstanceOf(StorageError);
        return (error as StorageError).code;
      }
    };
    expect(await code("block-size.vdi", vdi(BLOCK, [0], data, (h) => h.writeUInt32LE(3000, 376)))).toBe("STORAGE_CORRUPT");
    expect(await code("too-big.vdi", vdi(BLOCK, [0], data, (h) => h.writeBigUInt64LE(1n << 40n, 368)))).toBe("STORAGE_CORRUPT");
    expect(await code("past-end.vdi", vdi(BLOCK, [9], data))).toBe("STORAGE_CORRUPT");
    expect(await code("map-past-end.vdi", vdi(BLOCK, [0], data, (h) => h.writeUInt32LE(1 << 20, 340)))).toBe("STORAGE_TRUNCATED");
    expect(await code("differencing.vdi", vdi(BLOCK, [0], data, (h) => h.writeUInt32LE(4, 76)))).toBe("STORAGE_UNSUPPORTED");
    expect(await code("parent.vdi", vdi(BLOCK, [0], data, (h) => h.writeUInt8(1, 440)))).toBe("STORAGE_UNSUPPORTED");
    expect(await code("version.vdi", vdi(BLOCK, [0], data, (h) => h.writeUInt32LE(0x00020000, 68)))).toBe("STORAGE_UNSUPPORTED");
    expect(await code("extra.vdi", vdi(BLOCK, [0], data, (h) => h.writeUInt32LE(512, 380)))).toBe("STORAGE_UNSUPPORTED");
  });

  it("probes by the signature only", () => {
    const header = vdi(BLOCK, [0], []);
    expect(vdiDriver.probe(header, header, header.length)).toBe(true);
    header.writeUInt32LE(0, 64);
    expect(vdiDriver.probe(header, header, header.length)).toBe(false);
    expect(vdiDriver.probe(new Uint8Array(10), new Uint8Array(10), 10)).toBe(false);
  });
});
