import { describe, expect, it } from "vitest";
import { InspectError } from "../../errors.js";
import { seededRandom } from "@leapp/zoo";
import { blockEntries } from "./directory.js";
import { aclFromDisk, aclToDisk, fullName, parseEntries, spaceNeeded, splitName, writeEntries, type XattrEntry } from "./xattr.js";

const text = (s: string) => new TextEncoder().encode(s);

describe("ext extended attributes", () => {
  it("lays entries out and parses them back, values packed from the end", () => {
    const entries: XattrEntry[] = [
      { index: 1, name: text("note"), value: text("hello") },
      { index: 6, name: text("selinux"), value: text("system_u:object_r:etc_t:s0\0") },
      { index: 4, name: text("empty"), value: new Uint8Array(0) },
    ];
    const region = new Uint8Array(256);
    writeEntries(region, 32, 0, 256, entries, true);
    const back = parseEntries(region, 32, 0, 256, "test");
    expect(back.map((e) => [fullName(e), new TextDecoder().decode(e.value)])).toEqual([
      ["user.note", "hello"],
      ["security.selinux", "system_u:object_r:etc_t:s0\0"],
      ["trusted.empty", ""],
    ]);
    expect(spaceNeeded(entries)).toBe(4 + (20 + 8) + (24 + 28) + (24 + 0));
  });

  it("splits names into ext's namespaces and refuses what ext cannot hold", () => {
    expect(splitName("user.a", "/f")).toEqual({ index: 1, name: text("a") });
    expect(splitName("system.posix_acl_default", "/f")).toEqual({ index: 3, name: new Uint8Array(0) });
    for (const [name, code] of [
      ["user.", "INSPECT_INVALID_NAME"],
      [`user.${"x".repeat(256)}`, "INSPECT_INVALID_NAME"],
      ["system.data", "INSPECT_UNSUPPORTED"],
      ["os2.thing", "INSPECT_UNSUPPORTED"],
    ] as const) {
      expect(() => splitName(name, "/f"), name).toThrow(expect.objectContaining({ code }));
    }
  });

  it("converts POSIX ACLs between the kernel's xattr form and ext4's short on-disk form", () => {
    // user::rw-, user:1000:rw-, group::r--, group:100:r--, mask::rw-, other::r--
    const entries: Array<[number, number, number]> = [[1, 6, 0xffffffff], [2, 6, 1000], [4, 4, 0xffffffff], [8, 4, 100], [0x10, 6, 0xffffffff], [0x20, 4, 0xffffffff]];
    const xattr = new Uint8Array(4 + entries.length * 8);
    const dv = new DataView(xattr.buffer);
    dv.setUint32(0, 2, true);
    entries.forEach(([tag, perm, id], i) => {
      dv.setUint16(4 + i * 8, tag, true);
      dv.setUint16(6 + i * 8, perm, true);
      dv.setUint32(8 + i * 8, id, true);
    });
    const disk = aclToDisk(xattr, "/f");
    expect(disk.length).toBe(4 + 4 * 4 + 2 * 8);
    expect(aclFromDisk(disk, "/f")).toEqual(xattr);
    expect(() => aclToDisk(xattr.subarray(0, 7), "/f")).toThrow(expect.objectContaining({ code: "INSPECT_INVALID" }));
  });

  it("parsers of attribute regions, ACLs and directory blocks end in values or InspectErrors on random bytes", () => {
    const random = seededRandom(5);
    let typed = 0;
    for (let round = 0; round < 3000; round++) {
      const bytes = Uint8Array.from({ length: 16 + Math.floor(random() * 300) }, () => (random() < 0.5 ? 0 : Math.floor(random() * 256)));
      for (const parse of [
        () => parseEntries(bytes, 0, 0, bytes.length, "fuzz"),
        () => aclFromDisk(bytes, "fuzz"),
        () => [...blockEntries(bytes, bytes.length & ~3, random() < 0.5, 12)],
      ]) {
        try {
          parse();
        } catch (err) {
          if (!(err instanceof InspectError)) throw err;
          typed++;
        }
      }
    }
    expect(typed).toBeGreaterThan(1000);
  });
});
