import { writeFile, truncate, open } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { detectDiskFormat, openDisk } from "./index.js";
import { sparseAddon } from "./native.js";
import { RawDevice } from "./raw.js";
import { expectSameContentAsQemu, qemuImg, scratchDir } from "./testing.js";
import type { Extent } from "./block-device.js";

async function collect(it: AsyncIterable<Extent>): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe("raw driver", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  async function sparseFixture(): Promise<string> {
    const dir = await scratchDir();
    const path = join(dir, "disk.raw");
    await truncate(await (await open(path, "w")).close().then(() => path), 64 << 20);
    const fh = await open(path, "r+");
    await fh.write(Buffer.alloc(10000, 0xab), 0, 10000, 5 << 20);
    await fh.write(Buffer.from("end"), 0, 3, (64 << 20) - 3);
    await fh.close();
    return path;
  }

  it("has the SEEK_DATA addon here (the build compiles it; without it the next test proves nothing new)", () => {
    // Linux with a C compiler, as on every machine this project builds on.
    expect(process.platform).toBe("linux");
    expect(sparseAddon()).not.toBeNull();
    vi.stubEnv("LEAPP_STORAGE_NATIVE", "0");
    expect(sparseAddon()).toBeNull();
  });

  it("maps a sparse raw file's holes with SEEK_DATA, block by block, and reads it like qemu-img", async () => {
    const path = await sparseFixture();
    expect(await detectDiskFormat(path)).toBe("raw");
    await expectSameContentAsQemu(path);
    await expectSameContentAsQemu(path, { useExtents: true });
    const device = await openDisk(path);
    expect(device).toBeInstanceOf(RawDevice);
    expect((device as RawDevice).mapsHoles).toBe(true);
    // The file system's own map: 4 KiB blocks on ext4.
    const block = 4096;
    expect(await collect(device.extents())).toEqual([
      { offset: 0, length: 5 << 20, kind: "zero" },
      { offset: 5 << 20, length: 3 * block, kind: "data" },
      { offset: (5 << 20) + 3 * block, length: (64 << 20) - block - (5 << 20) - 3 * block, kind: "zero" },
      { offset: (64 << 20) - block, length: block, kind: "data" },
    ]);
    // A window into the map starts and ends where asked.
    expect(await collect(device.extents((5 << 20) + 100, 2 * block))).toEqual([{ offset: (5 << 20) + 100, length: 2 * block, kind: "data" }]);
    expect(await collect(device.extents(1 << 20, 4 << 20))).toEqual([{ offset: 1 << 20, length: 4 << 20, kind: "zero" }]);
    await device.close();
  });

  it("without the addon, finds the same holes by scanning at 64 KiB granularity", async () => {
    vi.stubEnv("LEAPP_STORAGE_NATIVE", "0");
    const path = await sparseFixture();
    await expectSameContentAsQemu(path, { useExtents: true });
    const device = await openDisk(path);
    expect((device as RawDevice).mapsHoles).toBe(false);
    expect(await collect(device.extents())).toEqual([
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
    // qemu-img writes the first block (zeros) so that probing works; the file system counts it as data.
    expect(await collect(device.extents())).toEqual([
      { offset: 0, length: 4096, kind: "data" },
      { offset: 4096, length: (1 << 30) - 4096, kind: "zero" },
    ]);
    await device.close();
    const full = join(dir, "full.raw");
    await writeFile(full, Buffer.alloc(1 << 20, 1));
    const d2 = await openDisk(full);
    expect(await collect(d2.extents())).toEqual([{ offset: 0, length: 1 << 20, kind: "data" }]);
    await d2.close();
    await expectSameContentAsQemu(full);
  });
});
