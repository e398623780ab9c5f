// freeRanges(): every byte range we call free is overwritten with a pattern in a copy of the
// image; e2fsck -fn must still find the copy clean and the kernel must read the very same tree
// from both (GNU tar streams of two read-only mounts), and the ranges must add up to what
// dumpe2fs counts.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { cachedTree } from "../conformance.js";
import { fileDevice, run } from "../../block/volumes-test-support.js";
import { e2fsckClean } from "./ext-write-variants.js";
import { extDriver, openExt } from "./ext.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-free-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const layouts: Array<[string, string[]]> = [
  ["ext4 (flex_bg, groups never used)", ["-t", "ext4", "-b", "4096"]],
  ["ext4 with meta_bg, 1 KiB blocks", ["-t", "ext4", "-b", "1024", "-O", "meta_bg,^resize_inode"]],
  ["ext2, 1 KiB blocks", ["-t", "ext2", "-b", "1024", "-I", "128"]],
];

/** The whole tree as the kernel reads it: a GNU tar stream (names sorted, numeric owners, xattrs), hashed. */
function kernelTree(image: string): string {
  const dir = mkdtempSync(join(work, "mnt-"));
  run("mount", ["-o", "ro,loop", image, dir]);
  try {
    const tar = execFileSync("tar", ["--format=gnu", "--sort=name", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", dir, "-cf", "-", "."], { maxBuffer: 1 << 30 });
    return createHash("sha256").update(tar).digest("hex");
  } finally {
    run("umount", [dir]);
  }
}

describe("ext free ranges", () => {
  for (const [name, args] of layouts) {
    it(`${name}: what we call free holds no file data`, async () => {
      const image = join(work, `${args.join("")}.img`);
      run("mke2fs", ["-q", "-F", ...args, "-d", cachedTree({ seed: 99, manyEntries: 600 }), image, "64M"]);
      // Deleted files leave their old bytes in blocks that are free now.
      const device = await openDisk(image, { format: "raw", writable: true });
      const writable = await extDriver.open(device, { writable: true });
      for (const path of ["/large.bin", "/fragmented.bin", "/many"]) {
        if (path === "/many") {
          for (const entry of (await writable.readdir(path)).slice(0, 300)) await writable.unlink(`${path}/${entry}`);
        } else await writable.unlink(path);
      }
      await writable.close();
      await device.close();
      e2fsckClean(image);

      const fs = await openExt(fileDevice(image));
      const ranges: Array<{ offset: number; length: number }> = [];
      for await (const range of fs.freeRanges()) ranges.push(range);
      await fs.close();
      for (const [i, r] of ranges.entries()) {
        expect(r.length).toBeGreaterThan(0);
        if (i > 0) expect(r.offset).toBeGreaterThan(ranges[i - 1]!.offset + ranges[i - 1]!.length);
      }
      const dump = run("dumpe2fs", ["-h", image]);
      const freeBlocks = Number(/Free blocks:\s+(\d+)/.exec(dump)![1]);
      const blockSize = Number(/Block size:\s+(\d+)/.exec(dump)![1]);
      expect(ranges.reduce((n, r) => n + r.length, 0)).toBe(freeBlocks * blockSize);

      const copy = `${image}.scrubbed`;
      copyFileSync(image, copy);
      const fd = openSync(copy, "r+");
      const pattern = Buffer.alloc(1 << 20, 0xa5);
      for (const r of ranges) {
        for (let at = 0; at < r.length; at += pattern.length) writeSync(fd, pattern, 0, Math.min(pattern.length, r.length - at), r.offset + at);
      }
      closeSync(fd);
      e2fsckClean(copy);
      expect(kernelTree(copy)).toBe(kernelTree(image));
    });
  }

  it("refuses where the bitmaps cannot be trusted (marked with errors)", async () => {
    const image = join(work, "errors.img");
    run("mke2fs", ["-q", "-F", "-t", "ext4", image, "16M"]);
    run("debugfs", ["-w", "-R", "ssv state 3", image]);
    const fs = await openExt(fileDevice(image));
    const iterate = async () => {
      for await (const range of fs.freeRanges()) void range;
    };
    await expect(iterate()).rejects.toMatchObject({ code: "INSPECT_DIRTY" });
  });
});
