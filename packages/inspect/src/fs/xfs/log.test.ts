import { describe, expect, it } from "vitest";
import { InspectError } from "../../errors.js";
import { overlayLog } from "./log.js";
import { memoryDevice } from "../../block/volumes-test-support.js";

describe("overlayLog", () => {
  it("reads through the replayed patches, later ones winning", async () => {
    const device = overlayLog(memoryDevice(new Uint8Array(16384)), [
      { offset: 4090, bytes: new Uint8Array(12).fill(1) },
      { offset: 4096, bytes: new Uint8Array(2).fill(2) },
    ]);
    const out = new Uint8Array(16);
    await device.read(out, 4088);
    expect([...out]).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0]);
  });

  it("refuses a log item aimed past the filesystem, however far (a fuzzed log once hung it)", () => {
    const base = memoryDevice(new Uint8Array(16384));
    // 2^62 basic blocks: past 2^53 the page loop could not advance.
    for (const offset of [2 ** 62 * 512, 16384, -512]) {
      expect(() => overlayLog(base, [{ offset, bytes: new Uint8Array(128) }])).toThrow(InspectError);
    }
  });
});
