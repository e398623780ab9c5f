import { createHash } from "node:crypto";
import { readFile, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { compareDisks } from "./compare.js";
import { StorageError } from "./errors.js";
import { convertDisk } from "./convert.js";
import { diskInfo } from "./info.js";
import { openDisk } from "./open-disk.js";
import { createOverlay } from "./overlay.js";
import { createQcow2 } from "./qcow2-create.js";
import { expectSameContentAsQemu, qemuImg, scratchDir } from "./testing.js";

async function fileSha256(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** `qemu-img check` of a qcow2 image: must report neither errors nor leaks. */
async function expectCleanCheck(path: string): Promise<void> {
  const report = JSON.parse(await qemuImg("check", "--output=json", path)) as Record<string, unknown>;
  expect(report["check-errors"], `check errors in ${path}`).toBe(0);
  expect(report["corruptions"] ?? 0, `corruptions in ${path}`).toBe(0);
  expect(report["leaks"] ?? 0, `leaks in ${path}`).toBe(0);
}

function allocatedClusters(checkJson: string): number {
  return (JSON.parse(checkJson) as { "allocated-clusters": number })["allocated-clusters"];
}

async function makeSource(path: string, size: number): Promise<void> {
  const handle = await open(path, "w");
  await handle.truncate(size);
  let seed = 99;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 30; i++) {
    const length = 1 + Math.floor(random() * 400_000);
    const at = Math.floor(random() * (size - length));
    const data = Buffer.alloc(length);
    if (i % 3) for (let j = 0; j < length; j++) data[j] = Math.floor(random() * 256);
    else data.fill(`pattern ${i};`);
    await handle.write(data, 0, length, at);
  }
  // Data in the last, partial 4 KiB block too.
  await handle.write(Buffer.from("the very end"), 0, 12, size - 12);
  await handle.close();
}

let dir: string;
let sourceRaw: string;
const SIZE = 32 * 1024 * 1024 + 3 * 512;

beforeAll(async () => {
  dir = await scratchDir();
  sourceRaw = join(dir, "source.raw");
  await makeSource(sourceRaw, SIZE);
});

describe("createQcow2", () => {
  it.each([512, 4096, 65536, 2097152])("creates an empty image qemu-img finds clean (cluster %i)", async (cs) => {
    const path = join(dir, `empty-${cs}.qcow2`);
    await createQcow2(path, { size: 5 * 1024 * 1024 * 1024, clusterSize: cs });
    await expectCleanCheck(path);
    const info = JSON.parse(await qemuImg("info", "--output=json", path)) as Record<string, unknown>;
    expect(info["virtual-size"]).toBe(5 * 1024 * 1024 * 1024);
    expect(info["cluster-size"]).toBe(cs);
    await expect(createQcow2(path, { size: 1024 })).rejects.toMatchObject({ code: "STORAGE_TARGET_EXISTS" });
  });
});

describe("convertDisk", () => {
  const sources: [string, string[]][] = [
    ["raw", []],
    ["raw without the SEEK_DATA addon", []],
    ["qcow2", ["-O", "qcow2"]],
    ["compressed qcow2", ["-O", "qcow2", "-c"]],
    ["vmdk", ["-O", "vmdk"]],
  ];
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  it.each(sources)("converts %s to qcow2 and raw, byte-identical, clean and as sparse as qemu-img's", async (name, args) => {
    if (name.includes("without")) vi.stubEnv("LEAPP_STORAGE_NATIVE", "0");
    // What qemu-img allocates for the same conversion: ours must allocate no more, and no less.
    const qemuCopy = join(dir, `qemu-${name.replace(/\W+/g, "-")}.qcow2`);
    await qemuImg("convert", "-O", "qcow2", sourceRaw, qemuCopy);
    const qemuClusters = allocatedClusters(await qemuImg("check", "--output=json", qemuCopy));
    let source = sourceRaw;
    if (args.length) {
      source = join(dir, `src-${name.replace(/\W+/g, "-")}`);
      await qemuImg("convert", "-f", "raw", ...args, sourceRaw, source);
    }
    for (const [format, compress] of [["qcow2", false], ["qcow2", true], ["raw", false]] as const) {
      const target = join(dir, `out-${name.replace(/\W+/g, "-")}-${format}${compress ? "-c" : ""}`);
      const seen: number[] = [];
      const result = await convertDisk(source, target, { format, compress, onProgress: (e) => seen.push(e.done) });
      expect(result.virtualSize).toBe(SIZE);
      expect(seen.at(-1)).toBe(SIZE);
      if (format === "qcow2") await expectCleanCheck(target);
      if (format === "qcow2" && !compress) expect(allocatedClusters(await qemuImg("check", "--output=json", target))).toBe(qemuClusters);
      await qemuImg("compare", source, target);
      await expectSameContentAsQemu(target);
      expect(await compareDisks(source, target)).toMatchObject({ identical: true });
    }
  });

  it("copies a chain mixing plain, compressed and unaligned clusters alike with and without the native copy", async () => {
    // A base with 4 KiB clusters, some compressed; an overlay with 512-byte clusters written at odd places.
    const base = join(dir, "mixed-base.qcow2");
    await qemuImg("convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=4096", sourceRaw, base);
    const top = join(dir, "mixed-top.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", "mixed-base.qcow2", "-F", "qcow2", top);
    await qemuIo(top, "qcow2", ["write -P 0x61 1536 2560", "write -P 0x62 3000000 70000", "write -z 5000000 100000", `write -P 0x63 ${SIZE - 700} 700`]);
    const results = [];
    for (const native of ["1", "0"]) {
      vi.stubEnv("LEAPP_STORAGE_NATIVE", native);
      for (const format of ["raw", "qcow2"] as const) {
        const target = join(dir, `mixed-${native}.${format}`);
        const result = await convertDisk(top, target, { format });
        await qemuImg("compare", top, target);
        if (format === "qcow2") await expectCleanCheck(target);
        const map = JSON.parse(await qemuImg("map", "--output=json", target)) as { length: number; data: boolean }[];
        expect(result.dataBytes, `${format}, native ${native}`).toBe(map.filter((e) => e.data).reduce((n, e) => n + e.length, 0));
        results.push(result.dataBytes);
      }
    }
    vi.unstubAllEnvs();
    // The same allocation either way.
    expect(results.slice(0, 2)).toEqual(results.slice(2));
  });

  it("converts a 100 GiB sparse qcow2 in well under a second", async () => {
    const huge = join(dir, "huge.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", huge, "100G");
    const target = join(dir, "huge-out.qcow2");
    const started = Date.now();
    const result = await convertDisk(huge, target, { format: "qcow2" });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result.dataBytes).toBe(0);
    await expectCleanCheck(target);
    await qemuImg("compare", huge, target);
  });

  it("refuses to overwrite a target unless asked", async () => {
    const target = join(dir, "exists.raw");
    await convertDisk(sourceRaw, target, { format: "raw" });
    await expect(convertDisk(sourceRaw, target, { format: "raw" })).rejects.toMatchObject({ code: "STORAGE_TARGET_EXISTS" });
    await convertDisk(sourceRaw, target, { format: "raw", overwrite: true });
  });
});

describe("createOverlay and writes", () => {
  it.each(["raw", "qcow2"])("writes through an overlay on a %s base; the base is untouched", async (baseFormat) => {
    const base = join(dir, `base.${baseFormat}`);
    await qemuImg("convert", "-f", "raw", "-O", baseFormat, sourceRaw, base);
    const before = await fileSha256(base);
    const overlay = join(dir, `overlay-on-${baseFormat}.qcow2`);
    await createOverlay(base, overlay);
    const info = await diskInfo(overlay);
    expect(info.backing).toEqual([{ path: base, format: baseFormat }]);
    const device = await openDisk(overlay, { writable: true });
    await device.write(Buffer.alloc(100_000, 0x7e), 1_000_000); // unaligned, partial clusters
    await device.write(Buffer.alloc(65536, 0x11), 65536 * 40); // one whole cluster
    await device.write(Buffer.from("end of disk"), SIZE - 11);
    await device.close();
    await expectCleanCheck(overlay);
    expect(await fileSha256(base)).toBe(before);
    // qemu-img reads our overlay as the base with our writes on top.
    const expected = join(dir, `expected-${baseFormat}.raw`);
    await qemuImg("convert", "-f", "raw", "-O", "raw", sourceRaw, expected);
    await qemuIo(expected, "raw", ["write -P 0x7e 1000000 100000", `write -P 0x11 ${65536 * 40} 65536`]);
    const handle = await open(expected, "r+");
    await handle.write(Buffer.from("end of disk"), 0, 11, SIZE - 11);
    await handle.close();
    await qemuImg("compare", overlay, expected);
    await expectSameContentAsQemu(overlay);
    expect(await compareDisks(overlay, base)).toMatchObject({ identical: false, firstDifference: 1_000_000 });
  });
});

async function qemuIo(path: string, format: string, commands: string[]): Promise<void> {
  const { execFile } = await import("node:child_process");
  const args = ["-f", format, ...commands.flatMap((c) => ["-c", c]), path];
  await new Promise<void>((resolve, reject) => execFile("qemu-io", args, (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve())));
}

describe("storage strategies", () => {
  it("maps source disks to targets for copy, snapshot and in-place, and creates them on request", async () => {
    const { planStorage } = await import("./strategy.js");
    const { mkdir, stat } = await import("node:fs/promises");
    const a = join(dir, "strategy", "one", "disk.img");
    const b = join(dir, "strategy", "two", "disk.img");
    await mkdir(join(dir, "strategy", "one"), { recursive: true });
    await mkdir(join(dir, "strategy", "two"), { recursive: true });
    await qemuImg("convert", "-f", "raw", "-O", "qcow2", sourceRaw, a);
    await qemuImg("convert", "-f", "raw", "-O", "raw", sourceRaw, b);
    const before = [await fileSha256(a), await fileSha256(b)];
    const out = join(dir, "strategy", "out");
    await mkdir(out);

    const copy = await planStorage([a, b], { strategy: "copy", targetDir: out, format: "raw" });
    expect(copy.map((m) => m.target)).toEqual([join(out, "disk.raw"), join(out, "disk-2.raw")]);
    await expect(stat(copy[0]!.target as string)).rejects.toMatchObject({ code: "ENOENT" }); // a plan writes nothing
    for (const m of copy) await m.create();
    for (const m of copy) await qemuImg("compare", m.source as string, m.target as string);

    const snap = await planStorage([a, b], { strategy: "snapshot", targetDir: out });
    expect(snap.map((m) => m.target)).toEqual([join(out, "disk.overlay.qcow2"), join(out, "disk-2.overlay.qcow2")]);
    for (const m of snap) await m.create();
    for (const m of snap) {
      await qemuImg("compare", m.source as string, m.target as string);
      // The base lies outside the overlay's directory: refused unless trusted.
      expect((await diskInfo(m.target as string)).backing[0]?.problem?.code).toBe("STORAGE_PATH_ESCAPE");
      expect((await diskInfo(m.target as string, { trustedBackingDirs: [dirname(m.source as string)] })).backing).toEqual([{ path: m.source, format: m.source === a ? "qcow2" : "raw" }]);
    }

    const inPlace = await planStorage([a, b], { strategy: "in-place" });
    expect(inPlace.map((m) => [m.target, m.targetFormat])).toEqual([[a, "qcow2"], [b, "raw"]]);
    expect([await fileSha256(a), await fileSha256(b)]).toEqual(before);
    await expect(planStorage([a], { strategy: "copy" })).rejects.toMatchObject({ code: "STORAGE_UNSUPPORTED" });
  });
});

describe("writes into qemu-img images of every layout", () => {
  const layouts = ["refcount_bits=1", "refcount_bits=2", "refcount_bits=8", "refcount_bits=32", "refcount_bits=64", "compat=0.10", "cluster_size=512", "cluster_size=2097152", "lazy_refcounts=off,cluster_size=4096"];
  it.each(layouts)("%s: our writes leave qemu-img check clean and read back through qemu-img", async (options) => {
    const image = join(dir, `write-${options.replace(/\W+/g, "-")}.qcow2`);
    await qemuImg("convert", "-f", "raw", "-O", "qcow2", "-o", options, sourceRaw, image);
    const device = await openDisk(image, { writable: true });
    // Overwrite allocated data, fill holes, and write across cluster boundaries.
    await device.write(Buffer.alloc(300_000, 0x3c), 123_457);
    await device.write(Buffer.alloc(1_000_000, 0xc3), 20 * 1024 * 1024 + 99);
    await device.close();
    await expectCleanCheck(image);
    const expected = join(dir, `write-expected-${options.replace(/\W+/g, "-")}.raw`);
    await qemuImg("convert", "-f", "raw", "-O", "raw", sourceRaw, expected);
    await qemuIo(expected, "raw", ["write -P 0x3c 123457 300000", `write -P 0xc3 ${20 * 1024 * 1024 + 99} 1000000`]);
    await qemuImg("compare", image, expected);
  });
});

it("grows the refcount table when our writes outgrow it", async () => {
  // 512-byte clusters: one refcount table cluster covers only 8 MiB of file.
  const image = join(dir, "grow.qcow2");
  await createQcow2(image, { size: 64 * 1024 * 1024, clusterSize: 512 });
  const device = await openDisk(image, { writable: true });
  const data = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 20; i++) await device.write(data.fill(i + 1), i * 3 * 1024 * 1024);
  await device.close();
  await expectCleanCheck(image);
  const expected = join(dir, "grow-expected.raw");
  await qemuImg("create", "-q", "-f", "raw", expected, "64M");
  await qemuIo(expected, "raw", Array.from({ length: 20 }, (_, i) => `write -P ${i + 1} ${i * 3 * 1024 * 1024} 1M`));
  await qemuImg("compare", image, expected);
});

describe("random writes against a raw mirror", () => {
  it.each([
    ["512-byte clusters, 1-bit refcounts", ["-o", "cluster_size=512,refcount_bits=1"]],
    ["4 KiB clusters, compressed source", ["-c", "-o", "cluster_size=4096"]],
    ["overlay on a qcow2 base", []],
  ] as [string, string[]][])("%s", async (name, options) => {
    const slug = name.replace(/\W+/g, "-");
    const image = join(dir, `random-${slug}.qcow2`);
    if (name.startsWith("overlay")) {
      const base = join(dir, `random-base-${slug}.qcow2`);
      await qemuImg("convert", "-f", "raw", "-O", "qcow2", sourceRaw, base);
      await createOverlay(base, image);
    } else await qemuImg("convert", "-f", "raw", "-O", "qcow2", ...options, sourceRaw, image);
    const mirror = join(dir, `random-mirror-${slug}.raw`);
    await qemuImg("convert", "-f", "raw", "-O", "raw", sourceRaw, mirror);
    const mirrorHandle = await open(mirror, "r+");
    const device = await openDisk(image, { writable: true });
    let seed = 4242;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    // Concurrent batches of writes, some overlapping, some zeros, a few reads in between.
    for (let batch = 0; batch < 8; batch++) {
      const writes = Array.from({ length: 6 }, (_, i) => {
        const length = 1 + Math.floor(random() * 200_000);
        const at = Math.floor(random() * (SIZE - length));
        return { at, data: Buffer.alloc(length, i === 5 ? 0 : Math.floor(random() * 255) + 1) };
      });
      await Promise.all(writes.map((w) => device.write(w.data, w.at)));
      for (const w of writes) await mirrorHandle.write(w.data, 0, w.data.length, w.at);
      const probe = new Uint8Array(65536);
      await device.read(probe, writes[0]!.at);
    }
    await device.close();
    await mirrorHandle.close();
    await expectCleanCheck(image);
    await qemuImg("compare", image, mirror);
  });
});

it("keeps every one of many disjoint writes into the same new clusters, issued at once", async () => {
  // The first write into a cluster allocates it and writes it whole (its other bytes copied from
  // below); writes issued with it into other bytes of that cluster must land after it, not under it.
  const image = join(dir, "disjoint.qcow2");
  await createQcow2(image, { size: 64 << 20 });
  const mirror = join(dir, "disjoint.raw");
  const mirrorHandle = await open(mirror, "w");
  await mirrorHandle.truncate(64 << 20);
  const device = await openDisk(image, { writable: true });
  for (let round = 0; round < 4; round++) {
    const writes = [];
    for (let c = 0; c < 256; c++) {
      for (let k = 0; k < 4; k++) {
        const at = c * 65536 + k * 16384 + round * 512 + 7;
        writes.push({ at, data: Buffer.alloc(300, 1 + ((c + k + round) % 250)) });
      }
    }
    await Promise.all(writes.map((w) => device.write(w.data, w.at)));
    for (const w of writes) await mirrorHandle.write(w.data, 0, w.data.length, w.at);
  }
  await device.close();
  await mirrorHandle.close();
  await expectCleanCheck(image);
  await qemuImg("compare", "-f", "qcow2", "-F", "raw", image, mirror);
});

it("reads an overlay cluster being copied-on-write as either its old or its new content, never zeros", async () => {
  // The table points at the new cluster before its data lands, and a read in between waits for
  // it. That window is a few microseconds wide, so this covers the interleavings the event loop
  // gives rather than forcing that one.
  const base = join(dir, "cow-base.qcow2");
  await qemuImg("convert", "-f", "raw", "-O", "qcow2", sourceRaw, base);
  const overlay = join(dir, "cow-overlay.qcow2");
  await createOverlay(base, overlay);
  const device = await openDisk(overlay, { writable: true });
  const original = await openDisk(base);
  for (let round = 0; round < 64; round++) {
    const cluster = round * 7 * 65536;
    const expected = new Uint8Array(4096);
    await original.read(expected, cluster + 32768);
    // A small write into the cluster's first half; reads of its second half while it runs, one
    // per turn of the event loop, so that some land between the table update and the data.
    const write = device.write(new Uint8Array(512).fill(0xee), cluster + 512);
    const reads: Promise<Uint8Array>[] = [];
    for (let k = 0; k < 12; k++) {
      const seen = new Uint8Array(4096);
      reads.push(device.read(seen, cluster + 32768).then(() => seen));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await write;
    for (const seen of await Promise.all(reads)) expect(Buffer.compare(seen, expected), `round ${round}`).toBe(0);
  }
  await original.close();
  await device.close();
  await expectCleanCheck(overlay);
});

it("leaves no target behind when the source turns out to be damaged", async () => {
  const { readFile, writeFile, stat } = await import("node:fs/promises");
  const damaged = join(dir, "damaged.qcow2");
  await qemuImg("convert", "-f", "raw", "-O", "qcow2", sourceRaw, damaged);
  const bytes = await readFile(damaged);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const l2 = Number(view.getBigUint64(Number(view.getBigUint64(40))) & 0x00fffffffffffe00n);
  // Aim the last used L2 entry of the first table past the end of the file.
  let last = -1;
  for (let i = 0; i < 8192; i++) if (view.getBigUint64(l2 + i * 8) !== 0n) last = i;
  view.setBigUint64(l2 + last * 8, (1n << 63n) | (1n << 40n));
  await writeFile(damaged, bytes);
  for (const format of ["raw", "qcow2"] as const) {
    const target = join(dir, `from-damaged.${format}`);
    await expect(convertDisk(damaged, target, { format })).rejects.toBeInstanceOf(StorageError);
    await expect(stat(target)).rejects.toMatchObject({ code: "ENOENT" });
  }
});
