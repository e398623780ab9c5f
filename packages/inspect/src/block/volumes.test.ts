import fc from "fast-check";
import { describe, it } from "vitest";
import { InspectError } from "../errors.js";
import { openExt } from "../fs/ext/ext.js";
import { assembleVolumeGroups, readPhysicalVolume } from "./lvm.js";
import { memoryDevice } from "./volumes-test-support.js";
import { openXfs } from "../fs/xfs/xfs.js";

/** A 1 MiB device of random bytes around a valid magic, so the parsers get past the first check. */
const withMagic = (bytes: Uint8Array, at: number, magic: Uint8Array): Uint8Array => {
  const disk = new Uint8Array(1024 * 1024);
  disk.set(bytes);
  disk.set(magic, at);
  return disk;
};

async function typedOrResult(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof InspectError)) throw error;
  }
}

describe("drivers on random superblocks and labels (fast-check)", () => {
  it("ext: open and a lookup end in a result or an InspectError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), async (bytes) => {
        const disk = withMagic(bytes, 1024 + 0x38, Uint8Array.of(0x53, 0xef));
        await typedOrResult(async () => (await openExt(memoryDevice(disk))).readdir("/"));
      }),
      { numRuns: 500, seed: 1 },
    );
  });

  it("XFS: open and a lookup end in a result or an InspectError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), async (bytes) => {
        const disk = withMagic(bytes, 0, new TextEncoder().encode("XFSB"));
        await typedOrResult(async () => (await openXfs(memoryDevice(disk))).readdir("/"));
      }),
      { numRuns: 500, seed: 2 },
    );
  });

  it("LVM: a label with random fields ends in a PV or an InspectError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 2048, maxLength: 2048 }), async (bytes) => {
        const disk = withMagic(bytes, 512, new TextEncoder().encode("LABELONE"));
        await typedOrResult(async () => assembleVolumeGroups([await readPhysicalVolume(memoryDevice(disk), 0)]));
      }),
      { numRuns: 500, seed: 3 },
    );
  });
});
