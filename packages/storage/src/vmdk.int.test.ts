import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { expectDriverMatchesQemu, makeScatteredRaw, qemu, tempDir } from "./image-conformance.js";
import { vmdkDriver } from "./vmdk.js";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe("vmdk driver against qemu-img", () => {
  it.each(["monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"])(
    "reads a %s VMDK like qemu-img convert -O raw",
    async (subformat) => {
      const dir = await tempDir();
      dirs.push(dir);
      // Not a multiple of the 64 KiB grain.
      const raw = await makeScatteredRaw(dir, 45 * 1024 * 1024 + 4321 * 512);
      const image = join(dir, "disk.vmdk");
      await qemu("convert", "-f", "raw", "-O", "vmdk", "-o", `subformat=${subformat}`, raw, image);
      await expectDriverMatchesQemu(vmdkDriver, image);
    },
  );
});
