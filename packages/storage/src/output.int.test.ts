// What convertDisk, createOverlay and createQcow2 leave on disk: the finished target, or nothing
// (a temporary file is never left by an error or an abort); never the source replaced; host write
// failures as typed errors; the data figure equal to what the target allocates.
import { execFileSync } from "node:child_process";
import { link, lstat, mkdir, open, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertDisk } from "./convert.js";
import { createOverlay } from "./overlay.js";
import { createQcow2 } from "./qcow2-create.js";
import { qemuImg, scratchDir } from "./testing.js";

const MiB = 1024 * 1024;
let dir: string;
let source: string;

/** A raw file with `mib` MiB of pseudo-random data in every other MiB (the rest holes). */
async function scattered(path: string, mib: number): Promise<void> {
  const handle = await open(path, "w");
  await handle.truncate(2 * mib * MiB);
  const chunk = Buffer.alloc(MiB);
  let x = 0x9e3779b9;
  for (let i = 0; i < mib; i++) {
    for (let j = 0; j < MiB; j += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk.writeInt32LE(x | 0, j);
    }
    await handle.write(chunk, 0, MiB, 2 * i * MiB);
  }
  await handle.close();
}

const entries = async (path: string) => (await readdir(path)).sort();

beforeAll(async () => {
  dir = await scratchDir("leapp-output-");
  source = join(dir, "source.raw");
  await scattered(source, 24);
});

describe("aborting", () => {
  it.each(["raw", "qcow2"] as const)("a conversion to %s aborted midway rejects with the reason and leaves nothing", async (format) => {
    const out = join(dir, `abort-${format}`);
    await mkdir(out);
    const controller = new AbortController();
    const reason = new Error("stop here");
    const seen: number[] = [];
    const run = convertDisk(source, join(out, "target"), {
      format,
      signal: controller.signal,
      onProgress: (e) => {
        seen.push(e.done);
        if (e.done > e.total! / 3) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(seen.length).toBeGreaterThan(1);
    expect(await entries(out)).toEqual([]);
  });

  it("an overlay aborted at any step is there complete or not at all", async () => {
    const out = join(dir, "abort-overlay");
    await mkdir(out);
    const base = join(out, "base.raw");
    await writeFile(base, Buffer.alloc(MiB, 1));
    let completed = 0;
    let refused = 0;
    for (let turns = 0; completed < 2; turns += 3) {
      const controller = new AbortController();
      const overlay = join(out, "ov.qcow2");
      const run = createOverlay(base, overlay, { signal: controller.signal, overwrite: true });
      for (let t = 0; t < turns; t++) await new Promise((resolve) => setImmediate(resolve));
      controller.abort();
      const ok = await run.then(
        () => true,
        (err: unknown) => (expect((err as Error).name).toBe("AbortError"), false),
      );
      const names = await entries(out);
      if (ok) {
        completed++;
        expect(names).toEqual(["base.raw", "ov.qcow2"]);
        await qemuImg("check", overlay);
      } else {
        refused++;
        expect(names.filter((n) => n !== "ov.qcow2")).toEqual(["base.raw"]);
      }
    }
    // Early aborts refuse, late ones come after the rename: both kinds happened.
    expect(refused).toBeGreaterThan(3);
  });
});

describe("targets that are the source", () => {
  it("refuses the source itself, through a symlink, a hard link, or its backing file — even with overwrite", async () => {
    const out = join(dir, "same");
    await mkdir(out);
    const base = join(out, "base.raw");
    await writeFile(base, Buffer.alloc(MiB, 7));
    const overlay = join(out, "top.qcow2");
    await createOverlay(base, overlay);
    await symlink(overlay, join(out, "alias.qcow2"));
    await link(overlay, join(out, "hard.qcow2"));
    const before = [await readFile(base), await readFile(overlay)];
    for (const target of [overlay, join(out, "alias.qcow2"), join(out, "hard.qcow2"), base]) {
      for (const overwrite of [false, true]) {
        await expect(convertDisk(overlay, target, { overwrite }), target).rejects.toMatchObject({ code: "STORAGE_SAME_FILE" });
      }
    }
    await expect(createOverlay(base, base, { overwrite: true })).rejects.toMatchObject({ code: "STORAGE_SAME_FILE" });
    expect([await readFile(base), await readFile(overlay)]).toEqual(before);
    expect(await entries(out)).toEqual(["alias.qcow2", "base.raw", "hard.qcow2", "top.qcow2"]);
  });

  it("replaces another existing target only with overwrite, atomically (a reader's open file keeps the old content)", async () => {
    const out = join(dir, "replace");
    await mkdir(out);
    const target = join(out, "t.raw");
    await writeFile(target, "old content");
    await expect(convertDisk(source, target)).rejects.toMatchObject({ code: "STORAGE_TARGET_EXISTS" });
    const reader = await open(target, "r");
    await convertDisk(source, target, { overwrite: true });
    expect((await reader.readFile()).toString()).toBe("old content");
    await reader.close();
    await qemuImg("compare", "-f", "raw", "-F", "raw", source, target);
    expect(await entries(out)).toEqual(["t.raw"]);
    // A symlink as target, dangling or not, is a name that exists; replacing it replaces the link,
    // never writes where it points.
    const link = join(out, "link.raw");
    await symlink(join(out, "elsewhere.raw"), link);
    await expect(convertDisk(source, link)).rejects.toMatchObject({ code: "STORAGE_TARGET_EXISTS" });
    await convertDisk(source, link, { overwrite: true });
    expect((await lstat(link)).isFile()).toBe(true);
    expect(await entries(out)).toEqual(["link.raw", "t.raw"]);
  });
});

describe("host write failures", () => {
  it("a target in a missing or read-only directory: STORAGE_CANNOT_WRITE naming it", async () => {
    await expect(convertDisk(source, join(dir, "no-such-dir", "t.raw"))).rejects.toMatchObject({ code: "STORAGE_CANNOT_WRITE", message: expect.stringContaining("no-such-dir") as string });
    await expect(createOverlay(source, join(source, "t.qcow2"))).rejects.toMatchObject({ code: "STORAGE_CANNOT_WRITE" });
  });

  let mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) execFileSync("umount", ["-l", m]);
    mounts = [];
  });

  it("no space left: STORAGE_NO_SPACE and nothing left on the full file system", async () => {
    const small = join(dir, "small");
    await mkdir(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", small]);
    mounts.push(small);
    for (const format of ["raw", "qcow2"] as const) {
      await expect(convertDisk(source, join(small, `full.${format}`), { format })).rejects.toMatchObject({ code: "STORAGE_NO_SPACE", package: "@leapp/storage" });
      expect(await entries(small)).toEqual([]);
    }
  });

  it("a raw target larger than the file system allows: STORAGE_TOO_LARGE, no 0-byte file", async () => {
    const ext4 = join(dir, "ext4");
    await mkdir(ext4);
    const image = join(dir, "ext4.img");
    execFileSync("truncate", ["-s", "32M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", image]);
    execFileSync("mount", ["-o", "loop", image, ext4]);
    mounts.push(ext4);
    // 64 TiB: more than ext4's 16 TiB file limit with 4 KiB blocks.
    const huge = join(dir, "huge-64t.qcow2");
    await createQcow2(huge, { size: 64 * 1024 ** 4 });
    await expect(convertDisk(huge, join(ext4, "huge.raw"), { format: "raw" })).rejects.toMatchObject({ code: "STORAGE_TOO_LARGE" });
    expect((await entries(ext4)).filter((n) => n !== "lost+found")).toEqual([]);
  });
});

describe("the data figure", () => {
  it("is exact — the bytes the target allocates for data, as qemu-img maps them — and the same every run", async () => {
    const allocated = async (image: string) => {
      const map = JSON.parse(await qemuImg("map", "--output=json", image)) as { length: number; data: boolean }[];
      return map.filter((e) => e.data).reduce((n, e) => n + e.length, 0);
    };
    const figures = new Set<number>();
    for (let run = 0; run < 3; run++) {
      const raw = join(dir, `figure-${run}.raw`);
      const result = await convertDisk(source, raw, { format: "raw" });
      expect(result.dataBytes).toBe(await allocated(raw));
      figures.add(result.dataBytes);
    }
    expect([...figures]).toEqual([24 * MiB]);
    const qcow2 = join(dir, "figure.qcow2");
    expect((await convertDisk(source, qcow2, { format: "qcow2" })).dataBytes).toBe(await allocated(qcow2));
  });
});
