// Directory growth past every htree threshold: one block → an index (the kernel's conversion),
// leaf splits, a full root moved down a level, index node splits — then every entry removed. At
// each stage debugfs's htree dump must show the expected depth, e2fsck must be clean, and the
// kernel must list exactly the names we wrote.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { e2fsckClean } from "./ext-write-variants.js";
import type { WritableFilesystem } from "../filesystem.js";
import { extDriver } from "./ext.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-htree-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What debugfs says of a directory's index: its depth and how many entries the root has. */
function htreeShape(image: string, path: string): { levels: number; rootCount: number } | undefined {
  const dump = run("debugfs", ["-R", `htree_dump ${path}`, image]);
  const levels = /Indirect levels: (\d+)/.exec(dump);
  const count = /Number of entries \(count\): (\d+)/.exec(dump);
  return levels && count ? { levels: Number(levels[1]), rootCount: Number(count[1]) } : undefined;
}

function kernelNames(image: string, path: string): string[] {
  const dir = mkdtempSync(join(work, "mnt-"));
  run("mount", ["-o", "ro,loop", image, dir]);
  try {
    return readdirSync(join(dir, path)).sort();
  } finally {
    run("umount", [dir]);
  }
}

async function withWriter(image: string, body: (fs: WritableFilesystem) => Promise<void>): Promise<void> {
  const device = await openDisk(image, { format: "raw", writable: true });
  const fs = await extDriver.open(device, { writable: true });
  await body(fs);
  await fs.close();
  await device.close();
}

describe("ext htree directory growth", () => {
  for (const [layout, args] of [
    ["1 KiB blocks, metadata_csum", ["-t", "ext4", "-b", "1024"]],
    ["1 KiB blocks, ext3 without checksums", ["-t", "ext3", "-b", "1024"]],
  ] as const) {
    it(`${layout}: one block → index → leaf splits → a deeper index → node splits → empty again`, async () => {
      const image = join(work, `${layout.replace(/\W+/g, "-")}.img`);
      run("mke2fs", ["-q", "-F", ...args, image, "96M"]);
      const names: string[] = [];
      // 200-byte names: four to a 1 KiB leaf, so the index grows quickly.
      const nameOf = (i: number) => `${String(i).padStart(6, "0")}-${"n".repeat(193)}`;
      const grow = async (to: number) =>
        withWriter(image, async (fs) => {
          if (names.length === 0) await fs.mkdir("/big");
          while (names.length < to) {
            const name = nameOf(names.length);
            await fs.writeFile(`/big/${name}`, Buffer.from(`${names.length}\n`));
            names.push(name);
          }
        });
      const check = (levels: number | undefined) => {
        e2fsckClean(image);
        expect(htreeShape(image, "/big")?.levels).toBe(levels);
        expect(kernelNames(image, "/big")).toEqual([...names].sort());
      };
      await grow(3);
      check(undefined); // still one linear block
      await grow(40);
      check(0); // an index over leaves
      await grow(1200);
      check(1); // the root filled, moved down a level; nodes split
      expect(htreeShape(image, "/big")!.rootCount).toBeGreaterThan(2);
      await withWriter(image, async (fs) => {
        for (const name of names.filter((_, i) => i % 2 === 0)) await fs.unlink(`/big/${name}`);
      });
      names.splice(0, names.length, ...names.filter((_, i) => i % 2 === 1));
      check(1);
      await withWriter(image, async (fs) => {
        for (const name of names) await fs.unlink(`/big/${name}`);
        await fs.rmdir("/big");
      });
      e2fsckClean(image);
      expect(kernelNames(image, "/")).toEqual(["lost+found"]);
    });
  }
});
