import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import { readPartitionTable } from "./partitions.js";
import { memoryDevice } from "./volumes-test-support.js";

const SECTOR = 512;

/** Writes an MBR-style entry (status, type, start LBA, sector count) into a sector. */
function entry(disk: Uint8Array, sector: number, index: number, type: number, start: number, count: number): void {
  const at = sector * SECTOR + 446 + index * 16;
  disk[at + 4] = type;
  const dv = new DataView(disk.buffer);
  dv.setUint32(at + 8, start, true);
  dv.setUint32(at + 12, count, true);
  disk[sector * SECTOR + 510] = 0x55;
  disk[sector * SECTOR + 511] = 0xaa;
}

describe("readPartitionTable (in-memory tables)", () => {
  it("walks a chain of logical partitions and numbers them from 5", async () => {
    const disk = new Uint8Array(4096 * SECTOR);
    entry(disk, 0, 0, 0x83, 64, 64);
    entry(disk, 0, 1, 0x05, 1024, 2048);
    entry(disk, 1024, 0, 0x83, 32, 100);
    entry(disk, 1024, 1, 0x05, 512, 200);
    entry(disk, 1024 + 512, 0, 0x82, 32, 100);
    const table = await readPartitionTable(memoryDevice(disk));
    expect(table?.partitions.map((p) => [p.number, p.start / SECTOR, p.size / SECTOR, p.type])).toEqual([
      [1, 64, 64, "83"],
      [5, 1056, 100, "83"],
      [6, 1568, 100, "82"],
    ]);
  });

  it("stops a chain that loops back with a typed error", async () => {
    const disk = new Uint8Array(4096 * SECTOR);
    entry(disk, 0, 0, 0x05, 1024, 2048);
    entry(disk, 1024, 0, 0x83, 32, 100);
    entry(disk, 1024, 1, 0x05, 512, 200);
    entry(disk, 1024 + 512, 0, 0x83, 32, 100);
    entry(disk, 1024 + 512, 1, 0x05, 0, 200);
    // relative 0 means "no next"; point the second EBR back at itself instead
    new DataView(disk.buffer).setUint32((1024 + 512) * SECTOR + 446 + 16 + 8, 512, true);
    await expect(readPartitionTable(memoryDevice(disk))).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining("loops") });
  });

  it("rejects a partition past the end of the disk and a GPT whose headers are both bad", async () => {
    const disk = new Uint8Array(256 * SECTOR);
    entry(disk, 0, 0, 0x83, 64, 1000);
    await expect(readPartitionTable(memoryDevice(disk))).rejects.toBeInstanceOf(InspectError);
    const gpt = new Uint8Array(256 * SECTOR);
    entry(gpt, 0, 0, 0xee, 1, 255);
    gpt.set(new TextEncoder().encode("EFI PART"), SECTOR);
    await expect(readPartitionTable(memoryDevice(gpt))).rejects.toMatchObject({ code: "INSPECT_CORRUPT" });
  });

  it("ends in a table, nothing, or an InspectError for arbitrary first sectors (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.boolean(), async (sector0, signed) => {
        const disk = new Uint8Array(64 * SECTOR);
        disk.set(sector0);
        if (signed) {
          disk[510] = 0x55;
          disk[511] = 0xaa;
        }
        try {
          const table = await readPartitionTable(memoryDevice(disk));
          for (const p of table?.partitions ?? []) expect(p.start + p.size).toBeLessThanOrEqual(disk.length);
        } catch (error) {
          if (!(error instanceof InspectError)) throw error;
        }
      }),
      { numRuns: 1000, seed: 3 },
    );
  });
});
