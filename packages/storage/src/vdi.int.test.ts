import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { expectDriverMatchesQemu, makeScatteredRaw, qemu, tempDir } from "./image-conformance.js";
import { vdiDriver } from "./vdi.js";
import { rm } from "node:fs/promises";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe("vdi driver against qemu-img", () => {
  it.each([["dynamic", []], ["static", ["-o", "static=on"]]] as const)("reads a %s VDI like qemu-img convert -O raw", async (_name, options) => {
    const dir = await tempDir();
    dirs.push(dir);
    const raw = await makeScatteredRaw(dir, 46 * 1024 * 1024 + 12345 * 512);
    const image = join(dir, "disk.vdi");
    await qemu("convert", "-f", "raw", "-O", "vdi", ...options, raw, image);
    await expectDriverMatchesQemu(vdiDriver, image);
  });
});
