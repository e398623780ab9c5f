// Seeded mutation fuzzing of real ext4 and XFS images: bytes of the metadata a clean walk reads
// (superblock, descriptors, inodes, directory and btree blocks) are changed, and the whole tree
// is walked again. Every operation must end in a result or an InspectError, in bounded time.
import { describe, expect, it } from "vitest";
import { openExt } from "./ext/ext.js";
import { cachedImage, cachedTree, fuzzFilesystem as fuzz, protofile, walkFilesystem as walk } from "./conformance.js";
import { fileDevice, run } from "../block/volumes-test-support.js";
import { openXfs } from "./xfs/xfs.js";
import { writeFileSync } from "node:fs";

const TREE = { seed: 99, manyEntries: 600 };
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
