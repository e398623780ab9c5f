// Guests are hostile: an initramfs, a cpio archive or a kmod index with lying lengths, offsets or
// counts must give a GuestOSError (or a result), never another exception, a hang or a huge
// allocation. Seeded fast-check runs, bounded in number; writers round-trip through the readers.
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GuestOSError } from "../errors.js";
import { readInitramfs } from "./archive.js";
import { readCpio, writeCpio, type CpioInput } from "./cpio.js";
import { readKmodIndex, writeKmodIndex } from "./kmod-index.js";
import { dependencyClosure, parseModuleDb } from "./modules.js";

const sample: CpioInput[] = [
  { name: "usr", type: "directory" },
  { name: "usr/lib", type: "directory" },
  { name: "lib", type: "symlink", data: "usr/lib" },
  { name: "usr/lib/modules/6.1.0-1-amd64/modules.dep", type: "file", data: "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\n" },
  { name: "init", type: "file", data: "#!/bin/sh\n", mode: 0o755 },
];
const plain = writeCpio(sample);
const gz = gzipSync(writeCpio(sample));
const image = Buffer.concat([gz, Buffer.alloc(4 + ((4 - (gz.length % 4)) % 4)), plain]);

async function expectTyped(f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (err) {
    if (!(err instanceof GuestOSError)) throw err;
  }
}

describe("initramfs parsers under fuzzing", () => {
  it("writeCpio and readCpio round-trip any names, types and contents", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.stringMatching(/^[a-z0-9_][a-z0-9._-]{0,19}(\/[a-z0-9_][a-z0-9._-]{0,19}){0,3}$/), type: fc.constantFrom("file" as const, "directory" as const, "symlink" as const), data: fc.uint8Array({ maxLength: 300 }), mode: fc.integer({ min: 0, max: 0o7777 }) }), { maxLength: 20 }),
        (inputs) => {
          const entries = inputs.map((i) => ({ ...i, data: i.type === "symlink" && i.data.length === 0 ? new Uint8Array([120]) : i.data }));
          const { entries: back, end } = readCpio(writeCpio(entries));
          expect(end % 4).toBe(0);
          expect(back.map((e) => [e.name, e.type, e.mode])).toEqual(entries.map((e) => [e.name, e.type, e.mode]));
          back.forEach((e, i) => expect(Buffer.from(e.data).equals(Buffer.from(entries[i]!.type === "directory" ? new Uint8Array(0) : entries[i]!.data))).toBe(true));
        },
      ),
      { seed: 20261206, numRuns: 200 },
    );
  });

  it("readInitramfs on mutated and cut images: a result or a GuestOSError", async () => {
    expect((await readInitramfs(image)).segments.map((s) => s.compression)).toEqual(["gzip", "none"]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(image.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(image.length), async (flips, cut) => {
        const bad = Buffer.from(image.subarray(0, Math.max(1, cut)));
        for (const [at, v] of flips) if (at < bad.length) bad[at] = v;
        await expectTyped(() => readInitramfs(bad));
      }),
      { seed: 7, numRuns: 400 },
    );
  });

  it("lying cpio headers (sizes, name lengths, non-hex digits) are typed errors", async () => {
    const fields = [6 + 6 * 8, 6 + 11 * 8];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), fc.stringMatching(/^[0-9A-Fa-fXZ]{8}$/), async (at, value) => {
        const bad = Buffer.from(plain);
        bad.write(value, at, "latin1");
        await expectTyped(() => readCpio(bad));
      }),
      { seed: 11, numRuns: 300 },
    );
    // A zstd frame that claims a huge content size is refused before anything is allocated.
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00]);
    await expect(readInitramfs(zstd)).rejects.toBeInstanceOf(GuestOSError);
  });

  it("kmod indexes round-trip, and corrupt ones are typed errors", async () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.stringMatching(/^[a-z0-9_:*?-]{1,24}$/), fc.stringMatching(/^[a-z0-9_/. :-]{0,40}$/), fc.nat(1000)), { maxLength: 60 }), (entries) => {
        const idx = readKmodIndex(writeKmodIndex(entries.map(([key, value, priority]) => ({ key, value, priority }))));
        for (const [key, value] of entries) expect(idx.get(key)?.map((v) => v.value)).toContain(value);
        expect(idx.size).toBe(new Set(entries.map(([k]) => k)).size);
      }),
      { seed: 3, numRuns: 200 },
    );
    const good = writeKmodIndex([{ key: "virtio_blk", value: "kernel/virtio_blk.ko:", priority: 1 }, { key: "virtio_net", value: "kernel/virtio_net.ko:", priority: 2 }]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), async (flips) => {
        const bad = Buffer.from(good);
        for (const [at, v] of flips) bad[at] = v;
        await expectTyped(() => readKmodIndex(bad));
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it("modules.dep with cycles, absolute paths and junk lines still closes", () => {
    const db = parseModuleDb("2.6.18-1.el5", { dep: "/lib/modules/2.6.18-1.el5/kernel/a.ko: /lib/modules/2.6.18-1.el5/kernel/b.ko\nkernel/b.ko: kernel/a.ko\n:::\nnot a line\n" });
    expect(db.modules.get("a")?.path).toBe("kernel/a.ko");
    expect(dependencyClosure(db, ["a"]).map((m) => m.name)).toEqual(["b", "a"]);
  });
});
