// Seeded mutation fuzzing of real ext4 and XFS images: bytes of the metadata a clean walk reads
// (superblock, descriptors, inodes, directory and btree blocks) are changed, and the whole tree
// is walked again. Every operation must end in a result or an InspectError, in bounded time.
import { describe, expect, it } from "vitest";
import { InspectError } from "./errors.js";
import { openExt } from "./ext.js";
import { cachedImage, cachedTree, protofile, seededRandom } from "./filesystem-conformance.js";
import type { Filesystem } from "./guestfs.js";
import { fileDevice, patchedDevice, run } from "./volumes-test-support.js";
import { openXfs } from "./xfs.js";
import { writeFileSync } from "node:fs";
import type { BlockDevice } from "@leapp/storage";

const TREE = { seed: 99, manyEntries: 600 };
const MAX_OPERATIONS = 5000;

/** Walks everything reachable; returns how many operations succeeded and failed (typed). */
async function walk(fs: Filesystem): Promise<{ ok: number; failed: number; codes: Set<string> }> {
  let ok = 0;
  let failed = 0;
  const codes = new Set<string>();
  const attempt = async <T>(op: () => Promise<T>): Promise<T | undefined> => {
    if (ok + failed >= MAX_OPERATIONS) return undefined;
    try {
      const result = await op();
      ok++;
      return result;
    } catch (error) {
      if (!(error instanceof InspectError)) throw error;
      failed++;
      codes.add(error.code);
      return undefined;
    }
  };
  const visit = async (path: string, depth: number): Promise<void> => {
    const stat = await attempt(() => fs.lstat(path));
    if (!stat) return;
    if (stat.type === "file") await attempt(() => fs.readFile(path, { maxBytes: 1024 * 1024 }));
    else if (stat.type === "symlink") await attempt(() => fs.readlink(path));
    else if (stat.type === "directory" && depth < 40) {
      const names = await attempt(() => fs.readdir(path));
      for (const name of names ?? []) await visit(path === "/" ? `/${name}` : `${path}/${name}`, depth + 1);
    }
  };
  await visit("/", 0);
  return { ok, failed, codes };
}

async function fuzz(name: string, image: string, open: (device: BlockDevice) => Promise<Filesystem>, seed: number, budgetMs: number): Promise<void> {
  const base = fileDevice(image);
  // A clean walk records which blocks are metadata.
  const metadata = new Set<number>();
  const clean = await open(patchedDevice(base, new Map(), (position, length) => {
    if (length <= 64 * 1024) metadata.add(position * 65536 + length);
  }));
  const baseline = await walk(clean);
  // Clean: only the three files over the walk's 1 MiB read limit fail.
  expect([baseline.failed, [...baseline.codes]]).toEqual([3, ["INSPECT_TOO_LARGE"]]);
  const regions = [...metadata].map((key) => ({ position: Math.floor(key / 65536), length: key % 65536 }));
  const random = seededRandom(seed);
  const started = performance.now();
  let rounds = 0;
  let typedFailures = 0;
  while (performance.now() - started < budgetMs) {
    const patches = new Map<number, number>();
    for (let k = 0; k < 1 + Math.floor(random() * 12); k++) {
      const region = regions[Math.floor(random() * regions.length)]!;
      patches.set(region.position + Math.floor(random() * region.length), random() < 0.3 ? 0xff : Math.floor(random() * 256));
    }
    const roundStart = performance.now();
    try {
      const fs = await open(patchedDevice(base, patches));
      const result = await walk(fs);
      typedFailures += result.failed;
    } catch (error) {
      if (!(error instanceof InspectError)) throw new Error(`${name} round ${rounds}: ${String(error)}`, { cause: error });
      typedFailures++;
    }
    expect(performance.now() - roundStart, `${name} round ${rounds} took too long`).toBeLessThan(5000);
    rounds++;
  }
  expect(rounds).toBeGreaterThan(10);
  expect(typedFailures).toBeGreaterThan(0);
  await base.close();
}

describe("filesystem drivers under mutated metadata", () => {
  it("ext4: every walk of a mutated image ends in results or InspectErrors", async () => {
    const tree = cachedTree(TREE);
    const image = cachedImage({ fuzz: "ext4", TREE }, (path) => {
      run("mkfs.ext4", ["-q", "-F", "-d", tree, path, "40M"]);
    });
    run("e2fsck", ["-fn", image]);
    await fuzz("ext4", image, openExt, 1, 4000);
  });

  it("ext4 with a journal to replay: mutated journal blocks end in results or InspectErrors", async () => {
    const tree = cachedTree(TREE);
    const image = cachedImage({ fuzz: "ext4-journal-4k", TREE }, (path) => {
      run("mkfs.ext4", ["-q", "-F", "-b", "4096", "-d", tree, path, "40M"]);
      // Journal copies of live metadata (the root and /many directory blocks, the first inode
      // table block): replay changes nothing, but every read of them now goes through the journal.
      const blocks = [run("debugfs", ["-R", "bmap / 0", path]), run("debugfs", ["-R", "bmap /many 0", path]), run("debugfs", ["-R", "bmap /many 1", path])].map((b) => b.trim());
      const inodeTable = /Inode table at (\d+)/.exec(run("dumpe2fs", [path]))![1]!;
      for (const block of [...blocks, inodeTable]) {
        const copy = `${path}.${block}`;
        run("dd", [`if=${path}`, `of=${copy}`, "bs=4096", `skip=${block}`, "count=1", "status=none"]);
        writeFileSync(`${path}.cmds`, `jo\njw -b ${block} ${copy}\njc\n`);
        run("debugfs", ["-w", "-f", `${path}.cmds`, path]);
      }
    });
    run("e2fsck", ["-fn", image]);
    const fs = await openExt(fileDevice(image));
    expect(fs.replayedBlocks).toBe(4);
    await fuzz("ext4-journal", image, openExt, 4, 3000);
  });

  it("ext2 with block maps: every walk of a mutated image ends in results or InspectErrors", async () => {
    const tree = cachedTree(TREE);
    const image = cachedImage({ fuzz: "ext2", TREE }, (path) => {
      run("mkfs.ext2", ["-q", "-F", "-b", "1024", "-d", tree, path, "40M"]);
    });
    run("e2fsck", ["-fn", image]);
    await fuzz("ext2", image, openExt, 2, 3000);
  });

  it("ext4: a directory hard-linked into its own subtree (debugfs link) is a typed cycle error, not a hang", async () => {
    const tree = cachedTree(TREE);
    const image = cachedImage({ fuzz: "ext4-cycle", TREE }, (path) => {
      run("mkfs.ext4", ["-q", "-F", "-d", tree, path, "40M"]);
      run("debugfs", ["-w", "-R", "link / /many/back-to-root", path]);
    });
    const fs = await openExt(fileDevice(image));
    expect(await fs.readdir("/many")).toContain("back-to-root");
    await expect(fs.lstat("/many/back-to-root")).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining("parent directories") });
    const result = await walk(fs);
    expect(result.codes.has("INSPECT_CORRUPT")).toBe(true);
  });

  it("XFS v5: every walk of a mutated image ends in results or InspectErrors", async () => {
    const tree = cachedTree(TREE);
    const image = cachedImage({ fuzz: "xfs", TREE }, (path) => {
      writeFileSync(`${path}.proto`, protofile(tree));
      run("truncate", ["-s", "320M", path]);
      run("mkfs.xfs", ["-q", "-f", "-p", `${path}.proto`, path]);
    });
    run("xfs_repair", ["-n", "-f", image]);
    await fuzz("xfs", image, openXfs, 3, 4000);
  });
});
