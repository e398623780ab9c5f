// The ext writer under bad input. Fuzzing: bytes of the metadata a clean walk reads (superblock,
// descriptors, bitmaps, inodes, directory and extent blocks) of a real populated image are
// mutated, then a seeded run of writes goes at it; every call must end in a result or an
// InspectError, each round in bounded time. Hostile arguments: each refused with its typed error,
// the filesystem fsck-clean and unchanged after.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk, type BlockDevice } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { InspectError } from "../../errors.js";
import { seededRandom } from "@leapp/zoo";
import { cachedImage, cachedTree, walkFilesystem } from "../conformance.js";
import { fileDevice, patchedDevice, run } from "../../block/volumes-test-support.js";
import type { WritableFilesystem } from "../filesystem.js";
import { e2fsckClean } from "./ext-write-variants.js";
import { extDriver } from "./ext.js";

const TREE = { seed: 99, manyEntries: 600 };
const work = mkdtempSync(join(tmpdir(), "leapp-ext-wfuzz-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A writable view of a read-only base: writes land in memory, patches override bytes read. */
function copyOnWrite(base: BlockDevice, patches: Map<number, number>): BlockDevice {
  const written = new Map<number, Uint8Array>();
  const unit = 4096;
  const read = async (buffer: Uint8Array, position: number) => {
    await base.read(buffer, position);
    for (const [at, value] of patches) if (at >= position && at < position + buffer.length) buffer[at - position] = value;
    for (let u = Math.floor(position / unit); u * unit < position + buffer.length; u++) {
      const page = written.get(u);
      if (!page) continue;
      const from = Math.max(position, u * unit);
      const to = Math.min(position + buffer.length, (u + 1) * unit);
      buffer.set(page.subarray(from - u * unit, to - u * unit), from - position);
    }
  };
  return {
    ...base,
    writable: true,
    read,
    async write(data, position) {
      for (let u = Math.floor(position / unit); u * unit < position + data.length; u++) {
        let page = written.get(u);
        if (!page) {
          page = new Uint8Array(unit);
          await read(page, u * unit);
          written.set(u, page);
        }
        const from = Math.max(position, u * unit);
        const to = Math.min(position + data.length, (u + 1) * unit);
        page.set(data.subarray(from - position, to - position), from - u * unit);
      }
    },
    async flush() {},
    async close() {},
  };
}

/** A short seeded run of writes; returns how many calls failed with an InspectError. */
async function writeSome(fs: WritableFilesystem, random: () => number, names: string[]): Promise<number> {
  let typed = 0;
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const ops: Array<() => Promise<unknown>> = [
    () => fs.writeFile(`/new-${Math.floor(random() * 1e6)}`, Buffer.alloc(Math.floor(random() * 300_000), 7)),
    () => fs.writeFile(pick(names), Buffer.from("replaced\n")),
    () => fs.mkdir(`${pick(["", "/many"])}/dir-${Math.floor(random() * 1e6)}`),
    () => fs.unlink(pick(names)),
    () => fs.rmdir(pick(names)),
    () => fs.rename(pick(names), `/moved-${Math.floor(random() * 1e6)}`),
    () => fs.truncate(pick(names), Math.floor(random() * 5_000_000)),
    () => fs.setxattr(pick(names), "user.fuzz", Buffer.alloc(Math.floor(random() * 3000), 1)),
    () => fs.removexattr(pick(names), "user.fuzz"),
    () => fs.symlink("x".repeat(1 + Math.floor(random() * 200)), `/link-${Math.floor(random() * 1e6)}`),
    () => fs.link(pick(names), `/hard-${Math.floor(random() * 1e6)}`),
    () => fs.chmod(pick(names), 0o600),
    () => fs.readFile(pick(names), { maxBytes: 1 << 20 }),
  ];
  for (let i = 0; i < 12; i++) {
    try {
      await pick(ops)();
    } catch (err) {
      if (!(err instanceof InspectError)) throw err;
      typed++;
    }
  }
  return typed;
}

describe("ext writer under bad input", () => {
  it("mutated metadata: every write ends in a result or an InspectError, in bounded time", async () => {
    const tree = cachedTree(TREE);
    const image = cachedImage({ fuzz: "ext4", TREE }, (path) => run("mkfs.ext4", ["-q", "-F", "-d", tree, path, "40M"]));
    const base = fileDevice(image);
    const metadata = new Set<number>();
    const recording = patchedDevice(base, new Map(), (position, length) => {
      if (length <= 64 * 1024) metadata.add(position * 65536 + length);
    });
    const clean = await extDriver.open(recording);
    await walkFilesystem(clean);
    const names = ["/empty", "/large.bin", "/fragmented.bin", "/many", "/slow-link", "/hard-link", "/sticky", "/fifo", "/sparse.bin", ...(await clean.readdir("/many")).slice(0, 40).map((n) => `/many/${n}`)];
    const regions = [...metadata].map((key) => ({ position: Math.floor(key / 65536), length: key % 65536 }));
    const random = seededRandom(11);
    const started = performance.now();
    let rounds = 0;
    let typed = 0;
    while (performance.now() - started < 6000) {
      const patches = new Map<number, number>();
      for (let k = 0; k < 1 + Math.floor(random() * 10); k++) {
        const region = regions[Math.floor(random() * regions.length)]!;
        patches.set(region.position + Math.floor(random() * region.length), random() < 0.3 ? 0xff : Math.floor(random() * 256));
      }
      const roundStart = performance.now();
      try {
        const fs = await extDriver.open(copyOnWrite(base, patches), { writable: true });
        typed += await writeSome(fs, random, names);
        await fs.close();
      } catch (err) {
        if (!(err instanceof InspectError)) throw new Error(`round ${rounds}: ${String(err)}`, { cause: err });
        typed++;
      }
      expect(performance.now() - roundStart, `round ${rounds} took too long`).toBeLessThan(10_000);
      rounds++;
    }
    await base.close();
    expect(rounds).toBeGreaterThan(10);
    expect(typed).toBeGreaterThan(0);
  });

  it("hostile arguments are refused with typed errors; the filesystem stays clean and as it was", async () => {
    const image = join(work, "hostile.img");
    run("mke2fs", ["-q", "-F", "-t", "ext4", "-d", cachedTree(TREE), image, "64M"]);
    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await extDriver.open(device, { writable: true });
    const before = await walkFilesystem(fs);
    const cases: Array<[string, () => Promise<unknown>]> = [
      ["INSPECT_NOT_FOUND", () => fs.writeFile("relative/path", Buffer.from("x"))],
      ["INSPECT_INVALID_NAME", () => fs.writeFile("/many/../escape", Buffer.from("x"))],
      ["INSPECT_INVALID_NAME", () => fs.mkdir("/nul\0name")],
      ["INSPECT_INVALID_NAME", () => fs.writeFile(`/${"n".repeat(256)}`, Buffer.from("x"))],
      ["INSPECT_INVALID_NAME", () => fs.writeFile(`/${"é".repeat(128)}`, Buffer.from("x"))],
      ["INSPECT_INVALID_NAME", () => fs.symlink("", "/empty-target")],
      ["INSPECT_INVALID_NAME", () => fs.symlink("t\0t", "/nul-target")],
      ["INSPECT_INVALID_NAME", () => fs.symlink("x".repeat(5000), "/long-target")],
      ["INSPECT_NOT_A_DIRECTORY", () => fs.writeFile("/fast-link/below", Buffer.from("x"))],
      ["INSPECT_NOT_A_DIRECTORY", () => fs.writeFile("/loop-a/x", Buffer.from("x"))],
      ["INSPECT_NOT_A_DIRECTORY", () => fs.writeFile("/empty/x", Buffer.from("x"))],
      ["INSPECT_EXISTS", () => fs.writeFile("/fast-link", Buffer.from("x"))],
      ["INSPECT_EXISTS", () => fs.writeFile("/fifo", Buffer.from("x"))],
      ["INSPECT_EXISTS", () => fs.mkdir("/")],
      ["INSPECT_IS_A_DIRECTORY", () => fs.writeFile("/many", Buffer.from("x"))],
      ["INSPECT_IS_A_DIRECTORY", () => fs.unlink("/")],
      ["INSPECT_INVALID", () => fs.rmdir("/")],
      ["INSPECT_INVALID", () => fs.rename("/", "/elsewhere")],
      ["INSPECT_INVALID", () => fs.rename("/many", "/many/inside")],
      ["INSPECT_NOT_EMPTY", () => fs.rename("/sticky", "/many")],
      ["INSPECT_NOT_A_DIRECTORY", () => fs.rename("/sticky", "/empty")],
      ["INSPECT_IS_A_DIRECTORY", () => fs.rename("/empty", "/sticky")],
      ["INSPECT_INVALID", () => fs.truncate("/empty", -1)],
      ["INSPECT_INVALID", () => fs.truncate("/empty", 1.5)],
      ["INSPECT_TOO_LARGE", () => fs.truncate("/empty", 2 ** 52)],
      ["INSPECT_INVALID", () => fs.truncate("/fifo", 10)],
      ["INSPECT_INVALID", () => fs.mknod("/bad-dev", "chardev", { rdevMajor: 5000, rdevMinor: 1 })],
      ["INSPECT_INVALID", () => fs.chown("/empty", -1, 0)],
      ["INSPECT_INVALID", () => fs.chown("/empty", 2 ** 32, 0)],
      ["INSPECT_INVALID", () => fs.link("/many", "/many-link")],
      ["INSPECT_INVALID", () => fs.writeFile("/not-bytes", (async function* () { yield "text" as unknown as Uint8Array; })())],
      ["INSPECT_NO_SPACE", () => fs.writeFile("/too-big", (async function* () { for (let i = 0; i < 100; i++) yield Buffer.alloc(1 << 20); })())],
    ];
    for (const [code, call] of cases) {
      await expect(call(), code).rejects.toSatisfy((err: unknown) => err instanceof InspectError && err.code === code);
    }
    // A truncate far past the end of the device makes a sparse file, as on Linux.
    await fs.truncate("/empty", 2 ** 40);
    expect((await fs.lstat("/empty")).size).toBe(2 ** 40);
    await fs.truncate("/empty", 0);
    expect(await walkFilesystem(fs)).toEqual(before);
    await fs.close();
    await device.close();
    e2fsckClean(image);
  });
});
