// When the ext writer refuses to open: read-only devices, filesystems that need fsck or a journal
// replay first (made so with debugfs, as a crash or a snapshot of a running guest leaves them), and
// features it does not keep right — each with its typed error, the image untouched.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { fileDevice, run } from "../../block/volumes-test-support.js";
import { e2fsckClean } from "./ext-write-variants.js";
import { extDriver } from "./ext.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-open-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
function image(args: string[] = ["-t", "ext4"], size = "32M"): string {
  const path = join(work, `fs-${counter++}.img`);
  run("mke2fs", ["-q", "-F", ...args, path, size]);
  return path;
}

const hash = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Opens writable and expects `code`; the image must not change. */
async function refused(path: string, code: string, message?: RegExp): Promise<void> {
  const before = hash(path);
  const device = await openDisk(path, { format: "raw", writable: true });
  try {
    await expect(extDriver.open(device, { writable: true })).rejects.toMatchObject({ code, ...(message ? { message: expect.stringMatching(message) } : {}) });
  } finally {
    await device.close();
  }
  expect(hash(path)).toBe(before);
}

describe("opening ext filesystems for writing", () => {
  it("refuses a read-only device", async () => {
    const device = fileDevice(image());
    await expect(extDriver.open(device, { writable: true })).rejects.toMatchObject({ code: "INSPECT_READ_ONLY" });
    await device.close();
  });

  it("refuses a journal to replay (needs_recovery), and one holding transactions without the flag", async () => {
    const path = image();
    writeFileSync(join(work, "block"), Buffer.alloc(4096, 7));
    const root = run("debugfs", ["-R", "bmap / 0", path]).trim();
    writeFileSync(join(work, "cmds"), `jo\njw -b ${root} ${join(work, "block")}\njc\n`);
    run("debugfs", ["-w", "-f", join(work, "cmds"), path]);
    await refused(path, "INSPECT_DIRTY", /journal/);
    run("debugfs", ["-w", "-R", "feature -needs_recovery", path]);
    await refused(path, "INSPECT_DIRTY", /journal/);
  });

  for (const [what, command, pattern] of [
    ["not cleanly unmounted", "ssv state 0", /not clean/],
    ["marked as having errors", "ssv state 3", /errors/],
    ["holding orphaned inodes", "ssv last_orphan 12", /orphan/],
  ] as const) {
    it(`refuses a filesystem ${what}`, async () => {
      const path = image();
      run("debugfs", ["-w", "-R", command, path]);
      await refused(path, "INSPECT_DIRTY", pattern);
    });
  }

  for (const [feature, args] of [
    ["quota", ["-t", "ext4", "-O", "quota"]],
    ["casefold", ["-t", "ext4", "-O", "casefold"]],
    ["mmp", ["-t", "ext4", "-O", "mmp"]],
    ["ea_inode", ["-t", "ext4", "-O", "ea_inode"]],
    ["sparse_super2", ["-t", "ext4", "-O", "sparse_super2"]],
    ["verity", ["-t", "ext4", "-O", "verity"]],
    ["encrypt", ["-t", "ext4", "-O", "encrypt"]],
  ] as const) {
    it(`refuses the ${feature} feature, naming it`, async () => {
      await refused(image([...args]), "INSPECT_UNSUPPORTED", new RegExp(feature));
    });
  }

  it("reads bigalloc filesystems (groups of clusters) but refuses to write them", async () => {
    const path = image(["-t", "ext4", "-O", "bigalloc", "-C", "16384"]);
    const reader = await extDriver.open(fileDevice(path));
    expect(await reader.readdir("/")).toEqual(["lost+found"]);
    await refused(path, "INSPECT_UNSUPPORTED", /bigalloc/);
  });

  it("refuses 64 KiB blocks for writing (they read fine)", async () => {
    const path = image(["-t", "ext4", "-b", "65536"], "64M");
    await refused(path, "INSPECT_UNSUPPORTED", /65536/);
    const reader = await extDriver.open(fileDevice(path));
    expect(await reader.readdir("/")).toEqual(["lost+found"]);
  });

  it("writes metadata_csum_seed and large_dir filesystems", async () => {
    const path = image(["-t", "ext4", "-O", "metadata_csum_seed,large_dir"]);
    run("tune2fs", ["-U", "random", path]);
    const device = await openDisk(path, { format: "raw", writable: true });
    const fs = await extDriver.open(device, { writable: true });
    await fs.mkdir("/etc");
    for (let i = 0; i < 200; i++) await fs.writeFile(`/etc/file-${i}`, Buffer.from(`${i}\n`));
    await fs.close();
    await device.close();
    e2fsckClean(path);
  });

  it("reads see writes at once — listings, attributes and files opened before a change", async () => {
    const path = image();
    const device = await openDisk(path, { format: "raw", writable: true });
    const fs = await extDriver.open(device, { writable: true });
    await fs.writeFile("/f", Buffer.alloc(100_000, 1));
    const file = await fs.openFile("/f");
    await fs.writeFile("/f", Buffer.alloc(100_000, 2));
    // Likely in the blocks /f just gave up.
    await fs.writeFile("/g", Buffer.alloc(100_000, 3));
    const bytes = Buffer.alloc(100_000);
    expect(await file.read(bytes, 0)).toBe(100_000);
    expect(bytes.every((b) => b === 2)).toBe(true);
    await fs.setxattr("/g", "user.seen", Buffer.from("yes"));
    expect(Buffer.from((await fs.xattrs("/g")).get("user.seen")!).toString()).toBe("yes");
    expect((await fs.readdir("/")).sort()).toEqual(["f", "g", "lost+found"]);
    await fs.unlink("/f");
    await expect(file.read(bytes, 0)).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    expect((await fs.readdir("/")).sort()).toEqual(["g", "lost+found"]);
    await fs.close();
    await device.close();
    e2fsckClean(path);
  });

  it("marks the filesystem not clean while changes are pending: an interrupted run is refused until fsck", async () => {
    const path = image();
    const device = await openDisk(path, { format: "raw", writable: true });
    const fs = await extDriver.open(device, { writable: true });
    await fs.writeFile("/pending", Buffer.from("not flushed\n"));
    // Neither flush nor close: as if the process died here.
    await device.close();
    await refused(path, "INSPECT_DIRTY", /not clean/);
    // e2fsck repairs it (exit 1: it changed something), and then finds it clean.
    expect(spawnSync("e2fsck", ["-fy", path]).status).toBeLessThanOrEqual(1);
    e2fsckClean(path);
  });
});
