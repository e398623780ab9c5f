// The ext writer's long runs: several seeds of thousands of operations over the main layouts;
// directories grown to a three-level index (large_dir) and to a full two-level one (ENOSPC); and
// crashes — the device stops keeping writes after the Nth, for many N, as a kill -9 would leave
// it: the writer refuses that filesystem until e2fsck has repaired it, and e2fsck can.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk, type BlockDevice } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { InspectError } from "../../errors.js";
import { run } from "../../block/volumes-test-support.js";
import { seededRandom } from "@leapp/zoo";
import { walkFilesystem } from "../conformance.js";
import type { WritableFilesystem } from "../filesystem.js";
import { applyRandomSequence, FilesystemModel, runWriteConformance } from "../writable-conformance.js";
import { e2fsckClean, extWriteVariants } from "./ext-write-variants.js";
import { extDriver } from "./ext.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-write-slow-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const byName = (part: string) => extWriteVariants.find((v) => v.name.includes(part))!;

async function writer(image: string): Promise<{ fs: WritableFilesystem; device: BlockDevice }> {
  const device = await openDisk(image, { format: "raw", writable: true });
  return { fs: await extDriver.open(device, { writable: true }), device };
}

describe("ext writer, long runs", () => {
  for (const variant of [byName("4 KiB blocks"), byName("CentOS 6"), byName("ext3 populated"), byName("ext2, 1 KiB"), byName("inline data, populated")]) {
    for (const seed of [101, 202]) {
      it(`${variant.name}, seed ${seed}: 1500 operations read back as the model, fsck-clean`, async () => {
        const counts = await runWriteConformance(variant, work, { seed, operations: 1500, byteBudget: 120 * 1024 * 1024 });
        expect(counts["grow-directory"] ?? 0).toBeGreaterThan(5);
      });
    }
  }

  /** Fills /big with 200-byte names until `stop` says so; returns how many went in. */
  async function fillDirectory(image: string, stop: (count: number, err?: unknown) => boolean): Promise<number> {
    const { fs, device } = await writer(image);
    await fs.mkdir("/big");
    let count = 0;
    for (;;) {
      try {
        await fs.writeFile(`/big/${String(count).padStart(7, "0")}-${"n".repeat(192)}`, new Uint8Array(0));
      } catch (err) {
        if (stop(count, err)) break;
        throw err;
      }
      count++;
      if (stop(count)) break;
    }
    await fs.close();
    await device.close();
    return count;
  }

  const levels = (image: string) => {
    const dump = spawnSync("debugfs", ["-R", "htree_dump /big", image], { encoding: "utf8", maxBuffer: 1 << 30 });
    return Number(/Indirect levels: (\d+)/.exec(dump.stdout)?.[1]);
  };

  it("a two-level index fills up (INSPECT_NO_SPACE, still clean); with large_dir it grows a third level", async () => {
    // One hash seed for both images (mke2fs picks a random one): names then hash alike in both.
    const hashSeed = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    const full = join(work, "full-index.img");
    run("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", "-N", "150000", "-E", `hash_seed=${hashSeed}`, full, "512M"]);
    const capacity = await fillDirectory(full, (_, err) => err instanceof InspectError && err.code === "INSPECT_NO_SPACE");
    expect(capacity).toBeGreaterThan(20_000);
    expect(levels(full)).toBe(1);
    e2fsckClean(full);
    rmSync(full, { force: true });
    // The same names in the same order fill the same tree; past that, large_dir adds a level.
    const large = join(work, "large-dir.img");
    run("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "1024", "-N", "150000", "-E", `hash_seed=${hashSeed}`, "-O", "large_dir", large, "512M"]);
    const count = await fillDirectory(large, (n) => n >= capacity + 2000);
    expect(count).toBe(capacity + 2000);
    expect(levels(large)).toBe(2);
    e2fsckClean(large);
    const mountpoint = mkdtempSync(join(work, "mnt-"));
    run("mount", ["-o", "ro,loop", large, mountpoint]);
    try {
      expect(readdirSync(join(mountpoint, "big")).length).toBe(count);
    } finally {
      run("umount", [mountpoint]);
    }
    rmSync(large, { force: true });
  });

  it("a crash at any write: refused until e2fsck repairs it, and e2fsck can", async () => {
    const base = join(work, "crash-base.img");
    byName("4 KiB blocks").mkfs(base);
    const random = seededRandom(9);
    for (let round = 0; round < 12; round++) {
      const image = join(work, `crash-${round}.img`);
      run("cp", ["--sparse=always", base, image]);
      const real = await openDisk(image, { format: "raw", writable: true });
      // The process "dies" after `limit` writes: later ones never reach the disk.
      const limit = 1 + Math.floor(random() * 400);
      let writes = 0;
      const dying: BlockDevice = {
        ...real,
        read: (buffer, position) => real.read(buffer, position),
        extents: (start, length) => real.extents(start, length),
        write: async (data, position) => {
          if (writes++ < limit) await real.write(data, position);
        },
        flush: () => real.flush(),
        close: async () => {},
      };
      const fs = await extDriver.open(dying, { writable: true });
      const model = new FilesystemModel();
      model.add("/lost+found", { type: "directory", mode: 0o700, uid: 0, gid: 0, xattrs: new Map() });
      await applyRandomSequence(fs, model, { seed: round, operations: 150, byteBudget: 30 * 1024 * 1024 }, byName("4 KiB blocks"));
      // Half the rounds die inside the final write-back, half before it.
      if (round % 2 === 0) await fs.flush();
      await real.close();
      if (writes > limit) {
        const device = await openDisk(image, { format: "raw", writable: true });
        await expect(extDriver.open(device, { writable: true })).rejects.toMatchObject({ code: "INSPECT_DIRTY" });
        await device.close();
      }
      const repair = spawnSync("e2fsck", ["-fy", image], { encoding: "utf8" });
      expect(repair.status, repair.stdout).toBeLessThanOrEqual(1);
      e2fsckClean(image);
      const device = await openDisk(image, { format: "raw" });
      const reader = await extDriver.open(device);
      const walked = await walkFilesystem(reader);
      expect([...walked.codes].filter((c) => c !== "INSPECT_TOO_LARGE")).toEqual([]);
      await device.close();
      rmSync(image, { force: true });
    }
  });
});
