import { writeFile, truncate, open } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { detectFormat, openDisk } from "./index.js";
import { expectSameContentAsQemu, qemuImg, scratchDir } from "./testing.js";
import type { Extent } from "./block-device.js";

async function collect(it: AsyncIterable<Extent>): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe("raw driver", () => {
  it("reads a sparse raw file like qemu-img and maps its holes", async () => {
    const dir = await scratchDir();
    const path = join(dir, "disk.raw");
    await truncate(await (await open(path, "w")).close().then(() => path), 64 << 20);
    const fh = await open(path, "r+");
    await fh.write(Buffer.alloc(10000, 0xab), 0, 10000, 5 << 20);
    await fh.write(Buffer.from("end"), 0, 3, (64 << 20) - 3);
    await fh.close();
    expect(await detectFormat(path)).toBe("raw");
    await expectSameContentAsQemu(path);
    await expectSameContentAsQemu(path, { useExtents: true });
    const device = await openDisk(path);
    const extents = await collect(device.extents());
    // Holes are found at 64 KiB granularity (see raw.ts).
    expect(extents).toEqual([
      { offset: 0, length: 5 << 20, kind: "zero" },
      { offset: 5 << 20, length: 65536, kind: "data" },
      { offset: (5 << 20) + 65536, length: (64 << 20) - 65536 - (5 << 20) - 65536, kind: "zero" },
      { offset: (64 << 20) - 65536, length: 65536, kind: "data" },
    ]);
    await device.close();
  });

  it("treats an empty sparse file as one zero extent and a full file as data", async () => {
    const dir = await scratchDir();
    const empty = join(dir, "empty.raw");
    await qemuImg("create", "-q", "-f", "raw", empty, "1G");
    const device = await openDisk(empty);
    expect(await collect(device.extents())).toEqual([{ offset: 0, length: 1 << 30, kind: "zero" }]);
    await device.close();
    const full = join(dir, "full.raw");
    await writeFile(full, Buffer.alloc(1 << 20, 1));
    const d2 = await openDisk(full);
    expect(await collect(d2.extents())).toEqual([{ offset: 0, length: 1 << 20, kind: "data" }]);
    await d2.close();
    await expectSameContentAsQemu(full);
  });
});
