import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../errors.js";
import { corrupt, crc32, guidString, readBytes, u64le, view } from "./volumes-io.js";

export interface Partition {
  /** 1-based, as Linux numbers them: GPT entry index + 1; MBR primaries 1–4, logicals from 5. */
  number: number;
  /** Byte offset and length on the disk. */
  start: number;
  size: number;
  /** MBR type byte as two hex digits ("83"), or the GPT type GUID. */
  type: string;
  /** PARTUUID as blkid prints it: the GPT unique GUID, or "<disk id>-<nn>" on MBR. */
  partUuid: string;
  /** GPT partition name. */
  name?: string;
}

export interface PartitionTable {
  scheme: "mbr" | "gpt";
  /** MBR disk signature (8 hex digits) or GPT disk GUID. */
  diskId: string;
  partitions: Partition[];
}

const SECTOR = 512;
/** No real table has more; a header claiming more is refused rather than walked. */
const MAX_GPT_ENTRIES = 1024;
const MAX_LOGICAL_PARTITIONS = 256;
const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);

/** Whether sector 0 carries the 0x55AA boot signature. */
export function hasBootSignature(sector0: Uint8Array): boolean {
  return sector0.length >= 512 && sector0[510] === 0x55 && sector0[511] === 0xaa;
}

interface MbrEntry {
  type: number;
  startLba: number;
  sectors: number;
}

function mbrEntries(sector: Uint8Array): MbrEntry[] {
  const dv = view(sector);
  const entries: MbrEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const at = 446 + i * 16;
    entries.push({ type: sector[at + 4]!, startLba: dv.getUint32(at + 8, true), sectors: dv.getUint32(at + 12, true) });
  }
  return entries;
}

/** Whether sector 0 looks like an MBR partition table (status bytes 0x00/0x80, something in it). */
export function looksLikeMbr(sector0: Uint8Array): boolean {
  if (!hasBootSignature(sector0)) return false;
  let used = 0;
  for (let i = 0; i < 4; i++) {
    const at = 446 + i * 16;
    const status = sector0[at]!;
    if (status !== 0 && status !== 0x80) return false;
    if (sector0[at + 4] !== 0) used++;
  }
  return used > 0;
}

/**
 * Reads the partition table of a disk: GPT (primary header and entries, CRC checked, the backup
 * header as fallback) or MBR with extended/logical partitions. Undefined when the disk has none.
 * Partitions reaching past the disk end, overlapping chains and absurd counts are INSPECT_CORRUPT.
 */
export async function readPartitionTable(disk: BlockDevice): Promise<PartitionTable | undefined> {
  if (disk.size < 2 * SECTOR) return undefined;
  const sector0 = await readBytes(disk, 0, SECTOR, "MBR");
  if (!looksLikeMbr(sector0)) return undefined;
  const primaries = mbrEntries(sector0);
  if (primaries.some((e) => e.type === 0xee)) {
    // GPT counts in logical sectors: 512 bytes, or 4096 on 4Kn disks (header then at byte 4096).
    const at4k = disk.size >= 3 * 4096 ? await readBytes(disk, 4096, 8, "GPT signature") : new Uint8Array(8);
    const at512 = await readBytes(disk, 512, 8, "GPT signature");
    const signature = (b: Uint8Array) => new TextDecoder().decode(b) === "EFI PART";
    return readGpt(disk, !signature(at512) && signature(at4k) ? 4096 : SECTOR);
  }
  return readMbr(disk, sector0, primaries);
}

function checkExtent(disk: BlockDevice, what: string, startLba: number, sectors: number): void {
  const end = (startLba + sectors) * SECTOR;
  if (startLba === 0 || end > disk.size) {
    throw corrupt(`${what} spans sectors ${startLba}+${sectors}, outside the ${disk.size}-byte disk`);
  }
}

async function readMbr(disk: BlockDevice, sector0: Uint8Array, primaries: MbrEntry[]): Promise<PartitionTable> {
  const diskSignature = view(sector0).getUint32(440, true).toString(16).padStart(8, "0");
  const partitions: Partition[] = [];
  const make = (number: number, e: MbrEntry, absoluteLba: number): Partition => ({
    number,
    start: absoluteLba * SECTOR,
    size: e.sectors * SECTOR,
    type: e.type.toString(16).padStart(2, "0"),
    partUuid: `${diskSignature}-${number.toString(16).padStart(2, "0")}`,
  });
  let extended: MbrEntry | undefined;
  primaries.forEach((e, i) => {
    if (e.type === 0 || e.sectors === 0) return;
    checkExtent(disk, `MBR partition ${i + 1}`, e.startLba, e.sectors);
    if (EXTENDED_TYPES.has(e.type)) {
      if (extended) throw corrupt("the MBR has two extended partitions");
      extended = e;
      // Linux lists the extended partition itself too (as a 1 KiB stub); libguestfs skips it.
      return;
    }
    partitions.push(make(i + 1, e, e.startLba));
  });
  if (extended) {
    const seen = new Set<number>();
    let ebrLba = extended.startLba;
    let number = 5;
    while (true) {
      if (seen.has(ebrLba)) throw corrupt(`the extended partition's chain of logical partitions loops back to sector ${ebrLba}`);
      if (seen.size >= MAX_LOGICAL_PARTITIONS) throw corrupt(`the extended partition holds more than ${MAX_LOGICAL_PARTITIONS} logical partitions`);
      seen.add(ebrLba);
      const ebr = await readBytes(disk, ebrLba * SECTOR, SECTOR, "extended boot record");
      if (!hasBootSignature(ebr)) throw corrupt(`the extended boot record at sector ${ebrLba} has no 0x55AA signature`);
      const [logical, next] = mbrEntries(ebr);
      if (logical && logical.type !== 0 && logical.sectors !== 0) {
        const lba = ebrLba + logical.startLba;
        checkExtent(disk, `logical partition ${number}`, lba, logical.sectors);
        if (lba + logical.sectors > extended.startLba + extended.sectors) throw corrupt(`logical partition ${number} reaches past the end of its extended partition`);
        partitions.push(make(number, logical, lba));
        number++;
      }
      if (!next || next.type === 0 || next.startLba === 0) break;
      ebrLba = extended.startLba + next.startLba;
      if (ebrLba >= extended.startLba + extended.sectors) throw corrupt(`an extended boot record points to sector ${ebrLba}, past its extended partition`);
    }
  }
  return { scheme: "mbr", diskId: diskSignature, partitions };
}

interface GptHeader {
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
  firstUsable: number;
  lastUsable: number;
}

async function gptHeaderAt(disk: BlockDevice, lba: number, sectorSize: number): Promise<GptHeader> {
  const sector = await readBytes(disk, lba * sectorSize, sectorSize, "GPT header");
  const dv = view(sector);
  if (new TextDecoder().decode(sector.subarray(0, 8)) !== "EFI PART") throw corrupt(`no GPT header signature at sector ${lba}`);
  const headerSize = dv.getUint32(12, true);
  if (headerSize < 92 || headerSize > sectorSize) throw corrupt(`the GPT header at sector ${lba} claims a size of ${headerSize} bytes`);
  const copy = sector.slice(0, headerSize);
  view(copy).setUint32(16, 0, true);
  if (crc32(copy) !== dv.getUint32(16, true)) throw corrupt(`the GPT header at sector ${lba} fails its CRC check`);
  const header: GptHeader = {
    diskGuid: guidString(sector.subarray(56, 72)),
    entriesLba: u64le(dv, 72, "GPT entry array LBA"),
    entryCount: dv.getUint32(80, true),
    entrySize: dv.getUint32(84, true),
    entriesCrc: dv.getUint32(88, true),
    firstUsable: u64le(dv, 40, "GPT first usable LBA"),
    lastUsable: u64le(dv, 48, "GPT last usable LBA"),
  };
  if (header.entryCount > MAX_GPT_ENTRIES) throw corrupt(`the GPT claims ${header.entryCount} partition entries (at most ${MAX_GPT_ENTRIES} are read)`);
  if (header.entrySize < 128 || header.entrySize > 4096 || header.entrySize % 8 !== 0) throw corrupt(`the GPT claims ${header.entrySize}-byte partition entries`);
  return header;
}

async function readGpt(disk: BlockDevice, sectorSize: number): Promise<PartitionTable> {
  let header: GptHeader | undefined;
  let entries: Uint8Array | undefined;
  const problems: unknown[] = [];
  const lastLba = Math.floor(disk.size / sectorSize) - 1;
  for (const lba of [1, lastLba]) {
    try {
      const h = await gptHeaderAt(disk, lba, sectorSize);
      const e = await readBytes(disk, h.entriesLba * sectorSize, h.entryCount * h.entrySize, "GPT partition entries");
      if (crc32(e) !== h.entriesCrc) throw corrupt(`the GPT partition entries at sector ${h.entriesLba} fail their CRC check`);
      header = h;
      entries = e;
      break;
    } catch (error) {
      problems.push(error);
    }
  }
  if (!header || !entries) {
    throw new InspectError("INSPECT_CORRUPT", "neither the primary nor the backup GPT is valid; the disk's partition table is damaged (repair it with gdisk or sgdisk -e on a copy)", { cause: problems[0] });
  }
  const partitions: Partition[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const entry = entries.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    if (entry.subarray(0, 16).every((b) => b === 0)) continue;
    const dv = view(entry);
    const first = u64le(dv, 32, "GPT partition start");
    const last = u64le(dv, 40, "GPT partition end");
    if (last < first || (last + 1) * sectorSize > disk.size) {
      throw corrupt(`GPT partition ${i + 1} spans sectors ${first}–${last}, outside the ${disk.size}-byte disk`);
    }
    const nameUnits = new Uint16Array(36);
    for (let k = 0; k < 36; k++) nameUnits[k] = dv.getUint16(56 + k * 2, true);
    const end = nameUnits.indexOf(0);
    const name = String.fromCharCode(...nameUnits.subarray(0, end < 0 ? 36 : end));
    partitions.push({
      number: i + 1,
      start: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      type: guidString(entry.subarray(0, 16)),
      partUuid: guidString(entry.subarray(16, 32)),
      ...(name ? { name } : {}),
    });
  }
  return { scheme: "gpt", diskId: header.diskGuid, partitions };
}
