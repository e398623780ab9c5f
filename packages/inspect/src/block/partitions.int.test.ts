// Partition tables written by sfdisk, read back and compared with what sfdisk itself reports.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import { readPartitionTable } from "./partitions.js";
import { fileDevice, memoryDevice, run } from "./volumes-test-support.js";
import { seededRandom } from "@leapp/zoo";

const work = mkdtempSync(join(tmpdir(), "leapp-partitions-"));

function sfdiskImage(name: string, script: string, sizeMiB = 64): string {
  const image = join(work, name);
  run("truncate", ["-s", `${sizeMiB}M`, image]);
  run("sfdisk", ["--no-reread", "--no-tell-kernel", "-q", image], script);
  return image;
}

interface SfdiskJson {
  partitiontable: { label: string; id: string; sectorsize: number; partitions: Array<{ node: string; start: number; size: number; type: string; uuid?: string; name?: string }> };
}

function sfdiskJson(image: string): SfdiskJson {
  return JSON.parse(run("sfdisk", ["--json", image])) as SfdiskJson;
}

const MBR_SCRIPT = `label: dos
label-id: 0x1234abcd
start=2048, size=20480, type=83, bootable
start=22528, size=8192, type=82
start=30720, type=5
start=32768, size=4096, type=83
start=38912, size=4096, type=8e
start=45056, size=4096, type=b
`;

const GPT_SCRIPT = `label: gpt
label-id: 6A2F5E0C-1D3B-4F4A-9B8E-0C1D2E3F4A5B
start=2048, size=20480, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System", uuid=11111111-2222-3333-4444-555555555555
start=22528, size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="boot"
start=40960, size=40960, type=E6D6D379-F507-44C2-A23C-238F2A3DF928
`;

describe("partition tables", () => {
  it("reads MBR primaries and the logical partitions of an extended partition as sfdisk does", async () => {
    const image = sfdiskImage("mbr.raw", MBR_SCRIPT);
    const table = await readPartitionTable(fileDevice(image));
    const expected = sfdiskJson(image).partitiontable;
    expect(table?.scheme).toBe("mbr");
    expect(table?.diskId).toBe("1234abcd");
    const withoutExtended = expected.partitions.filter((p) => p.type !== "5");
    expect(table?.partitions.map((p) => ({ n: p.number, start: p.start / 512, size: p.size / 512, type: p.type.replace(/^0/, "") }))).toEqual(
      withoutExtended.map((p) => ({ n: Number(/(\d+)$/.exec(p.node)![1]), start: p.start, size: p.size, type: p.type })),
    );
    expect(table?.partitions.map((p) => p.partUuid)).toEqual(["1234abcd-01", "1234abcd-02", "1234abcd-05", "1234abcd-06", "1234abcd-07"]);
  });

  it("reads GPT entries with their GUIDs and names as sfdisk does", async () => {
    const image = sfdiskImage("gpt.raw", GPT_SCRIPT);
    const table = await readPartitionTable(fileDevice(image));
    const expected = sfdiskJson(image).partitiontable;
    expect(table?.scheme).toBe("gpt");
    expect(table?.diskId).toBe(expected.id.toLowerCase());
    expect(table?.partitions.map((p) => ({ start: p.start / 512, size: p.size / 512, type: p.type, uuid: p.partUuid, name: p.name }))).toEqual(
      expected.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type.toLowerCase(), uuid: p.uuid!.toLowerCase(), name: p.name })),
    );
    expect(table?.partitions[0]?.partUuid).toBe("11111111-2222-3333-4444-555555555555");
  });

  it("reads a GPT written with 4096-byte logical sectors (a 4Kn disk)", async () => {
    const image = join(work, "gpt-4k.raw");
    run("truncate", ["-s", "64M", image]);
    const loop = run("losetup", ["-f", "--show", "-b", "4096", image]).trim();
    let expected: SfdiskJson;
    try {
      run("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", loop], "label: gpt\nstart=256, size=2560, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nstart=4096, size=1024\n");
      expected = sfdiskJson(loop);
    } finally {
      run("losetup", ["-d", loop]);
    }
    expect(expected.partitiontable.sectorsize).toBe(4096);
    const table = await readPartitionTable(fileDevice(image));
    expect(table?.partitions.map((p) => [p.start, p.size, p.partUuid])).toEqual(
      expected.partitiontable.partitions.map((p) => [p.start * 4096, p.size * 4096, p.uuid!.toLowerCase()]),
    );
  });

  it("falls back to the backup GPT when the primary header is damaged, and refuses when both are", async () => {
    const image = sfdiskImage("gpt-damaged.raw", GPT_SCRIPT);
    const bytes = readFileSync(image);
    bytes.writeUInt8(bytes.readUInt8(512 + 60) ^ 0xff, 512 + 60);
    const fromBackup = await readPartitionTable(memoryDevice(bytes));
    expect(fromBackup?.partitions.length).toBe(3);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 512 + 60) ^ 0xff, bytes.length - 512 + 60);
    await expect(readPartitionTable(memoryDevice(bytes))).rejects.toMatchObject({ code: "INSPECT_CORRUPT" });
  });

  it("detects a loop in the chain of extended boot records", async () => {
    const image = sfdiskImage("mbr-loop.raw", MBR_SCRIPT);
    const bytes = readFileSync(image);
    // The second EBR's "next" entry points back at the first EBR (relative sector 0 is "none", so use the second EBR's own offset).
    const extendedStart = 30720;
    const firstEbr = extendedStart * 512;
    const secondRelative = bytes.readUInt32LE(firstEbr + 446 + 16 + 8);
    const secondEbr = (extendedStart + secondRelative) * 512;
    bytes.writeUInt32LE(secondRelative, secondEbr + 446 + 16 + 8);
    bytes[secondEbr + 446 + 16 + 4] = 5;
    await expect(readPartitionTable(memoryDevice(bytes))).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining("loops") });
  });

  it("rejects partitions past the end of the disk with a typed error", async () => {
    const image = sfdiskImage("mbr-short.raw", MBR_SCRIPT);
    const bytes = readFileSync(image).subarray(0, 16 * 1024 * 1024);
    await expect(readPartitionTable(memoryDevice(bytes))).rejects.toBeInstanceOf(InspectError);
  });

  it("survives seeded random mutations of MBR, EBR and GPT sectors: a result or an InspectError", async () => {
    const random = seededRandom(4);
    const images = [readFileSync(sfdiskImage("mbr-fuzz.raw", MBR_SCRIPT)), readFileSync(sfdiskImage("gpt-fuzz.raw", GPT_SCRIPT))];
    const mbr = images[0]!;
    const ebrSectors = [0, 30720, 30720 + mbr.readUInt32LE(30720 * 512 + 446 + 16 + 8)];
    const hot = [[0, ...ebrSectors.slice(1)], [0, 1, 2, 3, 127, 128]];
    const started = performance.now();
    let errors = 0;
    for (let round = 0; round < 2000; round++) {
      const which = round % 2;
      // Mutate the real image in place and undo afterwards: copying 64 MiB per round is what would be slow.
      const bytes = images[which]!;
      const undo: Array<[number, number]> = [];
      for (let k = 0; k < 1 + Math.floor(random() * 8); k++) {
        const sectors = hot[which]!;
        const sector = which === 1 && random() < 0.2 ? bytes.length / 512 - 1 - Math.floor(random() * 33) : sectors[Math.floor(random() * sectors.length)]!;
        const at = sector * 512 + Math.floor(random() * 512);
        undo.push([at, bytes[at]!]);
        bytes[at] = Math.floor(random() * 256);
      }
      try {
        const table = await readPartitionTable(memoryDevice(bytes));
        for (const p of table?.partitions ?? []) expect(p.start + p.size).toBeLessThanOrEqual(bytes.length);
      } catch (error) {
        if (!(error instanceof InspectError)) throw error;
        errors++;
      } finally {
        for (const [at, value] of undo.reverse()) bytes[at] = value;
      }
    }
    expect(errors).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

