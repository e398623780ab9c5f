import { describe, expect, it } from "vitest";
import { crc32c, vhdxDriver } from "./vhdx.js";

describe("vhdx", () => {
  it("computes CRC-32C (Castagnoli) as the VHDX checksums need", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    // The checksum field itself counts as zero.
    const withField = new Uint8Array(32).fill(0);
    withField.set([1, 2, 3, 4], 4);
    expect(crc32c(withField, 4)).toBe(0x8a9136aa);
  });

  it("probes by the file identifier", () => {
    const head = new Uint8Array(64 * 1024);
    head.set(new TextEncoder().encode("vhdxfile"));
    expect(vhdxDriver.probe(head, head, 4 << 20)).toBe(true);
    expect(vhdxDriver.probe(head.subarray(8), head, 4 << 20)).toBe(false);
  });
});
