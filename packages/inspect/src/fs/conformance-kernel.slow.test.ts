// Conformance against images the Linux kernel itself wrote: the tree is built on a loop-mounted
// filesystem, then reshaped the way a running system would (unwritten preallocations, punched
// holes, heavily fragmented files, deleted directory entries, long remote symlinks), unmounted,
// checked by fsck, and compared — mounted again read-only as the reference — with our drivers.
// Needs root and loop devices (slow tier: it mounts filesystems).
import { mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, unlinkSync, writeSync, closeSync, renameSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { openExt, type ExtFilesystem } from "./ext/ext.js";
import { seededRandom } from "@leapp/zoo";
import { buildTree, compareTree, fuzzFilesystem } from "./conformance.js";
import type { Filesystem } from "./filesystem.js";
import { fileDevice, run } from "../block/volumes-test-support.js";
import { openXfs, XfsFilesystem } from "./xfs/xfs.js";
import type { BlockDevice } from "@leapp/storage";

const work = mkdtempSync(join(tmpdir(), "leapp-kernel-fs-"));
const mounted: string[] = [];
const loops: string[] = [];

afterAll(() => {
  while (mounted.length > 0) run("umount", [mounted.pop()!]);
  while (loops.length > 0) run("losetup", ["-d", loops.pop()!]);
  rmSync(work, { recursive: true, force: true });
});

function mount(image: string, dir: string, options: string[]): void {
  mkdirSync(dir, { recursive: true });
  const loop = run("losetup", ["-f", "--show", image]).trim();
  loops.push(loop);
  run("mount", [...options, loop, dir]);
  mounted.push(dir);
}
function unmount(): void {
  run("umount", [mounted.pop()!]);
  run("losetup", ["-d", loops.pop()!]);
}

/** What a live system leaves behind that mkfs -d / -p never writes. */
function reshape(root: string, preallocation: boolean): void {
  const random = seededRandom(5);
  // Many extents: 2000 separate 4 KiB writes with holes between → extent btree / depth ≥ 1 tree.
  const fragmented = openSync(join(root, "kernel-fragmented.bin"), "w");
  const block = Buffer.alloc(4096);
  for (let i = 0; i < 2000; i++) {
    block.fill(i & 0xff);
    writeSync(fragmented, block, 0, 4096, i * 3 * 4096);
  }
  closeSync(fragmented);
  // Preallocated (unwritten) space reads as zeros; a punched hole in written data too. (Block-mapped
  // ext3 has neither.)
  const punched = openSync(join(root, "punched.bin"), "w");
  for (let i = 0; i < 256; i++) writeSync(punched, Buffer.alloc(4096, 1 + (i % 250)), 0, 4096, i * 4096);
  closeSync(punched);
  if (preallocation) {
    run("fallocate", ["-l", "8M", join(root, "preallocated.bin")]);
    run("fallocate", ["-p", "-o", String(64 * 4096), "-l", String(32 * 4096), join(root, "punched.bin")]);
    run("fallocate", ["-o", String(128 * 4096), "-l", String(16 * 4096), join(root, "punched.bin")]); // over written data: stays data
    run("fallocate", ["-n", "-o", String(300 * 4096), "-l", String(16 * 4096), join(root, "punched.bin")]); // unwritten past EOF: size unchanged
  }
  // Deleted and renamed entries leave free space inside directory blocks.
  const churn = join(root, "churn");
  mkdirSync(churn);
  for (let i = 0; i < 3000; i++) writeFileSyncLike(join(churn, `f${i}-${"x".repeat(i % 50)}`), i);
  for (let i = 0; i < 3000; i += 3) unlinkSync(join(churn, `f${i}-${"x".repeat(i % 50)}`));
  for (let i = 1; i < 3000; i += 7) if (i % 3 !== 0) renameSync(join(churn, `f${i}-${"x".repeat(i % 50)}`), join(churn, `renamed-${i}`));
  // A symlink too long for the inode (XFS remote symlink with its v5 header; ext4 slow symlink).
  symlinkSync(`/${Array.from({ length: 60 }, () => Math.floor(random() * 1e9).toString(36)).join("/")}`.slice(0, 1000), join(root, "remote-link"));
}

function writeFileSyncLike(path: string, i: number): void {
  const fd = openSync(path, "w");
  if (i % 2 === 0) writeSync(fd, Buffer.from(`${i}\n`));
  closeSync(fd);
}

interface KernelVariant {
  name: string;
  mkfs: (image: string) => void;
  fsck: (image: string) => void;
  roOptions: string[];
  preallocation: boolean;
  /** Also read a copy taken while mounted through the generic step (ext journals; XFS replays its log in a step of its own). */
  dirtyCopy: boolean;
  open: (device: BlockDevice) => Promise<Filesystem>;
}

const variants: KernelVariant[] = [
  // (Current kernels no longer mount XFS v4; v4 is covered by the mkfs.xfs -p images.)
  { name: "XFS v5", mkfs: (i) => run("mkfs.xfs", ["-q", "-f", i]), fsck: (i) => run("xfs_repair", ["-n", "-f", i]), roOptions: ["-o", "ro"], preallocation: true, dirtyCopy: false, open: openXfs },
  { name: "ext4", mkfs: (i) => run("mkfs.ext4", ["-q", "-F", i]), fsck: (i) => run("e2fsck", ["-fn", i]), roOptions: ["-o", "ro,noload"], preallocation: true, dirtyCopy: true, open: openExt },
  { name: "ext3", mkfs: (i) => run("mkfs.ext3", ["-q", "-F", i]), fsck: (i) => run("e2fsck", ["-fn", i]), roOptions: ["-o", "ro,noload"], preallocation: false, dirtyCopy: true, open: openExt },
];

describe("filesystem drivers on kernel-written images", () => {
  for (const variant of variants) {
    it(`${variant.name}: reads what the kernel wrote as the kernel reads it`, async () => {
      const image = join(work, `${variant.name.replace(/\W/g, "")}.img`);
      run("truncate", ["-s", "400M", image]);
      variant.mkfs(image);
      const dir = join(work, `mnt-${variant.name.replace(/\W/g, "")}`);
      mount(image, dir, []);
      buildTree(join(dir, "tree"), { seed: 31, manyEntries: 5000 });
      reshape(dir, variant.preallocation);
      if (variant.open === openXfs) {
        // A copy of the mounted filesystem: its log needs replaying, as xfs_repair confirms.
        run("sync", []);
        const copy = `${image}.dirty`;
        run("cp", ["--sparse=always", image, copy]);
        const repair = spawnSync("xfs_repair", ["-n", "-f", copy], { encoding: "utf8" });
        expect(`${repair.stdout}${repair.stderr}`).toMatch(/valuable metadata changes in a log/);
        const snapshot = fileDevice(copy);
        const fs = (await openXfs(snapshot)) as XfsFilesystem;
        expect([fs.cleanLog, fs.replayedLog]).toEqual([false, true]);
        // Replayed in memory, it reads as the live mount shows it.
        expect(await compareTree(fs, dir)).toBeGreaterThan(7000);
        await snapshot.close();
        // A hostile log: mutate what replay reads of it; results or InspectErrors, bounded time.
        const logStart = Number(run("xfs_db", ["-r", "-c", "sb 0", "-c", "print logstart", copy]).split("=")[1]);
        const geometry = run("xfs_db", ["-r", "-c", "sb 0", "-c", "print agblocks agblklog blocksize logblocks", copy]);
        const field = (name: string) => Number(new RegExp(`${name} = (\\d+)`).exec(geometry)![1]);
        const logByte = (Math.floor(logStart / 2 ** field("agblklog")) * field("agblocks") + (logStart % 2 ** field("agblklog"))) * field("blocksize");
        await fuzzFilesystem("xfs-log", copy, openXfs, 9, 4000, { start: logByte, end: logByte + field("logblocks") * field("blocksize") });
        rmSync(copy);
      }
      if (variant.dirtyCopy) {
        // A copy of a mounted filesystem, as a snapshot of a running guest would be: committed
        // to the journal, not necessarily written home. Read it with the live mount as reference.
        run("sync", []);
        const copy = `${image}.dirty`;
        run("cp", ["--sparse=always", image, copy]);
        expect(run("dumpe2fs", ["-h", copy])).toContain("needs_recovery");
        expect(run("debugfs", ["-R", "logdump", copy])).toContain("descriptor block");
        const snapshot = fileDevice(copy);
        const fs = await variant.open(snapshot);
        expect((fs as ExtFilesystem).replayedBlocks).toBeGreaterThan(0);
        expect(await compareTree(fs, dir)).toBeGreaterThan(7000);
        await snapshot.close();
        rmSync(copy);
      }
      unmount();
      variant.fsck(image);
      mount(image, dir, variant.roOptions);
      const device = fileDevice(image);
      const fs = await variant.open(device);
      if (fs instanceof XfsFilesystem) expect(fs.cleanLog).toBe(true);
      const checked = await compareTree(fs, dir);
      expect(checked).toBeGreaterThan(7000);
      unmount();
      await device.close();
    });
  }
});
