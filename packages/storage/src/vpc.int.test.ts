import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { expectDriverMatchesQemu, makeScatteredRaw, qemu, tempDir } from "./image-conformance.js";
import { vpcDriver } from "./vpc.js";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe("vpc driver against qemu-img", () => {
  it.each(["fixed", "dynamic"])("reads a %s VHD like qemu-img convert -O raw", async (subformat) => {
    const dir = await tempDir();
    dirs.push(dir);
    // Not a multiple of the 2 MiB block, nor of a CHS cylinder.
    const raw = await makeScatteredRaw(dir, 37 * 1024 * 1024 + 4321 * 512);
    const image = join(dir, "disk.vhd");
    await qemu("convert", "-f", "raw", "-O", "vpc", "-o", `subformat=${subformat}`, raw, image);
    await expectDriverMatchesQemu(vpcDriver, image);
  });
});
