// Conformance suite: every filesystem driver reads images made by the real mkfs tools from one
// seeded tree exactly as the host sees that tree.
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cachedImage, cachedTree, compareTree, protofile } from "./conformance.js";
import { fileDevice, run } from "../block/volumes-test-support.js";
import { identify } from "../block/identify.js";
import { openExt } from "./ext/ext.js";
import { openXfs, XfsFilesystem } from "./xfs/xfs.js";
import type { Filesystem } from "./filesystem.js";

const TREE = { seed: 20261122, manyEntries: 5000 };

interface Variant {
  name: string;
  fsType: string;
  build: (image: string, tree: string) => void;
  open: (image: string) => Promise<Filesystem>;
  check: (image: string) => void;
  modeMask?: number;
}

const e2fsck = (image: string) => run("e2fsck", ["-fn", image]);

function mke2fs(type: string, extra: string[]): Variant["build"] {
  return (image, tree) => run(`mkfs.${type}`, ["-q", "-F", "-d", tree, "-L", `conf-${type}`, "-U", "0f8f2b4c-9b1e-4d7a-8c1a-2b3c4d5e6f70", ...extra, image, "96M"]);
}

const openExtImage = (image: string) => openExt(fileDevice(image));

/** mkfs -d writes linear directories; `e2fsck -fyD` re-indexes them as htrees (exit 1 = changed). */
function withHtrees(build: Variant["build"]): Variant["build"] {
  return (image, tree) => {
    build(image, tree);
    const result = spawnSync("e2fsck", ["-fyD", image], { encoding: "utf8" });
    if (result.status !== 0 && result.status !== 1) throw new Error(`e2fsck -fyD failed (${result.status}): ${result.stderr}`);
  };
}
const openXfsImage = (image: string) => openXfs(fileDevice(image));
const xfsRepair = (image: string) => run("xfs_repair", ["-n", "-f", image]);

function mkfsXfs(extra: string[]): Variant["build"] {
  return (image, tree) => {
    const proto = `${image}.proto`;
    writeFileSync(proto, protofile(tree));
    run("truncate", ["-s", "320M", image]);
    run("mkfs.xfs", ["-q", "-f", "-L", "conf-xfs", "-m", "uuid=0f8f2b4c-9b1e-4d7a-8c1a-2b3c4d5e6f71", ...extra, "-p", proto, image]);
  };
}

const variants: Variant[] = [
  { name: "ext4 (defaults: extents, 64bit, metadata_csum; htree directories)", fsType: "ext4", build: withHtrees(mke2fs("ext4", [])), open: openExtImage, check: e2fsck },
  { name: "ext4 with 1 KiB blocks", fsType: "ext4", build: mke2fs("ext4", ["-b", "1024"]), open: openExtImage, check: e2fsck },
  { name: "ext4 without extents (block maps)", fsType: "ext4", build: mke2fs("ext4", ["-O", "^extent,^64bit,^metadata_csum"]), open: openExtImage, check: e2fsck },
  { name: "ext4 with inline data", fsType: "ext4", build: mke2fs("ext4", ["-O", "inline_data"]), open: openExtImage, check: e2fsck },
  { name: "ext4 with meta_bg group descriptors (96 groups of 1 MiB)", fsType: "ext4", build: mke2fs("ext4", ["-b", "1024", "-g", "1024", "-O", "meta_bg,^resize_inode"]), open: openExtImage, check: e2fsck },
  { name: "ext3 (htree directories)", fsType: "ext3", build: withHtrees(mke2fs("ext3", [])), open: openExtImage, check: e2fsck },
  { name: "ext2 with 1 KiB blocks and 128-byte inodes", fsType: "ext2", build: mke2fs("ext2", ["-b", "1024", "-I", "128"]), open: openExtImage, check: e2fsck },
  { name: "XFS v5 (defaults: CRCs, ftype)", fsType: "xfs", build: mkfsXfs([]), open: openXfsImage, check: xfsRepair, modeMask: 0o6777 },
  { name: "XFS v5 with 1 KiB blocks and 8 KiB directory blocks", fsType: "xfs", build: mkfsXfs(["-b", "size=1024", "-n", "size=8192"]), open: openXfsImage, check: xfsRepair, modeMask: 0o6777 },
  { name: "XFS v4 with ftype (features2)", fsType: "xfs", build: mkfsXfs(["-m", "crc=0", "-n", "ftype=1"]), open: openXfsImage, check: xfsRepair, modeMask: 0o6777 },
  { name: "XFS v4 (-m crc=0)", fsType: "xfs", build: mkfsXfs(["-m", "crc=0", "-n", "ftype=0"]), open: openXfsImage, check: xfsRepair, modeMask: 0o6777 },
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
      if (fs instanceof XfsFilesystem) expect(fs.cleanLog).toBe(true);
      const started = performance.now();
      const checked = await compareTree(fs, tree, { ...(variant.modeMask === undefined ? {} : { modeMask: variant.modeMask }), hardLinks: variant.fsType !== "xfs" });
      expect(checked).toBeGreaterThan(5000);
      expect(performance.now() - started).toBeLessThan(30_000);
      await fs.close();
      await device.close();
    });
  }
});
