// What a live host prints is as hostile as a disk: `find -printf` listings and `getfattr` dumps,
// real-shaped and then mutated (seeded), must parse into bounded, well-typed results — never throw.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseFindListing, parseGetfattr } from "./ssh-guest.js";

const record = fc.tuple(
  fc.constantFrom("f", "d", "l", "c", "b", "p", "s", "D", "?"),
  fc.oneof(fc.integer({ min: 0, max: 0o7777 }).map((m) => m.toString(8)), fc.string({ maxLength: 8 })),
  fc.oneof(fc.nat().map(String), fc.string({ maxLength: 30 })),
  fc.oneof(fc.constant("1700000000.123456789"), fc.constant("-5.5"), fc.string({ maxLength: 40 })),
  fc.string({ maxLength: 20 }),
  fc.string({ maxLength: 20 }),
);

function listing(records: [string, string, string, string, string, string][]): string {
  return records.map(([type, mode, num, time, name, target]) => [type, mode, num, num, num, time, time, time, num, num, num, name, target].join("\0") + "\0").join("");
}

describe("parsers of a live host's output", () => {
  it("parseFindListing: typed stats, safe names, whatever find printed", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), fc.nat(), fc.string({ maxLength: 5 }), (records, cut, junk) => {
        const text = listing(records);
        for (const variant of [text, text.slice(0, cut % (text.length + 1)) + junk + text.slice(cut % (text.length + 1))]) {
          const { self, entries, devices } = parseFindListing(variant);
          for (const [name, e] of [...entries, ...(self ? [["", self] as const] : [])]) {
            expect(name.includes("/")).toBe(false);
            for (const n of [e.stat.mode, e.stat.size, e.stat.uid, e.stat.ino, e.stat.nlink]) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
            expect(typeof e.stat.mtimeNs).toBe("bigint");
          }
          for (const d of devices) expect(entries.has(d)).toBe(true);
        }
      }),
      { seed: 11, numRuns: 1000 },
    );
  });

  it("parseFindListing reads a real record exactly", () => {
    const text = ["d", "755", "4096", "0", "0", "1.5", "1700000000.123456789", "1700000001", "2", "64768", "3", "", ""].join("\0") + "\0" + ["l", "777", "7", "10", "20", "0", "0", "0", "9", "64768", "1", "bin", "usr/bin"].join("\0") + "\0";
    const { self, entries } = parseFindListing(text);
    expect(self?.stat).toMatchObject({ type: "directory", mode: 0o755, size: 4096, atimeNs: 1_500_000_000n, mtimeNs: 1_700_000_000_123_456_789n, mtimeMs: 1_700_000_000_123, ctimeNs: 1_700_000_001_000_000_000n, ino: 2, dev: 64768, nlink: 3 });
    expect(entries.get("bin")).toMatchObject({ stat: { type: "symlink", uid: 10, gid: 20, ino: 9 }, target: "usr/bin" });
  });

  it("parseGetfattr: names and values of each entry, escapes decoded, never throwing", () => {
    const dump = "# file: /srv/root/bin/n\\012l\nsecurity.capability=0x0100000200200000\nuser.x=0sAAEC\n\n# file: /srv/root\nuser.top=\"v\"\n\n";
    const parsed = parseGetfattr(dump, "/srv/root");
    expect(parsed.has("bin/n\nl")).toBe(false); // deeper than an entry of /srv/root
    const flat = parseGetfattr("# file: /srv/root/n\\012l\nsecurity.capability=0x0100000200200000\nuser.x=0sAAEC\n", "/srv/root");
    expect([...(flat.get("n\nl") ?? new Map())]).toEqual([
      ["security.capability", new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0])],
      ["user.x", new Uint8Array([0, 1, 2])],
    ]);
    expect(parsed.get("")?.get("user.top")).toEqual(new Uint8Array([0x76]));
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.constantFrom("/", "/srv/root"), (text, base) => {
        const out = parseGetfattr(`# file: ${base}/a\n${text}`, base);
        for (const [name, attrs] of out) {
          expect(name.includes("/")).toBe(false);
          for (const v of attrs.values()) expect(v).toBeInstanceOf(Uint8Array);
        }
      }),
      { seed: 12, numRuns: 2000 },
    );
  });
});
