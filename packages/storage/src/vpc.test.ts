// The vpc driver on small VHDs built here byte by byte (qemu-img-made ones are in vpc.int.test.ts).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDirect } from "./image-conformance.js";
import { vpcDriver } from "./vpc.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "leapp-vpc-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A fixed-disk footer: `creator` decides whether the size comes from CHS or currentSize. */
function footer(options: { creator: string; currentSize: number; cylinders: number; heads: number; sectors: number; type?: number }): Buffer {
  const f = Buffer.alloc(512);
  f.write("conectix", 0, "latin1");
  f.writeUInt32BE(2, 8);
  f.writeUInt32BE(0x00010000, 12);
  f.writeBigUInt64BE(0xffffffffffffffffn, 16);
  f.write(options.creator, 28, "latin1");
  f.writeBigUInt64BE(BigInt(options.currentSize), 40);
  f.writeBigUInt64BE(BigInt(options.currentSize), 48);
  f.writeUInt16BE(options.cylinders, 56);
  f.writeUInt8(options.heads, 58);
  f.writeUInt8(options.sectors, 59);
  f.writeUInt32BE(options.type ?? 2, 60);
  let sum = 0;
  for (const byte of f) sum += byte;
  f.writeUInt32BE(~sum >>> 0, 64);
  return f;
}

describe("vpc driver", () => {
  it("probes a fixed VHD by its footer and checksum, which qemu-img does not", () => {
    const data = Buffer.alloc(4096, 7);
    const image = Buffer.concat([data, footer({ creator: "win ", currentSize: 4096, cylinders: 1, heads: 1, sectors: 8 })]);
    expect(vpcDriver.probe(image.subarray(0, 4096), image.subarray(image.length - 4096), image.length)).toBe(true);
    image[image.length - 512 + 40]! ^= 1; // break the checksum
    expect(vpcDriver.probe(image.subarray(0, 4096), image.subarray(image.length - 4096), image.length)).toBe(false);
  });

  it("sizes Hyper-V disks by currentSize and Virtual PC / qemu disks by their geometry", async () => {
    const data = Buffer.alloc(16 * 512);
    data.write("hello", 0);
    const hyperV = join(dir, "hyperv.vhd");
    await writeFile(hyperV, Buffer.concat([data, footer({ creator: "win ", currentSize: 16 * 512, cylinders: 1, heads: 1, sectors: 4 })]));
    const chs = join(dir, "chs.vhd");
    await writeFile(chs, Buffer.concat([data, footer({ creator: "qemu", currentSize: 16 * 512, cylinders: 1, heads: 2, sectors: 6 })]));
    const a = await openDirect(vpcDriver, hyperV);
    const b = await openDirect(vpcDriver, chs);
    expect(a.size).toBe(16 * 512);
    expect(b.size).toBe(12 * 512);
    const hello = Buffer.alloc(5);
    await b.read(hello, 0);
    expect(hello.toString()).toBe("hello");
    await a.close();
    await b.close();
  });

  it("refuses differencing disks, unknown types and fixed disks larger than their file", async () => {
    const data = Buffer.alloc(1024);
    const cases: [string, Buffer, string][] = [
      ["diff.vhd", footer({ creator: "win ", currentSize: 1024, cylinders: 0, heads: 0, sectors: 0, type: 4 }), "STORAGE_UNSUPPORTED"],
      ["type9.vhd", footer({ creator: "win ", currentSize: 1024, cylinders: 0, heads: 0, sectors: 0, type: 9 }), "STORAGE_CORRUPT"],
      ["short.vhd", footer({ creator: "win ", currentSize: 1 << 30, cylinders: 0, heads: 0, sectors: 0 }), "STORAGE_CORRUPT"],
    ];
    for (const [name, tail, code] of cases) {
      await writeFile(join(dir, name), Buffer.concat([data, tail]));
      await expect(openDirect(vpcDriver, join(dir, name))).rejects.toMatchObject({ code });
    }
  });
});
