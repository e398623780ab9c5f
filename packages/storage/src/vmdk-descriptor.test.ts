import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StorageError } from "./errors.js";
import { looksLikeDescriptor, MAX_EXTENTS, parseDescriptor } from "./vmdk-descriptor.js";

// As qemu-img writes a twoGbMaxExtentFlat descriptor, with a few hand-made extent lines added.
const DESCRIPTOR = `# Disk DescriptorFile
version=1
CID=86c95cd1
parentCID=ffffffff
createType="twoGbMaxExtentFlat"

# Extent description
RW 4192256 FLAT "disk-f001.vmdk" 0
RDONLY 2048 SPARSE "disk with spaces-s002.vmdk"
RW 100 ZERO
RW 8 VMFS "raw.bin" 16

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "4"
ddb.adapterType = "ide"
`;

const bytes = (text: string) => new TextEncoder().encode(text);

describe("parseDescriptor", () => {
  it("reads the create type and every extent line", () => {
    const parsed = parseDescriptor(DESCRIPTOR, "disk.vmdk");
    expect(parsed.createType).toBe("twoGbMaxExtentFlat");
    expect(parsed.parentCid).toBe("ffffffff");
    expect(parsed.parentFileNameHint).toBeUndefined();
    expect(parsed.extents).toEqual([
      { access: "RW", sectors: 4192256, type: "FLAT", file: "disk-f001.vmdk", offsetSectors: 0 },
      { access: "RDONLY", sectors: 2048, type: "SPARSE", file: "disk with spaces-s002.vmdk", offsetSectors: 0 },
      { access: "RW", sectors: 100, type: "ZERO", offsetSectors: 0 },
      { access: "RW", sectors: 8, type: "VMFS", file: "raw.bin", offsetSectors: 16 },
    ]);
  });

  it("reads a delta disk's parent hint, CRLF line ends, and stops at the NUL padding of an embedded descriptor", () => {
    const text = 'version=1\r\nparentCID=6abd0538\r\nparentFileNameHint="base.vmdk"\r\nRW 20480 SPARSE "delta.vmdk"\r\n\0\0\0RW 1 ZERO';
    const parsed = parseDescriptor(text, "delta.vmdk");
    expect(parsed.parentFileNameHint).toBe("base.vmdk");
    expect(parsed.parentCid).toBe("6abd0538");
    expect(parsed.extents).toHaveLength(1);
  });

  it("refuses unknown extent types, extents without a file, absurd sizes and endless extent lists", () => {
    const code = (text: string) => {
      try {
        parseDescriptor(text, "x.vmdk");
        return "none";
      } catch (error) {
        return (error as StorageError).code;
      }
    };
    expect(code('version=1\nRW 8 TAPE "x"\n')).toBe("STORAGE_UNSUPPORTED");
    expect(code("version=1\nRW 8 FLAT\n")).toBe("STORAGE_CORRUPT");
    expect(code(`version=1\nRW ${"9".repeat(30)} ZERO\n`)).toBe("STORAGE_CORRUPT");
    expect(code("version=1\n" + "RW 1 ZERO\n".repeat(MAX_EXTENTS + 1))).toBe("STORAGE_CORRUPT");
    expect(code("version=1\n" + "#".repeat(2 * 1024 * 1024))).toBe("STORAGE_CORRUPT");
  });

  it("never throws anything but a StorageError on arbitrary text (fast-check)", () => {
    const line = fc.oneof(
      fc.string(),
      fc.constantFrom("RW", "RDONLY", "NOACCESS").chain((a) =>
        fc.tuple(fc.nat(), fc.constantFrom("FLAT", "SPARSE", "ZERO", "VMFS", "ODD"), fc.string(), fc.nat()).map(([n, t, f, o]) => `${a} ${n} ${t} "${f}" ${o}`),
      ),
      fc.string().map((v) => `parentFileNameHint="${v}"`),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
        try {
          const parsed = parseDescriptor(lines.join("\n"), "fuzz.vmdk");
          for (const e of parsed.extents) expect(Number.isSafeInteger(e.sectors * 512)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(StorageError);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe("looksLikeDescriptor", () => {
  it("accepts a version line after comments and blank lines, and nothing else", () => {
    expect(looksLikeDescriptor(bytes(DESCRIPTOR))).toBe(true);
    expect(looksLikeDescriptor(bytes("\n\n# x\nversion=3\n"))).toBe(true);
    expect(looksLikeDescriptor(bytes("CID=1\nversion=1\n"))).toBe(false);
    expect(looksLikeDescriptor(bytes("version=4\n"))).toBe(false);
    expect(looksLikeDescriptor(new Uint8Array(4096))).toBe(false);
    expect(looksLikeDescriptor(new Uint8Array(0))).toBe(false);
  });
});
