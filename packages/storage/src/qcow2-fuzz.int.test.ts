// Seeded mutation fuzzing of real qemu-img images: header, L1, L2 and refcount tables are
// damaged at random; every outcome must be a successful read or a StorageError — never another
// exception, never a hang. Bounded to a few seconds.
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { StorageError } from "./errors.js";
import { seededRandom } from "@leapp/zoo";
import { openDisk } from "./open-disk.js";
import { qemuImg, scratchDir } from "./testing.js";

const SEED = Number(process.env.LEAPP_FUZZ_SEED ?? 0x1eab);
const BUDGET_MS = Number(process.env.LEAPP_FUZZ_MS ?? 5000);
const PER_CASE_MS = 3000;

let dir: string;
const images: { name: string; bytes: Buffer; regions: [number, number][] }[] = [];

/** Where the metadata of a qcow2 image lies: header cluster, L1 table, first L2 tables, refcount table. */
function metadataRegions(bytes: Buffer): [number, number][] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cs = 2 ** v.getUint32(20);
  const l1 = Number(v.getBigUint64(40));
  const l1Size = v.getUint32(36);
  const regions: [number, number][] = [[0, Math.min(cs, 4096)], [l1, l1 + l1Size * 8], [Number(v.getBigUint64(48)), Number(v.getBigUint64(48)) + 512]];
  for (let i = 0; i < Math.min(l1Size, 2); i++) {
    const l2 = Number(v.getBigUint64(l1 + i * 8) & 0x00fffffffffffe00n);
    if (l2) regions.push([l2, l2 + Math.min(cs, 4096)]);
  }
  return regions.filter(([s, e]) => e > s && e <= bytes.length);
}

beforeAll(async () => {
  dir = await scratchDir();
  const raw = join(dir, "seed.raw");
  const handle = await open(raw, "w");
  await handle.truncate(4 * 1024 * 1024);
  const random = seededRandom(1);
  for (let i = 0; i < 12; i++) {
    const data = Buffer.alloc(20_000);
    for (let j = 0; j < data.length; j++) data[j] = i % 2 ? Math.floor(random() * 256) : j % 251;
    await handle.write(data, 0, data.length, Math.floor(random() * (4 * 1024 * 1024 - data.length)));
  }
  await handle.close();
  const variants: [string, string[]][] = [
    ["plain", ["-o", "cluster_size=4096"]],
    ["v2", ["-o", "compat=0.10,cluster_size=4096"]],
    ["zlib", ["-c", "-o", "cluster_size=4096"]],
    ["zstd", ["-c", "-o", "compression_type=zstd,cluster_size=16384"]],
    ["extl2", ["-o", "extended_l2=on,cluster_size=16384"]],
    ["refcount1", ["-o", "refcount_bits=1,cluster_size=4096"]],
  ];
  for (const [name, options] of variants) {
    const path = join(dir, `${name}.qcow2`);
    await qemuImg("convert", "-f", "raw", "-O", "qcow2", ...options, raw, path);
    const bytes = await readFile(path);
    images.push({ name, bytes, regions: metadataRegions(bytes) });
  }
  // An overlay, so backing-file names get damaged too.
  const overlay = join(dir, "overlay.qcow2");
  await qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "plain.qcow2", "-F", "qcow2", overlay);
  const bytes = await readFile(overlay);
  images.push({ name: "overlay", bytes, regions: metadataRegions(bytes) });
});

const interesting = [0n, 1n, 0x7fn, 0xffn, 0x200n, 0xffffn, 0x7fffffffn, 0xffffffffn, 1n << 32n, 1n << 40n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n];

function mutate(bytes: Buffer, regions: [number, number][], random: () => number): Buffer {
  const out = Buffer.from(bytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const count = 1 + Math.floor(random() * 4);
  for (let i = 0; i < count; i++) {
    const [start, end] = regions[Math.floor(random() * regions.length)]!;
    const at = start + Math.floor(random() * (end - start));
    const kind = Math.floor(random() * 4);
    if (kind === 0) out[at] = Math.floor(random() * 256);
    else if (kind === 1) out[at] = out[at]! ^ (1 << Math.floor(random() * 8));
    else if (kind === 2 && at + 8 <= out.length) view.setBigUint64(at & ~7, interesting[Math.floor(random() * interesting.length)]!);
    else if (at + 4 <= out.length) view.setUint32(at & ~3, Number(interesting[Math.floor(random() * 8)]!));
  }
  return out;
}

/**
 * Opens and reads what a consumer would: up to 10 000 extents, the first 4 MiB and a few random
 * ranges. Every third round opens the image for writing and writes too (refcounts and tables
 * that lie must not crash the allocator either).
 */
async function exercise(path: string, random: () => number, write: boolean): Promise<void> {
  const device = await openDisk(path, { writable: write });
  try {
    if (write && device.size > 0) {
      const length = Math.min(device.size, 1 + Math.floor(random() * 70_000));
      await device.write(new Uint8Array(length).fill(0x5a), Math.floor(random() * (device.size - length + 1)));
      await device.flush();
    }
    let n = 0;
    for await (const _e of device.extents()) if (++n > 10_000) break;
    const buffer = new Uint8Array(256 * 1024);
    for (let at = 0; at < Math.min(device.size, 4 * 1024 * 1024); at += buffer.length) {
      await device.read(buffer.subarray(0, Math.min(buffer.length, device.size - at)), at);
    }
    for (let i = 0; i < 4 && device.size > 0; i++) {
      const len = Math.min(65536, device.size);
      await device.read(buffer.subarray(0, len), Math.floor(random() * (device.size - len + 1)));
    }
  } finally {
    await device.close();
  }
}

describe("qcow2 fuzzing", () => {
  it(`every mutant reads or fails with a StorageError (seed ${SEED}, ${BUDGET_MS} ms)`, async () => {
    const random = seededRandom(SEED);
    const started = Date.now();
    const outcomes = { read: 0, refused: 0 };
    let round = 0;
    while (Date.now() - started < BUDGET_MS) {
      const image = images[round % images.length]!;
      const path = join(dir, image.name === "overlay" ? "overlay-mutant.qcow2" : `mutant-${round}.qcow2`);
      await writeFile(path, mutate(image.bytes, image.regions, random));
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        exercise(path, random, round % 3 === 2).then(
          () => "read" as const,
          (err: unknown) => err,
        ),
        new Promise((resolve) => (timer = setTimeout(() => resolve("hang"), PER_CASE_MS))),
      ]);
      clearTimeout(timer);
      if (outcome === "read") outcomes.read++;
      else if (outcome instanceof StorageError) outcomes.refused++;
      else expect.fail(`round ${round} (${image.name}, seed ${SEED}): ${outcome === "hang" ? "no answer within 3 s" : String((outcome as Error)?.stack ?? outcome)}`);
      round++;
    }
    expect(round).toBeGreaterThan(50);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.read).toBeGreaterThan(0);
  });
});
