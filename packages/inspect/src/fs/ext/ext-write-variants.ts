// The ext layouts the write conformance suite runs against: every one made empty by the real
// mke2fs and judged by the real e2fsck, which must print nothing but its five passes.
import { execFileSync, spawnSync } from "node:child_process";
import { cachedTree } from "../conformance.js";
import type { WritableVariant } from "../writable-conformance.js";
import { extDriver } from "./ext.js";

const PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;

/** e2fsck -fn must exit 0 and report nothing beyond its passes and summary. */
export function e2fsckClean(image: string): void {
  const result = spawnSync("e2fsck", ["-fn", image], { encoding: "utf8", env: { ...process.env, PATH } });
  if (result.error) throw result.error;
  const lines = `${result.stdout}\n${result.stderr}`
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/^Pass [1-5]: /.test(l) && !/^e2fsck \d/.test(l) && !/: \d+\/\d+ files \(.*\), \d+\/\d+ blocks$/.test(l));
  if (result.status !== 0 || lines.length > 0) throw new Error(`e2fsck -fn ${image} (exit ${result.status}):\n${result.stdout}${result.stderr}`);
}

function mke2fs(args: string[], size: string): (image: string) => void {
  return (image) => {
    execFileSync("mke2fs", ["-q", "-F", ...args, image, size], { env: { ...process.env, PATH, MKE2FS_CONFIG: "/etc/mke2fs.conf" } });
  };
}

/** A tree like a small root filesystem (the readers' conformance tree), for populated images. */
const TREE = { seed: 99, manyEntries: 600 };

function variant(name: string, args: string[], options: { blockSize: number; inodeSize: number; size?: string; populated?: boolean; indexed?: boolean }): WritableVariant {
  const make = mke2fs(["-b", String(options.blockSize), "-I", String(options.inodeSize), ...args, ...(options.populated ? ["-d", cachedTree(TREE)] : [])], options.size ?? "256M");
  return {
    name,
    driver: extDriver,
    mkfs: (image) => {
      make(image);
      // mke2fs -d writes linear directories; e2fsck -fyD indexes them as the kernel would (exit 1: changed).
      if (options.indexed) {
        const result = spawnSync("e2fsck", ["-fyD", image], { encoding: "utf8", env: { ...process.env, PATH } });
        if (result.status !== 0 && result.status !== 1) throw new Error(`e2fsck -fyD failed (${result.status}): ${result.stdout}`);
      }
    },
    fsck: e2fsckClean,
    timeResolutionNs: options.inodeSize > 128 ? 1 : 1e9,
    // One attribute block (header, end mark) is always there; the inode body may add more.
    xattrCapacity: options.blockSize - 36,
  };
}

/** Every layout of the readers' conformance table, and the older ones guests still carry. */
export const extWriteVariants: WritableVariant[] = [
  variant("ext4, 4 KiB blocks (extents, 64bit, metadata_csum, flex_bg, huge_file, dir_nlink)", ["-t", "ext4"], { blockSize: 4096, inodeSize: 256 }),
  variant("ext4, 1 KiB blocks", ["-t", "ext4"], { blockSize: 1024, inodeSize: 256 }),
  variant("ext4 without extents, 64bit or metadata_csum (block maps)", ["-t", "ext4", "-O", "^extent,^64bit,^metadata_csum"], { blockSize: 4096, inodeSize: 256 }),
  variant("ext4 as CentOS 6 made it (uninit_bg group checksums, 32-bit)", ["-t", "ext4", "-O", "^metadata_csum,^64bit,uninit_bg"], { blockSize: 4096, inodeSize: 256 }),
  variant("ext4 with inline data", ["-t", "ext4", "-O", "inline_data"], { blockSize: 4096, inodeSize: 256 }),
  variant("ext4 with meta_bg and no flex_bg, 1 KiB blocks", ["-t", "ext4", "-O", "meta_bg,^resize_inode,^flex_bg"], { blockSize: 1024, inodeSize: 256 }),
  variant("ext3 (journal, block maps, htree)", ["-t", "ext3"], { blockSize: 4096, inodeSize: 256 }),
  variant("ext2, 1 KiB blocks, 128-byte inodes", ["-t", "ext2"], { blockSize: 1024, inodeSize: 128 }),
  variant("ext2 without dir_index or filetype", ["-t", "ext2", "-O", "^dir_index,^filetype"], { blockSize: 4096, inodeSize: 256 }),
  // Guests are not empty: trees written by mke2fs -d (multi-block linear directories, extent
  // trees with index blocks, indirect blocks, inline files and directories, hard links, a FIFO).
  variant("ext4 populated by mke2fs -d, directories indexed by e2fsck -D", ["-t", "ext4"], { blockSize: 4096, inodeSize: 256, populated: true, indexed: true }),
  variant("ext3 populated by mke2fs -d, 1 KiB blocks (indirect blocks)", ["-t", "ext3"], { blockSize: 1024, inodeSize: 256, populated: true }),
  variant("ext4 with inline data, populated by mke2fs -d", ["-t", "ext4", "-O", "inline_data"], { blockSize: 4096, inodeSize: 256, populated: true }),
];
