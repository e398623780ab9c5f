// The tar writer read back by tar-stream, an independent reader in pure Node, and fuzzed (seeded
// fast-check) with random names, sizes, owners, times and xattrs: every entry either comes back
// exactly as written or is refused with a PackagerError before a byte of it is written.
import fc from "fast-check";
import { Readable } from "node:stream";
import { extract, type Header } from "tar-stream";
import { describe, expect, it } from "vitest";
import { PackagerError } from "../errors.js";
import { BLOCK, encodeEntryHeader, entrySize, simpleHeader, type TarEntry } from "./header.js";
import { TarWriter } from "./writer.js";

async function write(entries: { entry: TarEntry; content?: Uint8Array }[], chunkSize?: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const writer = new TarWriter(async (c) => {
    chunks.push(c);
  }, chunkSize ? { chunkSize } : {});
  for (const { entry, content } of entries) await writer.add(entry, content);
  await writer.end();
  return Buffer.concat(chunks);
}

async function readBack(archive: Buffer): Promise<{ header: Header; data: Buffer }[]> {
  const out: { header: Header; data: Buffer }[] = [];
  const ex = extract();
  ex.on("entry", (header, stream, next) => {
    const parts: Buffer[] = [];
    stream.on("data", (d: unknown) => parts.push(d as Buffer));
    stream.on("end", () => {
      out.push({ header, data: Buffer.concat(parts) });
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  Readable.from([archive]).pipe(ex);
  await done;
  return out;
}

const t0 = 1_700_000_000_123_456_789n;

describe("tar header", () => {
  it("writes ustar blocks with a valid checksum and no extended header when none is needed", () => {
    const h = encodeEntryHeader({ path: "etc/hostname", type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000n * 1_000_000_000n, size: 6 });
    expect(h.length).toBe(BLOCK);
    const sum = [...h].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 0x20 : b), 0);
    expect(parseInt(Buffer.from(h.subarray(148, 154)).toString(), 8)).toBe(sum);
    expect(Buffer.from(h.subarray(257, 263)).toString("latin1")).toBe("ustar\0");
  });

  it("writes every octal field exactly, up to the largest each holds, with the checksum of the whole block", () => {
    const octal = (h: Uint8Array, at: number, width: number) => Buffer.from(h.subarray(at, at + width - 1)).toString("latin1");
    for (const [size, seconds, id, mode] of [[0, 0, 0, 0], [0o77777777777, 0o77777777777, 0o7777777, 0o7777], [2 ** 31, 2 ** 31 - 1, 2 ** 21 - 1, 0o755], [123_456_789_012 % 0o77777777777, 1_700_000_000, 65534, 0o4711]] as const) {
      const h = encodeEntryHeader({ path: "big", type: "file", mode, uid: id, gid: id, mtimeNs: BigInt(seconds) * 1_000_000_000n, size });
      expect(h.length).toBe(BLOCK);
      expect(octal(h, 124, 12)).toBe(size.toString(8).padStart(11, "0"));
      expect(octal(h, 136, 12)).toBe(seconds.toString(8).padStart(11, "0"));
      expect(octal(h, 108, 8)).toBe(id.toString(8).padStart(7, "0"));
      expect(octal(h, 100, 8)).toBe(mode.toString(8).padStart(7, "0"));
      const sum = [...h].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 0x20 : b), 0);
      expect(octal(h, 148, 7)).toBe(sum.toString(8).padStart(6, "0"));
    }
  });

  it("adds a pax header for what ustar cannot hold", () => {
    const h = encodeEntryHeader({ path: "x".repeat(300), type: "file", mode: 0o644, uid: 3_000_000, gid: 1, mtimeNs: t0, size: 1, xattrs: new Map([["user.a", new Uint8Array([0, 255])]]) });
    const pax = Buffer.from(h.subarray(BLOCK, h.length - BLOCK)).toString("latin1");
    expect(h[156]).toBe(0x78);
    expect(pax).toContain(` path=${"x".repeat(300)}\n`);
    expect(pax).toContain(" uid=3000000\n");
    expect(pax).toContain(" mtime=1700000000.123456789\n");
    expect(pax).toContain(" SCHILY.xattr.user.a=\u0000\u00ff\n");
  });

  it("refuses entries that would make a broken archive", () => {
    const base: TarEntry = { path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, size: 0 };
    const bad: Partial<TarEntry>[] = [
      { path: "" },
      { path: "/etc/passwd" },
      { path: "a/../b" },
      { path: "a\0b" },
      { path: "a/".repeat(3000) + "b" },
      { mode: 0o10000 },
      { uid: -1 },
      { size: -1 },
      { size: 2 ** 60 },
      { type: "symlink", linkTarget: "" },
      { type: "chardev", rdevMajor: 5000 },
      { dataRanges: [{ offset: 5, length: 10 }] },
      { xattrs: new Map([["a=b", new Uint8Array(1)]]) },
      { xattrs: new Map([["user.big", new Uint8Array(70_000)]]) },
    ];
    for (const b of bad) expect(() => encodeEntryHeader({ ...base, ...b } as TarEntry), JSON.stringify(b)).toThrow(PackagerError);
  });

  it("writes sizes beyond 8 GiB in base-256 in simple headers", () => {
    const h = simpleHeader("blobs/sha256/x", "file", 10 * 2 ** 30, 0);
    expect(h[124]).toBe(0x80);
    expect(Buffer.from(h.subarray(128, 136)).readBigUInt64BE()).toBe(10n * 2n ** 30n);
  });
});

describe("tar writer read back by tar-stream", () => {
  it("round-trips every kind of entry", async () => {
    const content = new Uint8Array(70_000).map((_, i) => i % 251);
    const entries: { entry: TarEntry; content?: Uint8Array }[] = [
      { entry: { path: "etc", type: "directory", mode: 0o755, uid: 0, gid: 0, mtimeNs: t0 } },
      { entry: { path: "etc/data", type: "file", mode: 0o4755, uid: 1000, gid: 100, mtimeNs: t0, size: content.length }, content },
      { entry: { path: "etc/link", type: "hardlink", mode: 0o644, uid: 0, gid: 0, mtimeNs: t0, linkTarget: "etc/data" } },
      { entry: { path: "etc/sym", type: "symlink", mode: 0o777, uid: 0, gid: 0, mtimeNs: t0, linkTarget: "/" + "t".repeat(200) } },
      { entry: { path: "dev/null", type: "chardev", mode: 0o666, uid: 0, gid: 0, mtimeNs: t0, rdevMajor: 1, rdevMinor: 3 } },
      { entry: { path: "run/fifo", type: "fifo", mode: 0o600, uid: 0, gid: 0, mtimeNs: t0 } },
      { entry: { path: "srv/häuser €", type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: -1_500_000_000n, size: 3 }, content: new Uint8Array([1, 2, 3]) },
    ];
    const archive = await write(entries, 8192);
    expect(archive.length).toBe(entries.reduce((n, e) => n + entrySize(e.entry), 1024));
    const back = await readBack(archive);
    expect(back.map((b) => [b.header.name, b.header.type])).toEqual([
      ["etc/", "directory"],
      ["etc/data", "file"],
      ["etc/link", "link"],
      ["etc/sym", "symlink"],
      ["dev/null", "character-device"],
      ["run/fifo", "fifo"],
      ["srv/häuser €", "file"],
    ]);
    expect(back[1]!.data.equals(Buffer.from(content))).toBe(true);
    expect(back[1]!.header.mode).toBe(0o4755);
    expect(back[2]!.header.linkname).toBe("etc/data");
    expect(back[3]!.header.linkname).toBe("/" + "t".repeat(200));
    expect([back[4]!.header.devmajor, back[4]!.header.devminor]).toEqual([1, 3]);
    expect(back[6]!.data).toEqual(Buffer.from([1, 2, 3]));
  });

  it("pads a file that turns out shorter than its entry, and says so", async () => {
    const shortfalls: number[] = [];
    const chunks: Uint8Array[] = [];
    const writer = new TarWriter(async (c) => void chunks.push(c), { onShortContent: (s) => shortfalls.push(s.got) });
    const source = { read: async (b: Uint8Array, pos: number) => (pos >= 10 ? 0 : (b.fill(7, 0, Math.min(b.length, 10 - pos)), Math.min(b.length, 10 - pos))) };
    await writer.add({ path: "f", type: "file", mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, size: 5000 }, source);
    await writer.end();
    const back = await readBack(Buffer.concat(chunks));
    expect(shortfalls).toEqual([10]);
    expect(back[0]!.data.length).toBe(5000);
    expect(back[0]!.data.subarray(0, 10).every((b) => b === 7) && back[0]!.data.subarray(10).every((b) => b === 0)).toBe(true);
  });

  it("fuzz: random entries round-trip or are refused with a PackagerError (seeded)", async () => {
    const name = fc.stringMatching(/^[a-zA-Z0-9._ \u00e4\u20ac-]{1,40}$/).filter((c) => c !== "." && c !== "..");
    const entry = fc.record({
      parts: fc.array(name, { minLength: 1, maxLength: 12 }),
      size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 511, max: 513 })),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      uid: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 2_097_150, max: 4_294_967_295 })),
      mtimeNs: fc.bigInt({ min: -(10n ** 18n), max: 10n ** 19n }),
      xattr: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (specs) => {
        const entries = specs.map((s, i) => {
          const e: TarEntry = { path: `${i}/${s.parts.join("/")}`, type: "file", mode: s.mode, uid: s.uid, gid: s.uid, mtimeNs: s.mtimeNs, size: s.size };
          if (s.xattr) e.xattrs = new Map([["user.fuzz", s.xattr]]);
          return { entry: e, content: new Uint8Array(s.size).fill(i + 1) };
        });
        let archive: Buffer;
        try {
          archive = await write(entries);
        } catch (err) {
          expect(err).toBeInstanceOf(PackagerError);
          return;
        }
        const back = await readBack(archive);
        expect(back.length).toBe(entries.length);
        for (const [i, b] of back.entries()) {
          const e = entries[i]!.entry;
          expect(b.header.name).toBe(e.path);
          expect(b.header.size).toBe(e.size);
          expect(b.header.mode).toBe(e.mode);
          // tar-stream leaves pax uid records in header.pax rather than applying them.
          expect(Number((b.header.pax as Record<string, string> | undefined)?.uid ?? b.header.uid)).toBe(e.uid);
          expect(b.data.equals(Buffer.from(entries[i]!.content))).toBe(true);
          if (e.xattrs) expect(b.header.pax).toHaveProperty(["SCHILY.xattr.user.fuzz"]);
        }
      }),
      { seed: 42, numRuns: 150 },
    );
  });
});
