// The XFS writer at its edges: what it refuses to open, directories through every format and
// back, hostile names and sizes, and the free ranges a copy may skip.
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { createOverlay, openDisk } from "@leapp/storage";
import { scanDisks } from "../../block/scan.js";
import { openFilesystem } from "../drivers.js";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { xfsRepairClean } from "./xfs-write-variants.js";
import { openXfs, xfsDriver } from "./xfs.js";

const mkfs = (image: string, options: string[], size = "96M") => {
  run("truncate", ["-s", size, image]);
  run("env", ["TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1", "mkfs.xfs", "-q", "-f", ...options, image]);
};

describe("the XFS writer at its edges", () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-xfs-edges-"));
  const mountpoint = join(work, "mnt");
  mkdirSync(mountpoint);
  afterAll(() => {
    spawnSync("umount", [mountpoint]);
    rmSync(work, { recursive: true, force: true });
  });

  it("writes an XFS partition through a qcow2 overlay, leaving the base image as it was", async () => {
    const base = join(work, "disk.raw");
    run("truncate", ["-s", "200M", base]);
    run("sfdisk", ["-q", base], "label: gpt\n,100M\n,\n");
    // The filesystem is made in a file of the partition's size and copied into place.
    const part = JSON.parse(run("sfdisk", ["-J", base])).partitiontable.partitions[1] as { start: number; size: number };
    const fsImage = join(work, "partition.img");
    mkfs(fsImage, ["-L", "guest-root"], `${part.size * 512}`);
    run("dd", [`if=${fsImage}`, `of=${base}`, "bs=1M", `seek=${part.start * 512}`, "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"]);
    const hash = () => createHash("sha256").update(readFileSync(base)).digest("hex");
    const before = hash();
    const overlay = join(work, "overlay.qcow2");
    await createOverlay(base, overlay);
    const disk = await openDisk(overlay, { writable: true });
    const volumes = await scanDisks([disk]);
    const volume = volumes.find((v) => v.fsType === "xfs")!;
    expect(volume.device).toBe("/dev/sda2");
    const fs = await openFilesystem(volume, { writable: true });
    await fs.mkdir("/etc");
    await fs.writeFile("/etc/hostname", Buffer.from("converted\n"));
    await fs.close();
    await disk.close();
    expect(hash()).toBe(before);
    const flat = join(work, "overlay-flat.raw");
    run("qemu-img", ["convert", "-O", "raw", overlay, flat]);
    const reader = await openFilesystem((await scanDisks([await openDisk(flat)])).find((v) => v.fsType === "xfs")!);
    expect(Buffer.from(await reader.readFile("/etc/hostname")).toString()).toBe("converted\n");
    await reader.close();
    run("dd", [`if=${flat}`, `of=${fsImage}`, "bs=1M", `skip=${part.start * 512}`, `count=${part.size * 512}`, "iflag=skip_bytes,count_bytes", "status=none"]);
    xfsRepairClean(fsImage);
  });

  it("refuses a read-only device, a log that needs recovery and features it does not write, by name", async () => {
    const image = join(work, "refuse.img");
    mkfs(image, []);
    const readOnly = await openDisk(image, { format: "raw" });
    await expect(xfsDriver.open(readOnly, { writable: true })).rejects.toMatchObject({ code: "INSPECT_READ_ONLY" });
    await readOnly.close();

    // A copy taken while mounted: its log holds transactions the kernel would replay.
    run("mount", ["-o", "loop", image, mountpoint]);
    const dirty = join(work, "dirty.img");
    try {
      for (let i = 0; i < 20; i++) writeFileSync(join(mountpoint, `f${i}`), `${i}\n`);
      execFileSync("sync");
      execFileSync("cp", ["--sparse=always", image, dirty]);
    } finally {
      run("umount", [mountpoint]);
    }
    const dirtyDevice = await openDisk(dirty, { format: "raw", writable: true });
    await expect(xfsDriver.open(dirtyDevice, { writable: true })).rejects.toMatchObject({ code: "INSPECT_DIRTY" });
    await dirtyDevice.close();

    for (const [options, feature] of [
      [["-i", "nrext64=1"], "nrext64"],
      [["-m", "crc=0", "-l", "lazy-count=0"], "lazy-count=0"],
    ] as const) {
      const other = join(work, `feature-${feature}.img`);
      mkfs(other, [...options]);
      const device = await openDisk(other, { format: "raw", writable: true });
      await expect(xfsDriver.open(device, { writable: true })).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED", message: expect.stringContaining(feature) });
      await device.close();
    }
  });

  it("grows a directory through short-form, block, leaf and node form and shrinks it back", async () => {
    const image = join(work, "forms.img");
    mkfs(image, []);
    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await xfsDriver.open(device, { writable: true });
    await fs.mkdir("/d");
    const leafBlock = (32 * 2 ** 30) / 4096;
    const form = () => {
      const core = run("xfs_db", ["-r", "-c", "path /d", "-c", "p core.format core.size", image]);
      if (core.includes("local")) return "short-form";
      const first = run("xfs_db", ["-r", "-c", "path /d", "-c", "dblock 0", "-c", "p", image]);
      if (/magic = 0x58444233/.test(first)) return "block";
      const leaf = run("xfs_db", ["-r", "-c", "path /d", "-c", `dblock ${leafBlock}`, "-c", "p", image]);
      if (/magic = 0x3df1/.test(leaf)) return "leaf";
      if (/magic = 0x3ebe/.test(leaf)) return "node";
      return `unknown: ${leaf.slice(0, 200)}`;
    };
    const seen: string[] = [];
    let count = 0;
    for (const target of [5, 80, 400, 3000]) {
      for (; count < target; count++) await fs.writeFile(`/d/entry-number-${count}`, Buffer.from(`${count}`));
      await fs.flush();
      xfsRepairClean(image);
      seen.push(form());
      expect((await fs.readdir("/d")).length).toBe(count);
    }
    expect(seen).toEqual(["short-form", "block", "leaf", "node"]);
    for (let i = 2; i < count; i++) await fs.unlink(`/d/entry-number-${i}`);
    await fs.flush();
    xfsRepairClean(image);
    expect(form()).toBe("short-form");
    expect((await fs.readdir("/d")).sort()).toEqual(["entry-number-0", "entry-number-1"]);
    await fs.close();
    await device.close();
  });

  it("keeps every change while thousands of inodes pass through its cache", async () => {
    const image = join(work, "cache.img");
    mkfs(image, []);
    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await xfsDriver.open(device, { writable: true });
    for (let d = 0; d < 10; d++) {
      await fs.mkdir(`/d${d}`);
      for (let f = 0; f < 600; f++) await fs.writeFile(`/d${d}/f${f}`, Buffer.from(`${d}/${f}`));
    }
    await fs.flush();
    // Every file is loaded again (more than the clean cache holds), changed, some moved across.
    for (let d = 0; d < 10; d++) for (let f = 0; f < 600; f++) await fs.chmod(`/d${d}/f${f}`, 0o600 + (f % 8));
    for (let f = 0; f < 600; f += 5) await fs.rename(`/d0/f${f}`, `/d9/moved-${f}`);
    await fs.close();
    await device.close();
    xfsRepairClean(image);
    const reader = await openXfs(await openDisk(image, { format: "raw" }));
    expect((await reader.readdir("/d9")).length).toBe(720);
    expect((await reader.lstat("/d5/f13")).mode).toBe(0o605);
    expect(Buffer.from(await reader.readFile("/d9/moved-35")).toString()).toBe("0/35");
    await reader.close();
  });

  it("allocates sparse inode chunks when free space is too fragmented for whole ones", async () => {
    const image = join(work, "sparse.img");
    mkfs(image, ["-d", "agcount=2"], "64M");
    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await xfsDriver.open(device, { writable: true });
    // Fill with 6-block files, then free every other one: no aligned 8-block run is left.
    let files = 0;
    for (;;) {
      try {
        await fs.writeFile(`/f${files}`, Buffer.alloc(6 * 4096, files & 0xff));
      } catch (err) {
        expect((err as { code?: string }).code).toBe("INSPECT_NO_SPACE");
        break;
      }
      files++;
    }
    for (let i = 0; i < files; i += 2) await fs.unlink(`/f${i}`);
    await fs.flush();
    // More new (empty) files than inodes were freed: they need new chunks.
    for (let i = 0; i < files / 2 + 300; i++) await fs.writeFile(`/e${i}`, new Uint8Array(0));
    await fs.close();
    await device.close();
    xfsRepairClean(image);
    const inobt = run("xfs_db", ["-r", "-c", "agi 0", "-c", "addr root", "-c", "p recs", "-c", "agi 1", "-c", "addr root", "-c", "p recs", image]);
    expect(inobt).toMatch(/\[\d+,0x[0-9a-f]+,(16|32|48),/); // records with holes (a holemask, under 64 inodes)
    const reader = await openXfs(await openDisk(image, { format: "raw" }));
    expect((await reader.readdir("/")).length).toBe(Math.floor(files / 2) + Math.ceil(files / 2 + 300));
    await reader.close();
  });

  it("stopped without a flush (as by kill -9), leaves the filesystem as the last flush left it", async () => {
    const image = join(work, "killed.img");
    mkfs(image, []);
    let device = await openDisk(image, { format: "raw", writable: true });
    let fs = await xfsDriver.open(device, { writable: true });
    await fs.mkdir("/keep");
    for (const name of ["a", "b", "c"]) await fs.writeFile(`/keep/${name}`, Buffer.alloc(100_000, name.charCodeAt(0)), { mode: 0o644 });
    await fs.close();
    await device.close();
    // A second session writes more than its write-back buffer holds, then stops dead: no flush, no close.
    device = await openDisk(image, { format: "raw", writable: true });
    fs = await xfsDriver.open(device, { writable: true });
    await fs.unlink("/keep/a");
    await fs.chmod("/keep/b", 0o600);
    await fs.mkdir("/new");
    for (let i = 0; i < 40; i++) await fs.writeFile(`/new/f${i}`, Buffer.alloc(1 << 20, i));
    await device.close();
    xfsRepairClean(image);
    const reader = await openXfs(await openDisk(image, { format: "raw" }));
    expect((await reader.readdir("/")).sort()).toEqual(["keep"]);
    expect((await reader.readdir("/keep")).sort()).toEqual(["a", "b", "c"]);
    expect((await reader.lstat("/keep/b")).mode).toBe(0o644);
    expect(Buffer.from(await reader.readFile("/keep/c")).equals(Buffer.alloc(100_000, 0x63))).toBe(true);
    await reader.close();
  });

  it("turns hostile names, paths and sizes into typed errors and stays xfs_repair-clean", async () => {
    const image = join(work, "hostile.img");
    mkfs(image, []);
    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await xfsDriver.open(device, { writable: true });
    await fs.mkdir("/dir");
    await fs.symlink("/dir", "/link-to-dir");
    await fs.symlink("loop-b", "/loop-a");
    await fs.symlink("loop-a", "/loop-b");
    const code = (promise: Promise<unknown>) => promise.then(() => "ok", (err: { code?: string }) => err.code ?? String(err));
    expect(await code(fs.writeFile("/dir/..", Buffer.from("x")))).toBe("INSPECT_INVALID_NAME");
    expect(await code(fs.mkdir("/dir/."))).toBe("INSPECT_EXISTS");
    expect(await code(fs.writeFile("/dir/a\0b", Buffer.from("x")))).toBe("INSPECT_INVALID_NAME");
    expect(await code(fs.writeFile(`/dir/${"é".repeat(128)}`, Buffer.from("x")))).toBe("INSPECT_INVALID_NAME");
    expect(await code(fs.writeFile("/link-to-dir/x", Buffer.from("x")))).toBe("INSPECT_NOT_A_DIRECTORY");
    expect(await code(fs.writeFile("/loop-a/x", Buffer.from("x")))).toBe("INSPECT_NOT_A_DIRECTORY");
    expect(await code(fs.writeFile("relative", Buffer.from("x")))).toBe("INSPECT_NOT_FOUND");
    expect(await code(fs.symlink("x".repeat(1025), "/long-link"))).toBe("INSPECT_INVALID");
    expect(await code(fs.truncate("/dir", 0))).toBe("INSPECT_IS_A_DIRECTORY");
    expect(await code(fs.truncate("/link-to-dir", 0))).toBe("INSPECT_INVALID");
    expect(await code(fs.mknod("/dev", "chardev", { rdevMajor: 1 << 20 }))).toBe("INSPECT_INVALID");
    expect(await code(fs.rename("/dir", "/dir/inside"))).toBe("INSPECT_INVALID");
    // A file larger than the filesystem: streamed until the space runs out, then nothing is left of it.
    const huge = async function* () {
      for (let i = 0; i < 200; i++) yield Buffer.alloc(1 << 20, i);
    };
    expect(await code(fs.writeFile("/huge", huge()))).toBe("INSPECT_NO_SPACE");
    expect(await code(fs.lstat("/huge"))).toBe("INSPECT_NOT_FOUND");
    // A sparse file far larger than the filesystem is fine: it holds no blocks.
    await fs.writeFile("/sparse", Buffer.from("head"));
    await fs.truncate("/sparse", 2 ** 40);
    expect((await fs.lstat("/sparse")).size).toBe(2 ** 40);
    expect(await code(fs.truncate("/sparse", -1))).toBe("INSPECT_INVALID");
    await fs.flush();
    await fs.close();
    await device.close();
    xfsRepairClean(image);
    const reader = await openXfs(await openDisk(image, { format: "raw" }));
    expect((await reader.readdir("/")).sort()).toEqual(["dir", "link-to-dir", "loop-a", "loop-b", "sparse"]);
    await reader.close();
  });

  it("edits what the kernel wrote: shared (reflinked) and preallocated extents, an extent B+tree, a node directory", async () => {
    const image = join(work, "kernel.img");
    mkfs(image, ["-m", "rmapbt=1,reflink=1"], "128M");
    const shared = Buffer.alloc(1 << 20);
    for (let i = 0; i < shared.length; i += 4) shared.writeUInt32LE(i * 2654435761 >>> 0, i);
    run("mount", ["-o", "loop", image, mountpoint]);
    try {
      writeFileSync(join(mountpoint, "a"), shared);
      run("cp", ["--reflink=always", join(mountpoint, "a"), join(mountpoint, "b")]);
      run("fallocate", ["-l", "4M", join(mountpoint, "prealloc")]);
      const fd = openSync(join(mountpoint, "fragmented"), "w");
      for (let block = 0; block < 600; block += 2) writeSync(fd, Buffer.alloc(4096, block & 0xff), 0, 4096, block * 4096);
      closeSync(fd);
      mkdirSync(join(mountpoint, "big"));
      for (let i = 0; i < 3000; i++) writeFileSync(join(mountpoint, "big", `kernel-file-${i}`), "");
    } finally {
      run("umount", [mountpoint]);
    }
    const format = (path: string) => run("xfs_db", ["-r", "-c", `path ${path}`, "-c", "p core.format", image]);
    expect(format("/fragmented")).toContain("btree");
    // The reflinked range is one record of the refcount B+tree (refcount 2).
    expect(run("xfs_db", ["-r", "-c", "agf 0", "-c", "addr refcntroot", "-c", "p numrecs recs", image])).toMatch(/numrecs = 1\n[\s\S]*1:\[\d+,256,2,0\]/);

    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await xfsDriver.open(device, { writable: true });
    // Shrinking /b zeroes the tail of a block /a shares: copied on write; /a keeps its bytes.
    await fs.truncate("/b", 1000);
    expect(Buffer.from(await fs.readFile("/a")).equals(shared)).toBe(true);
    await fs.flush();
    xfsRepairClean(image);
    await fs.unlink("/a"); // the rest of /a's blocks lose their last sharer
    await fs.truncate("/prealloc", 1 << 20);
    await fs.truncate("/fragmented", 300 * 4096);
    for (let i = 0; i < 3000; i += 2) await fs.unlink(`/big/kernel-file-${i}`);
    for (let i = 0; i < 10; i++) await fs.writeFile(`/big/leapp-${i}`, Buffer.from(`${i}`));
    await fs.chmod("/fragmented", 0o600);
    await fs.close();
    await device.close();
    xfsRepairClean(image);
    run("mount", ["-o", "ro,loop", image, mountpoint]);
    try {
      expect(readFileSync(join(mountpoint, "b")).equals(shared.subarray(0, 1000))).toBe(true);
      const fragmented = readFileSync(join(mountpoint, "fragmented"));
      expect(fragmented.length).toBe(300 * 4096);
      for (let block = 0; block < 300; block++) expect(fragmented[block * 4096]).toBe(block % 2 === 0 ? block & 0xff : 0);
      expect(readFileSync(join(mountpoint, "prealloc")).equals(Buffer.alloc(1 << 20))).toBe(true);
      const names = readdirSync(join(mountpoint, "big"));
      expect(names.length).toBe(1510);
      expect(names).toContain("kernel-file-2999");
      expect(names).toContain("leapp-9");
    } finally {
      run("umount", [mountpoint]);
    }
    // No shared extents are left: the refcount B+tree was rebuilt empty.
    expect(run("xfs_db", ["-r", "-c", "agf 0", "-c", "addr refcntroot", "-c", "p numrecs", image])).toMatch(/numrecs = 0/);
  });

  it("reports as free only blocks that hold no file data: overwriting them in a copy changes nothing", async () => {
    const image = join(work, "free.img");
    mkfs(image, ["-d", "agcount=4"], "128M");
    run("mount", ["-o", "loop", image, mountpoint]);
    try {
      // A used, then thinned-out tree: free space in many pieces across the AGs.
      for (let d = 0; d < 8; d++) {
        mkdirSync(join(mountpoint, `d${d}`));
        for (let f = 0; f < 60; f++) writeFileSync(join(mountpoint, `d${d}`, `f${f}`), Buffer.alloc(1000 + f * 997 + d * 31, (d * 60 + f) & 0xff));
      }
      for (let d = 0; d < 8; d++) for (let f = 0; f < 60; f += 3) unlinkSync(join(mountpoint, `d${d}`, `f${f}`));
    } finally {
      run("umount", [mountpoint]);
    }
    // Our writer thins it out further: its frees must show up as free ranges too.
    {
      const device = await openDisk(image, { format: "raw", writable: true });
      const writer = await xfsDriver.open(device, { writable: true });
      for (let d = 0; d < 8; d++) for (let f = 1; f < 60; f += 3) await writer.unlink(`/d${d}/f${f}`);
      await writer.writeFile("/new", Buffer.alloc(300_000, 0x42));
      await writer.close();
      await device.close();
    }
    const copy = join(work, "free-copy.img");
    copyFileSync(image, copy);
    const fs = await openXfs(await openDisk(image, { format: "raw" }));
    const scribble = await openDisk(copy, { format: "raw", writable: true });
    let ranges = 0;
    let bytes = 0;
    let previousEnd = 0;
    for await (const range of fs.freeRanges()) {
      expect(range.offset).toBeGreaterThanOrEqual(previousEnd);
      previousEnd = range.offset + range.length;
      ranges++;
      bytes += range.length;
      await scribble.write(Buffer.alloc(range.length, 0xa5), range.offset);
    }
    await scribble.close();
    await fs.close();
    expect(ranges).toBeGreaterThan(8);
    // The free space the AGs count, in bytes, is what was reported.
    const agFree = [0, 1, 2, 3].reduce((n, ag) => n + Number(/freeblks = (\d+)/.exec(run("xfs_db", ["-r", "-c", `agf ${ag}`, "-c", "p freeblks", image]))![1]), 0);
    expect(bytes).toBe(agFree * 4096);
    xfsRepairClean(copy);
    const original = join(work, "mnt-original");
    mkdirSync(original);
    run("mount", ["-o", "ro,loop", image, original]);
    try {
      // The copy has the same UUID, which XFS refuses to mount twice unless told.
      run("mount", ["-o", "ro,loop,nouuid", copy, mountpoint]);
      try {
        const diff = spawnSync("diff", ["-r", "--no-dereference", original, mountpoint], { encoding: "utf8" });
        expect(diff.stdout + diff.stderr).toBe("");
        expect(diff.status).toBe(0);
      } finally {
        run("umount", [mountpoint]);
      }
    } finally {
      run("umount", [original]);
    }
  });
});
