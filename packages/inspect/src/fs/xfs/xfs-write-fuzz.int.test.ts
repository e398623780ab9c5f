// Seeded fuzzing of the XFS writer: metadata bytes of a real image (found by a clean walk) are
// mutated, and a short run of writes goes to the mutated copy. Every call must end in a result or
// an InspectError — no other exception, no hang — each round in bounded time.
import { writeFileSync, readFileSync } from "node:fs";
import { checkRange, type BlockDevice } from "@leapp/storage";
import { describe, expect, it } from "vitest";
import { InspectError } from "../../errors.js";
import { fileDevice, patchedDevice, run } from "../../block/volumes-test-support.js";
import { seededRandom } from "@leapp/zoo";
import { cachedImage, cachedTree, protofile, walkFilesystem } from "../conformance.js";
import { openXfs, xfsDriver } from "./xfs.js";

/** A writable device over bytes in memory. */
function writableMemory(bytes: Uint8Array): BlockDevice {
  return {
    format: "raw",
    size: bytes.length,
    writable: true,
    async read(buffer, position) {
      checkRange(bytes.length, position, buffer.length);
      buffer.set(bytes.subarray(position, position + buffer.length));
    },
    async *extents(start = 0, length = bytes.length - start) {
      yield { offset: start, length, kind: "data" as const };
    },
    async write(data, position) {
      checkRange(bytes.length, position, data.length);
      bytes.set(data, position);
    },
    async flush() {},
    async close() {},
  };
}

describe("the XFS writer under mutated metadata", () => {
  it("every write into a mutated image ends in a result or an InspectError", async () => {
    const tree = cachedTree({ seed: 99, manyEntries: 600 });
    const image = cachedImage({ fuzz: "xfs-write", tree: 99 }, (path) => {
      writeFileSync(`${path}.proto`, protofile(tree));
      run("truncate", ["-s", "64M", path]);
      run("env", ["TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1", "mkfs.xfs", "-q", "-f", "-m", "rmapbt=1", "-p", `${path}.proto`, path]);
    });
    const pristine = readFileSync(image);
    // A clean walk records which byte ranges are metadata.
    const regions: Array<{ position: number; length: number }> = [];
    const recorder = await openXfs(patchedDevice(fileDevice(image), new Map(), (position, length) => {
      if (length <= 65536) regions.push({ position, length });
    }));
    await walkFilesystem(recorder);
    expect(regions.length).toBeGreaterThan(50);

    const random = seededRandom(Number(process.env.FUZZ_SEED ?? 5));
    const started = performance.now();
    let rounds = 0;
    let typed = 0;
    const outcome = async (call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (err) {
        if (!(err instanceof InspectError)) throw new Error(`round ${rounds}: ${String(err)}`, { cause: err });
        typed++;
      }
    };
    while (performance.now() - started < Number(process.env.FUZZ_MS ?? 6000)) {
      const bytes = Uint8Array.from(pristine);
      for (let k = 0; k < 1 + Math.floor(random() * 8); k++) {
        const region = regions[Math.floor(random() * regions.length)]!;
        bytes[region.position + Math.floor(random() * region.length)] = random() < 0.3 ? 0xff : Math.floor(random() * 256);
      }
      const roundStart = performance.now();
      await outcome(async () => {
        const fs = await xfsDriver.open(writableMemory(bytes), { writable: true });
        const names = await fs.readdir("/").catch(() => [] as string[]);
        const pick = () => `/${names[Math.floor(random() * names.length)] ?? "x"}`;
        for (let op = 0; op < 12; op++) {
          const roll = random();
          await outcome(() =>
            roll < 0.25 ? fs.writeFile(`/new-${op}`, Buffer.alloc(Math.floor(random() * 200_000), op))
            : roll < 0.4 ? fs.mkdir(`${pick()}/sub-${op}`)
            : roll < 0.55 ? fs.unlink(`${pick()}`)
            : roll < 0.65 ? fs.rename(pick(), `/renamed-${op}`)
            : roll < 0.75 ? fs.setxattr(pick(), "user.fuzz", Buffer.alloc(100, op))
            : roll < 0.85 ? fs.truncate(pick(), Math.floor(random() * 100_000))
            : fs.writeFile(`${pick()}/in-${op}`, Buffer.from("x")),
          );
        }
        await outcome(() => fs.flush());
        await outcome(() => fs.close());
      });
      expect(performance.now() - roundStart, `round ${rounds} took too long`).toBeLessThan(10_000);
      rounds++;
    }
    if (process.env.FUZZ_SEED) console.log(`rounds ${rounds}, typed ${typed}`);
    expect(rounds).toBeGreaterThan(5);
    expect(typed).toBeGreaterThan(0);
  });
});

describe("the XFS attribute reader under mutated metadata", () => {
  it("every read of attributes (short-form, leaf, node, remote) from a mutated image ends in a result or an InspectError", async () => {
    const image = cachedImage({ fuzz: "xfs-attrs", version: 2 }, (path) => {
      run("truncate", ["-s", "64M", path]);
      run("env", ["TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1", "mkfs.xfs", "-q", "-f", path]);
      const mountpoint = `${path}.mnt`;
      run("mkdir", ["-p", mountpoint]);
      run("mount", ["-o", "loop", path, mountpoint]);
      try {
        // One setfattr --restore of a getfattr-style dump sets them all.
        const dump: string[] = [];
        for (const [name, count] of Object.entries({ short: 2, leaf: 12, node: 300 })) {
          writeFileSync(`${mountpoint}/${name}`, name);
          dump.push(`# file: ${mountpoint}/${name}`, ...Array.from({ length: count }, (_, i) => `user.attribute-${i}=0x${Buffer.alloc(24, i).toString("hex")}`), "");
        }
        writeFileSync(`${mountpoint}/remote`, "remote");
        dump.push(`# file: ${mountpoint}/remote`, `trusted.big=0x${Buffer.alloc(9000, 0x61).toString("hex")}`, "");
        writeFileSync(`${path}.attrs`, dump.join("\n"));
        run("setfattr", [`--restore=${path}.attrs`]);
      } finally {
        run("umount", [mountpoint]);
      }
    });
    const names = ["/short", "/leaf", "/node", "/remote"];
    const regions: Array<{ position: number; length: number }> = [];
    const clean = await openXfs(patchedDevice(fileDevice(image), new Map(), (position, length) => {
      if (length <= 65536) regions.push({ position, length });
    }));
    for (const name of names) expect((await clean.xattrs(name)).size).toBeGreaterThan(0);
    const base = fileDevice(image);
    const random = seededRandom(11);
    const started = performance.now();
    let rounds = 0;
    let typed = 0;
    while (performance.now() - started < 3000) {
      const patches = new Map<number, number>();
      for (let k = 0; k < 1 + Math.floor(random() * 8); k++) {
        const region = regions[Math.floor(random() * regions.length)]!;
        patches.set(region.position + Math.floor(random() * region.length), random() < 0.3 ? 0xff : Math.floor(random() * 256));
      }
      const roundStart = performance.now();
      try {
        const fs = await openXfs(patchedDevice(base, patches));
        for (const name of names) {
          try {
            await fs.xattrs(name);
          } catch (err) {
            if (!(err instanceof InspectError)) throw err;
            typed++;
          }
        }
      } catch (err) {
        if (!(err instanceof InspectError)) throw new Error(`round ${rounds}: ${String(err)}`, { cause: err });
        typed++;
      }
      expect(performance.now() - roundStart, `round ${rounds} took too long`).toBeLessThan(5000);
      rounds++;
    }
    expect(rounds).toBeGreaterThan(10);
    expect(typed).toBeGreaterThan(0);
    await base.close();
  });
});
