import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { expectDriverMatchesQemu, makeScatteredRaw, qemu, tempDir } from "./image-conformance.js";
import { vhdxDriver } from "./vhdx.js";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe("vhdx driver against qemu-img", () => {
  it.each([
    ["fixed", "subformat=fixed"],
    ["dynamic", "subformat=dynamic"],
    ["dynamic with 1 MiB blocks", "subformat=dynamic,block_size=1M"],
  ])("reads a %s VHDX like qemu-img convert -O raw", async (_name, options) => {
    const dir = await tempDir();
    dirs.push(dir);
    const raw = await makeScatteredRaw(dir, 41 * 1024 * 1024 + 777 * 512);
    const image = join(dir, "disk.vhdx");
    await qemu("convert", "-f", "raw", "-O", "vhdx", "-o", options, raw, image);
    await expectDriverMatchesQemu(vhdxDriver, image);
  });
});
