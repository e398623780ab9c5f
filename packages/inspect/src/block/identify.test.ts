import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { extTypeOf, identifyHead } from "./identify.js";
import { diskName, mapperName } from "./volumes.js";
import { crc32, crc32c, guidString, uuidString } from "./volumes-io.js";

describe("identification helpers", () => {
  it("names disks as the kernel does and LVs as device-mapper does", () => {
    expect([0, 1, 25, 26, 27, 701, 702].map(diskName)).toEqual(["/dev/sda", "/dev/sdb", "/dev/sdz", "/dev/sdaa", "/dev/sdab", "/dev/sdzz", "/dev/sdaaa"]);
    expect(mapperName("vg-sys", "lv_root")).toBe("/dev/mapper/vg--sys-lv_root");
  });

  it("computes the standard CRC check values", () => {
    const check = new TextEncoder().encode("123456789");
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32c(check)).toBe(0xe3069283);
  });

  it("formats UUIDs and mixed-endian GPT GUIDs as blkid does", () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    expect(uuidString(bytes)).toBe("01020304-0506-0708-090a-0b0c0d0e0f10");
    expect(guidString(bytes)).toBe("04030201-0605-0807-090a-0b0c0d0e0f10");
    expect(uuidString(new Uint8Array(16))).toBeUndefined();
  });

  it("tells ext2, ext3 and ext4 apart by feature flags as blkid does", () => {
    expect(extTypeOf(0, 0x2, 0x3)).toBe("ext2");
    expect(extTypeOf(0x4, 0x2, 0x3)).toBe("ext3");
    expect(extTypeOf(0x4, 0x2 | 0x40, 0x3)).toBe("ext4");
    expect(extTypeOf(0, 0x2, 0x3 | 0x400)).toBe("ext4");
  });

  it("reads swap and vfat signatures from crafted heads", () => {
    const swap = new Uint8Array(4096);
    swap.set(new TextEncoder().encode("SWAPSPACE2"), 4086);
    swap.set(Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i), 1036);
    swap.set(new TextEncoder().encode("myswap"), 1052);
    expect(identifyHead(swap)).toEqual({ content: "swap", fsType: "swap", uuid: "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf", label: "myswap" });
    const fat = new Uint8Array(512);
    fat.set([0xeb, 0x3c, 0x90]);
    new DataView(fat.buffer).setUint16(11, 512, true);
    fat[13] = 4;
    new DataView(fat.buffer).setUint16(14, 1, true);
    fat[16] = 2;
    new DataView(fat.buffer).setUint32(39, 0x1234abcd, true);
    fat.set(new TextEncoder().encode("BOOT       FAT16   "), 43);
    fat[510] = 0x55;
    fat[511] = 0xaa;
    expect(identifyHead(fat)).toEqual({ content: "filesystem", fsType: "vfat", uuid: "1234-ABCD", label: "BOOT" });
  });

  it("never throws on arbitrary bytes (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 5000 }), (bytes) => {
        identifyHead(bytes);
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
