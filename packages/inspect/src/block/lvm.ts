import { StorageError, type BlockDevice } from "@leapp/storage";
import { InspectError } from "../errors.js";
import { listOf, numberOf, parseLvmText, sectionOf, stringOf, subsections, type LvmSection } from "./lvm-metadata.js";
import { corrupt, crc32Raw, readBytes, u64le, view } from "./volumes-io.js";

const SECTOR = 512;
const LVM_CRC_SEED = 0xf597a6cf;
const MDA_MAGIC = " LVM2 x[5A%r0N*>";
/** Metadata text larger than this is refused (lvm2 itself caps an area at a few MiB). */
const MAX_METADATA_TEXT = 16 * 1024 * 1024;
const MAX_AREAS = 16;
const MAX_LVS = 4096;
const MAX_SEGMENTS = 4096;
const MAX_STRIPES = 128;

/** The LVM CRC: the zlib polynomial seeded with 0xf597a6cf and no final inversion. */
export function lvmCrc(bytes: Uint8Array): number {
  return crc32Raw(LVM_CRC_SEED, bytes);
}

export interface PhysicalVolume {
  /** The PV UUID without dashes, as in the label. */
  uuid: string;
  device: BlockDevice;
  /** Index of the disk it lives on. */
  disk: number;
  /** The newest VG metadata text found in its metadata areas, if any. */
  metadata: string | undefined;
  seqno: number;
}

const ascii = (bytes: Uint8Array, offset: number, length: number): string => String.fromCharCode(...bytes.subarray(offset, offset + length));

/** Finds the LVM2 label in sectors 0–3 and reads its pv_header and metadata areas. */
export async function readPhysicalVolume(device: BlockDevice, disk: number): Promise<PhysicalVolume> {
  const head = await readBytes(device, 0, Math.min(4 * SECTOR, device.size), "LVM label");
  for (let sector = 0; sector < 4; sector++) {
    const label = head.subarray(sector * SECTOR, (sector + 1) * SECTOR);
    if (label.length < SECTOR || ascii(label, 0, 8) !== "LABELONE") continue;
    const dv = view(label);
    if (dv.getUint32(16, true) !== lvmCrc(label.subarray(20))) throw corrupt(`the LVM label in sector ${sector} fails its CRC check`);
    if (ascii(label, 24, 8) !== "LVM2 001") throw new InspectError("INSPECT_UNSUPPORTED", `the LVM label in sector ${sector} is not LVM2 (${JSON.stringify(ascii(label, 24, 8))})`);
    const headerAt = dv.getUint32(20, true);
    if (headerAt < 32 || headerAt + 40 > SECTOR) throw corrupt(`the LVM label puts its PV header at offset ${headerAt}`);
    const uuid = ascii(label, headerAt, 32);
    if (!/^[A-Za-z0-9!#]{32}$/.test(uuid)) throw corrupt("the LVM PV header holds a malformed UUID");
    // Two lists of (offset, size), each ended by a zero offset: data areas, then metadata areas.
    let at = headerAt + 40;
    const lists: Array<Array<{ offset: number; size: number }>> = [[], []];
    for (const list of lists) {
      while (true) {
        if (at + 16 > SECTOR) throw corrupt("the LVM PV header's area lists run off its sector");
        const offset = u64le(dv, at, "LVM area offset");
        const size = u64le(dv, at + 8, "LVM area size");
        at += 16;
        if (offset === 0) break;
        if (list.length >= MAX_AREAS) throw corrupt("the LVM PV header lists too many areas");
        list.push({ offset, size });
      }
    }
    let best: { text: string; seqno: number } | undefined;
    const problems: unknown[] = [];
    for (const area of lists[1]!) {
      try {
        const text = await readMetadataArea(device, area.offset, area.size);
        if (text === undefined) continue;
        const seqno = Number(/\bseqno\s*=\s*(\d+)/.exec(text)?.[1] ?? 0);
        if (!best || seqno > best.seqno) best = { text, seqno };
      } catch (error) {
        problems.push(error);
      }
    }
    if (!best && problems.length > 0) throw problems[0];
    return { uuid, device, disk, metadata: best?.text, seqno: best?.seqno ?? 0 };
  }
  throw new InspectError("INSPECT_UNSUPPORTED", "no LVM2 label in the first four sectors of this volume");
}

/** Reads the current metadata text of one metadata area (mda_header + circular buffer). */
async function readMetadataArea(device: BlockDevice, offset: number, size: number): Promise<string | undefined> {
  if (size < 2 * SECTOR || offset + size > device.size) throw corrupt(`an LVM metadata area (${size} bytes at ${offset}) lies outside the PV`);
  const header = await readBytes(device, offset, SECTOR, "LVM metadata area header");
  const dv = view(header);
  if (ascii(header, 4, 16) !== MDA_MAGIC) throw corrupt(`the LVM metadata area at ${offset} has no mda_header magic`);
  if (dv.getUint32(0, true) !== lvmCrc(header.subarray(4))) throw corrupt(`the LVM metadata area header at ${offset} fails its CRC check`);
  if (u64le(dv, 24, "LVM mda start") !== offset) throw corrupt(`the LVM metadata area header at ${offset} names another start`);
  // The first raw_locn is the committed metadata.
  const textOffset = u64le(dv, 40, "LVM metadata offset");
  const textSize = u64le(dv, 48, "LVM metadata size");
  const textCrc = dv.getUint32(56, true);
  if (textOffset === 0) return undefined; // a PV not (yet) in a VG
  if (textSize === 0 || textSize > MAX_METADATA_TEXT || textSize > size - SECTOR) throw corrupt(`the LVM metadata claims ${textSize} bytes in a ${size}-byte area`);
  if (textOffset < SECTOR || textOffset >= size) throw corrupt(`the LVM metadata starts at ${textOffset}, outside its ${size}-byte area`);
  // The text is a circular buffer after the header: it may wrap back to offset 512 of the area.
  const first = Math.min(textSize, size - textOffset);
  const text = new Uint8Array(textSize);
  text.set(await readBytes(device, offset + textOffset, first, "LVM metadata"));
  if (first < textSize) text.set(await readBytes(device, offset + SECTOR, textSize - first, "LVM metadata (wrapped)"), first);
  if (lvmCrc(text) !== textCrc) throw corrupt(`the LVM metadata text at ${offset + textOffset} fails its CRC check`);
  const end = text.indexOf(0);
  return new TextDecoder().decode(end < 0 ? text : text.subarray(0, end));
}

export interface LogicalVolume {
  vg: string;
  lv: string;
  device: BlockDevice;
  /** Disk of the first PV it uses. */
  disk: number;
  /** Where [position, position+length) of the LV lies on its PVs, run by run, in order. */
  locate(position: number, length: number): Iterable<{ pv: PhysicalVolume; offset: number; length: number }>;
}

/** One run of a logical volume: `extents` extents striped over `stripes` PV areas. */
interface Segment {
  start: number;
  length: number;
  stripeBytes: number;
  stripes: Array<{ pv: PhysicalVolume; offset: number }>;
}

/** One run of a logical volume's range that lies on one PV: `length` bytes at `physical` of `pv`, `done` bytes into the range. */
interface Piece {
  pv: PhysicalVolume;
  physical: number;
  done: number;
  length: number;
}

/** The runs of [position, position+length) of a logical volume, each on one PV, in order. */
function* mapRange(size: number, segments: Segment[], position: number, length: number): Generator<Piece> {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > size) {
    throw new StorageError("STORAGE_OUT_OF_RANGE", `access of ${length} bytes at ${position} is outside the ${size}-byte logical volume`);
  }
  let done = 0;
  while (done < length) {
    const at = position + done;
    const segment = segments.find((s) => at >= s.start && at < s.start + s.length);
    if (!segment) throw new StorageError("STORAGE_OUT_OF_RANGE", `offset ${at} lies in no segment of the logical volume`);
    const inSegment = at - segment.start;
    const n = segment.stripes.length;
    let stripe: Segment["stripes"][number];
    let physical: number;
    let run: number;
    if (n === 1) {
      stripe = segment.stripes[0]!;
      physical = stripe.offset + inSegment;
      run = segment.length - inSegment;
    } else {
      const chunk = Math.floor(inSegment / segment.stripeBytes);
      stripe = segment.stripes[chunk % n]!;
      const row = Math.floor(chunk / n);
      const within = inSegment % segment.stripeBytes;
      physical = stripe.offset + row * segment.stripeBytes + within;
      run = segment.stripeBytes - within;
    }
    const count = Math.min(run, length - done);
    yield { pv: stripe.pv, physical, done, length: count };
    done += count;
  }
}

/**
 * A BlockDevice over the segments of a logical volume (linear = one stripe). It is writable when
 * every PV under it is: writes go to the same places reads come from.
 */
function logicalVolumeDevice(size: number, segments: Segment[]): BlockDevice {
  const pvDevices = [...new Set(segments.flatMap((s) => s.stripes.map((st) => st.pv.device)))];
  const writable = pvDevices.every((d) => d.writable);
  return {
    format: "raw",
    size,
    writable,
    async read(buffer, position) {
      for (const p of mapRange(size, segments, position, buffer.length)) await p.pv.device.read(buffer.subarray(p.done, p.done + p.length), p.physical);
    },
    async *extents(start = 0, length = size - start) {
      yield { offset: start, length, kind: "data" as const };
    },
    async write(data, position) {
      if (!writable) throw new StorageError("STORAGE_READ_ONLY", "this logical volume lies on a disk opened read-only");
      for (const p of mapRange(size, segments, position, data.length)) await p.pv.device.write(data.subarray(p.done, p.done + p.length), p.physical);
    },
    async flush() {
      for (const device of pvDevices) await device.flush();
    },
    async close() {},
  };
}

const stripDashes = (uuid: string): string => uuid.replaceAll("-", "");

/**
 * Assembles volume groups from their PVs (the newest metadata by seqno wins) and maps every
 * visible logical volume with linear or striped segments to a BlockDevice. Lying metadata —
 * extents past a PV's end, unknown PV UUIDs, absurd counts — is INSPECT_CORRUPT; LVs of other
 * segment types (thin, raid, mirror, snapshot) are INSPECT_UNSUPPORTED in `skipped`.
 */
export function assembleVolumeGroups(pvs: PhysicalVolume[]): { lvs: LogicalVolume[]; skipped: InspectError[] } {
  const byUuid = new Map(pvs.map((pv) => [pv.uuid, pv]));
  const groups = new Map<string, { seqno: number; text: string }>();
  for (const pv of pvs) {
    if (!pv.metadata) continue;
    const id = /\bid\s*=\s*"([^"]*)"/.exec(pv.metadata)?.[1] ?? pv.metadata;
    const known = groups.get(id);
    if (!known || pv.seqno > known.seqno) groups.set(id, { seqno: pv.seqno, text: pv.metadata });
  }
  const lvs: LogicalVolume[] = [];
  const skipped: InspectError[] = [];
  for (const { text } of groups.values()) {
    const root = parseLvmText(text);
    const vgEntry = subsections(root)[0];
    if (!vgEntry) throw corrupt("LVM metadata holds no volume group");
    const [vgName, vg] = vgEntry;
    const extentBytes = numberOf(vg.extent_size, `${vgName}.extent_size`) * SECTOR;
    if (extentBytes === 0 || extentBytes > 2 ** 40) throw corrupt(`volume group ${vgName} claims ${extentBytes}-byte extents`);
    const vgPvs = new Map<string, { pv: PhysicalVolume; peStart: number; peCount: number }>();
    for (const [pvName, pvSection] of subsections(sectionOf(vg.physical_volumes, `${vgName}.physical_volumes`))) {
      const uuid = stripDashes(stringOf(pvSection.id, `${vgName}/${pvName}.id`));
      const pv = byUuid.get(uuid);
      if (!pv) {
        throw new InspectError("INSPECT_CORRUPT", `volume group ${vgName} needs PV ${pvSection.id as string}, which is on none of the given disks; pass all of the guest's disks`);
      }
      const peStart = numberOf(pvSection.pe_start, `${pvName}.pe_start`) * SECTOR;
      const peCount = numberOf(pvSection.pe_count, `${pvName}.pe_count`);
      if (peStart + peCount * extentBytes > pv.device.size) throw corrupt(`PV ${pvName} of ${vgName} claims ${peCount} extents past its end`);
      vgPvs.set(pvName, { pv, peStart, peCount });
    }
    const lvSections = subsections(sectionOf(vg.logical_volumes ?? Object.create(null), `${vgName}.logical_volumes`));
    if (lvSections.length > MAX_LVS) throw corrupt(`volume group ${vgName} claims ${lvSections.length} logical volumes`);
    for (const [lvName, lv] of lvSections) {
      const status = Array.isArray(lv.status) ? lv.status : [];
      if (!status.includes("VISIBLE")) continue; // internal LVs: snapshot COW, raid images, pool metadata
      try {
        lvs.push(mapLogicalVolume(vgName, lvName, lv, extentBytes, vgPvs));
      } catch (error) {
        if (error instanceof InspectError && error.code === "INSPECT_UNSUPPORTED") skipped.push(error);
        else throw error;
      }
    }
  }
  return { lvs, skipped };
}

function mapLogicalVolume(
  vgName: string,
  lvName: string,
  lv: LvmSection,
  extentBytes: number,
  pvs: Map<string, { pv: PhysicalVolume; peStart: number; peCount: number }>,
): LogicalVolume {
  const where = `${vgName}/${lvName}`;
  const segments: Segment[] = [];
  const segmentSections = subsections(lv).filter(([name]) => /^segment\d+$/.test(name));
  if (segmentSections.length === 0 || segmentSections.length > MAX_SEGMENTS) throw corrupt(`logical volume ${where} has ${segmentSections.length} segments`);
  for (const [segName, seg] of segmentSections) {
    const type = stringOf(seg.type, `${where}.${segName}.type`);
    if (type !== "striped") throw new InspectError("INSPECT_UNSUPPORTED", `logical volume ${where} uses ${type} segments; leapp reads linear and striped LVs only`);
    const startExtent = numberOf(seg.start_extent, `${where}.${segName}.start_extent`);
    const extentCount = numberOf(seg.extent_count, `${where}.${segName}.extent_count`);
    const stripeCount = numberOf(seg.stripe_count, `${where}.${segName}.stripe_count`);
    if (stripeCount < 1 || stripeCount > MAX_STRIPES || extentCount === 0 || extentCount % stripeCount !== 0) {
      throw corrupt(`logical volume ${where} has ${extentCount} extents over ${stripeCount} stripes`);
    }
    const stripeBytes = stripeCount > 1 ? numberOf(seg.stripe_size, `${where}.${segName}.stripe_size`) * SECTOR : extentBytes;
    if (stripeBytes === 0 || extentBytes % stripeBytes !== 0) throw corrupt(`logical volume ${where} has a ${stripeBytes}-byte stripe size`);
    const list = listOf(seg.stripes, `${where}.${segName}.stripes`);
    if (list.length !== stripeCount * 2) throw corrupt(`logical volume ${where} lists ${list.length / 2} stripes, not ${stripeCount}`);
    const perStripe = extentCount / stripeCount;
    const stripes: Segment["stripes"] = [];
    for (let i = 0; i < stripeCount; i++) {
      const pvName = list[i * 2];
      const firstExtent = list[i * 2 + 1];
      const entry = typeof pvName === "string" ? pvs.get(pvName) : undefined;
      if (!entry) throw corrupt(`logical volume ${where} maps onto ${JSON.stringify(pvName)}, which its VG does not list`);
      if (typeof firstExtent !== "number" || firstExtent + perStripe > entry.peCount) throw corrupt(`logical volume ${where} uses extents past the end of ${pvName}`);
      stripes.push({ pv: entry.pv, offset: entry.peStart + firstExtent * extentBytes });
    }
    segments.push({ start: startExtent * extentBytes, length: extentCount * extentBytes, stripeBytes, stripes });
  }
  segments.sort((a, b) => a.start - b.start);
  let end = 0;
  for (const s of segments) {
    if (s.start !== end) throw corrupt(`logical volume ${where} has a gap or overlap in its segments at ${end}`);
    end += s.length;
  }
  if (!Number.isSafeInteger(end)) throw corrupt(`logical volume ${where} claims an impossible size`);
  const size = end;
  return {
    vg: vgName,
    lv: lvName,
    device: logicalVolumeDevice(size, segments),
    disk: segments[0]!.stripes[0]!.pv.disk,
    *locate(position, length) {
      for (const p of mapRange(size, segments, position, length)) yield { pv: p.pv, offset: p.physical, length: p.length };
    },
  };
}
