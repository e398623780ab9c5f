import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ZooError } from "./errors.js";
import { splitHeaderStream } from "./rpm-build.js";
import { packagesDumpText } from "./rpmdb-bdb.js";

const magic = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);

function header(indexCount: number, dataLength: number, fill: number): Buffer {
  const counts = Buffer.alloc(8);
  counts.writeUInt32BE(indexCount, 0);
  counts.writeUInt32BE(dataLength, 4);
  return Buffer.concat([magic, counts, Buffer.alloc(indexCount * 16 + dataLength, fill)]);
}

describe("splitHeaderStream", () => {
  it("returns each header without its magic", () => {
    const blobs = splitHeaderStream(Buffer.concat([header(2, 5, 1), header(1, 0, 2)]));
    expect(blobs.map((b) => b.length)).toEqual([8 + 32 + 5, 8 + 16]);
    expect(blobs[1]!.readUInt32BE(0)).toBe(1);
  });

  it("never over-reads or crashes on a mutated stream: a typed error or headers inside the input", () => {
    const good = Buffer.concat([header(3, 40, 7), header(1, 9, 8), header(2, 0, 9)]);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(good.length), (edits, cut) => {
        const mutated = Buffer.from(good.subarray(0, cut));
        for (const [at, value] of edits) if (at < mutated.length) mutated[at] = value;
        try {
          const blobs = splitHeaderStream(mutated);
          expect(blobs.reduce((n, b) => n + b.length + 8, 0)).toBe(mutated.length);
        } catch (err) {
          expect(err).toBeInstanceOf(ZooError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("packagesDumpText", () => {
  it("keys records by little-endian instance number from 1, with the count under key 0", () => {
    const text = packagesDumpText([Buffer.from([0xaa]), Buffer.from([0xbb, 0xcc])]);
    expect(text.split("\n")).toEqual(["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END", " 00000000", " 02000000", " 01000000", " aa", " 02000000", " bbcc", "DATA=END", ""]);
  });
});
