// Conformance suite: every filesystem driver reads images made by the real mkfs tools from one
// seeded tree exactly as the host sees that tree.
import { describe, expect, it, beforeAll } from "vitest";
import { cachedImage, cachedTree, compareTree } from "./filesystem-conformance.js";
import { fileDevice, run } from "./volumes-test-support.js";
import { identify } from "./identify.js";
import { openExt } from "./ext.js";
import type { Filesystem } from "./guestfs.js";

const TREE = { seed: 20261122, manyEntries: 5000 };

interface Variant {
  name: string;
  fsType: string;
  build: (image: string, tree: string) => void;
  open: (image: string) => Promise<Filesystem>;
  check: (image: string) => void;
}

const e2fsck = (image: string) => run("e2fsck", ["-fn", image]);

function mke2fs(type: string, extra: string[]): Variant["build"] {
  return (image, tree) => run(`mkfs.${type}`, ["-q", "-F", "-d", tree, "-L", `conf-${type}`, "-U", "0f8f2b4c-9b1e-4d7a-8c1a-2b3c4d5e6f70", ...extra, image, "96M"]);
}

const openExtImage = (image: string) => openExt(fileDevice(image));

const variants: Variant[] = [
  { name: "ext4 (defaults: extents, 64bit, metadata_csum, htree)", fsType: "ext4", build: mke2fs("ext4", []), open: openExtImage, check: e2fsck },
  { name: "ext4 with 1 KiB blocks", fsType: "ext4", build: mke2fs("ext4", ["-b", "1024"]), open: openExtImage, check: e2fsck },
  { name: "ext4 without extents (block maps)", fsType: "ext4", build: mke2fs("ext4", ["-O", "^extent,^64bit,^metadata_csum"]), open: openExtImage, check: e2fsck },
  { name: "ext4 with inline data", fsType: "ext4", build: mke2fs("ext4", ["-O", "inline_data"]), open: openExtImage, check: e2fsck },
  { name: "ext3", fsType: "ext3", build: mke2fs("ext3", []), open: openExtImage, check: e2fsck },
  { name: "ext2 with 1 KiB blocks and 128-byte inodes", fsType: "ext2", build: mke2fs("ext2", ["-b", "1024", "-I", "128"]), open: openExtImage, check: e2fsck },
];

describe("filesystem driver conformance", () => {
  let tree: string;
  beforeAll(() => {
    tree = cachedTree(TREE);
  });

  for (const variant of variants) {
    it(`reads ${variant.name} as the host sees the tree`, async () => {
      const image = cachedImage({ variant: variant.name, TREE }, (path) => variant.build(path, tree));
      variant.check(image);
      const device = fileDevice(image);
      const identity = await identify(device);
      expect(identity.fsType).toBe(variant.fsType);
      const fs = await variant.open(image);
      expect(fs.type).toBe(variant.fsType);
      expect(fs.uuid).toBe(identity.uuid);
      const started = performance.now();
      const checked = await compareTree(fs, tree);
      expect(checked).toBeGreaterThan(5000);
      expect(performance.now() - started).toBeLessThan(30_000);
      await fs.close();
      await device.close();
    });
  }
});
