// LVM2 on-disk metadata, written the way lvm2's format_text does (this machine has no
// device-mapper, so pvcreate/vgcreate/lvcreate cannot lay out a guest's volumes for us):
//   sector 1 of the PV: label_header "LABELONE" + pv_header (PV UUID, device size, data and
//   metadata area lists, extension v2); at 4 KiB the metadata area: mda_header (magic, raw_locn
//   pointing at the text) and the VG's text description, each with LVM's CRC-32.
// The result is checked by the real pvs/vgs/lvs in the tests.
import { ZooError } from "./errors.js";

const SECTOR = 512;
const LABEL_SECTOR = 1;
const MDA_OFFSET = 4096;
const MDA_MAGIC = " LVM2 x[5A%r0N*>";
const INITIAL_CRC = 0xf597a6cf;

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** LVM's CRC-32: the reflected 0xEDB88320 polynomial from a fixed seed, no final inversion. */
export function lvmCrc(data: Uint8Array, seed = INITIAL_CRC): number {
  let crc = seed >>> 0;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return crc;
}

const ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#";

/** An LVM UUID in its printed form (6-4-4-4-4-4-6 of 32 characters). */
export function formatLvmId(raw: string): string {
  if (raw.length !== 32 || [...raw].some((c) => !ID_CHARS.includes(c))) throw new ZooError("ZOO_BAD_INPUT", `'${raw}' is not a 32-character LVM id`);
  return [raw.slice(0, 6), raw.slice(6, 10), raw.slice(10, 14), raw.slice(14, 18), raw.slice(18, 22), raw.slice(22, 26), raw.slice(26)].join("-");
}

export interface PhysicalVolume {
  /** Name inside the VG text: pv0, pv1… */
  key: string;
  /** 32 characters, no dashes. */
  id: string;
  /** The device hint the metadata records (/dev/sda2). */
  device: string;
  /** Bytes of the PV (the partition). */
  size: number;
  /** Byte offset of the first extent (1 MiB, as lvm2 aligns it). */
  peStart: number;
}

export interface Stripe {
  pv: string;
  /** First physical extent on that PV. */
  startExtent: number;
}

export interface Segment {
  startExtent: number;
  extentCount: number;
  /** One stripe: linear. Several: striped, `stripeSize` sectors each. */
  stripes: Stripe[];
  stripeSize?: number;
}

export interface LogicalVolume {
  name: string;
  id: string;
  segments: Segment[];
}

export interface VolumeGroup {
  name: string;
  id: string;
  seqno: number;
  /** Bytes per extent (4 MiB, the lvm2 default). */
  extentSize: number;
  pvs: PhysicalVolume[];
  lvs: LogicalVolume[];
  creationHost: string;
  /** Unix time. */
  creationTime: number;
}

export function peCount(vg: VolumeGroup, pv: PhysicalVolume): number {
  return Math.floor((pv.size - pv.peStart) / vg.extentSize);
}

/**
 * Where an LV's bytes live: runs of `length` bytes at `lvOffset` in the LV and `pvOffset` on `pv`.
 * Linear segments give one run each; striped ones one run per stripe chunk, round-robin over
 * their stripes (chunk k goes to stripe k mod n, row k div n).
 */
export function lvExtents(vg: VolumeGroup, lv: LogicalVolume): Array<{ pv: PhysicalVolume; lvOffset: number; pvOffset: number; length: number }> {
  const out: Array<{ pv: PhysicalVolume; lvOffset: number; pvOffset: number; length: number }> = [];
  const pvOf = (key: string): PhysicalVolume => {
    const pv = vg.pvs.find((p) => p.key === key);
    if (!pv) throw new ZooError("ZOO_BAD_INPUT", `${lv.name}: no PV ${key}`);
    return pv;
  };
  for (const seg of lv.segments) {
    const segStart = seg.startExtent * vg.extentSize;
    const segBytes = seg.extentCount * vg.extentSize;
    const n = seg.stripes.length;
    if (n === 1) {
      const stripe = seg.stripes[0]!;
      out.push({ pv: pvOf(stripe.pv), lvOffset: segStart, pvOffset: pvOf(stripe.pv).peStart + stripe.startExtent * vg.extentSize, length: segBytes });
      continue;
    }
    const chunk = (seg.stripeSize ?? 128) * SECTOR;
    if (n === 0 || seg.extentCount % n !== 0 || vg.extentSize % chunk !== 0) throw new ZooError("ZOO_BAD_INPUT", `${lv.name}: a striped segment needs extents divisible by its ${n} stripes and chunks dividing the extent size`);
    for (let k = 0; k * chunk < segBytes; k++) {
      const stripe = seg.stripes[k % n]!;
      const row = Math.floor(k / n);
      out.push({ pv: pvOf(stripe.pv), lvOffset: segStart + k * chunk, pvOffset: pvOf(stripe.pv).peStart + stripe.startExtent * vg.extentSize + row * chunk, length: chunk });
    }
  }
  return out;
}

export function lvSize(vg: VolumeGroup, lv: LogicalVolume): number {
  return lv.segments.reduce((n, s) => n + s.extentCount, 0) * vg.extentSize;
}

/** The VG's text description, in the layout and order lvm2 writes it. */
export function vgMetadataText(vg: VolumeGroup): string {
  const out: string[] = [];
  out.push(`${vg.name} {`);
  out.push(`id = "${formatLvmId(vg.id)}"`, `seqno = ${vg.seqno}`, `format = "lvm2"`, `status = ["RESIZEABLE", "READ", "WRITE"]`, "flags = []");
  out.push(`extent_size = ${vg.extentSize / SECTOR}`, "max_lv = 0", "max_pv = 0", "metadata_copies = 0", "", "physical_volumes {", "");
  for (const pv of vg.pvs) {
    out.push(`${pv.key} {`, `id = "${formatLvmId(pv.id)}"`, `device = "${pv.device}"`, "", `status = ["ALLOCATABLE"]`, "flags = []");
    out.push(`dev_size = ${pv.size / SECTOR}`, `pe_start = ${pv.peStart / SECTOR}`, `pe_count = ${peCount(vg, pv)}`, "}", "");
  }
  out.push("}", "", "logical_volumes {", "");
  for (const lv of vg.lvs) {
    out.push(`${lv.name} {`, `id = "${formatLvmId(lv.id)}"`, `status = ["READ", "WRITE", "VISIBLE"]`, "flags = []");
    out.push(`creation_time = ${vg.creationTime}`, `creation_host = "${vg.creationHost}"`, `segment_count = ${lv.segments.length}`, "");
    lv.segments.forEach((seg, i) => {
      out.push(`segment${i + 1} {`, `start_extent = ${seg.startExtent}`, `extent_count = ${seg.extentCount}`, "", `type = "striped"`, `stripe_count = ${seg.stripes.length}`);
      if (seg.stripes.length > 1) out.push(`stripe_size = ${seg.stripeSize ?? 128}`);
      out.push("", "stripes = [", seg.stripes.map((s) => `"${s.pv}", ${s.startExtent}`).join(",\n"), "]", "}");
    });
    out.push("}", "");
  }
  out.push("}", "}", "");
  out.push(`# Generated by LVM2 version 2.02.187(2)-RHEL7 (2020-03-24): ${new Date(vg.creationTime * 1000).toUTCString()}`, "");
  out.push(`contents = "Text Format Volume Group"`, "version = 1", "", `description = ""`, "");
  out.push(`creation_host = "${vg.creationHost}"\t# Linux ${vg.creationHost} 3.10.0-1160.el7.x86_64 #1 SMP x86_64`, `creation_time = ${vg.creationTime}\t# ${new Date(vg.creationTime * 1000).toUTCString()}`, "");
  return out.join("\n");
}

/**
 * The first `pv.peStart` bytes of the PV: label at sector 1, metadata area at 4 KiB holding the
 * VG text. Everything after is the PV's extents.
 */
export function pvHeaderArea(vg: VolumeGroup, pv: PhysicalVolume): Buffer {
  if (pv.peStart < MDA_OFFSET + 64 * 1024 || pv.peStart % SECTOR !== 0) throw new ZooError("ZOO_BAD_INPUT", `${pv.key}: pe_start must be a sector multiple of at least 68 KiB`);
  if (pv.id.length !== 32) throw new ZooError("ZOO_BAD_INPUT", `${pv.key}: the PV id must have 32 characters`);
  const area = Buffer.alloc(pv.peStart);
  const mdaSize = pv.peStart - MDA_OFFSET;

  // Metadata text (NUL-terminated; the NUL is part of the recorded size, as lvm2 writes it).
  const text = Buffer.from(`${vgMetadataText(vg)}\0`, "utf8");
  if (SECTOR + text.length > mdaSize) throw new ZooError("ZOO_BAD_INPUT", `${vg.name}: the VG description does not fit the metadata area`);
  text.copy(area, MDA_OFFSET + SECTOR);

  // mda_header
  const mda = area.subarray(MDA_OFFSET, MDA_OFFSET + SECTOR);
  mda.write(MDA_MAGIC, 4, "latin1");
  mda.writeUInt32LE(1, 20); // version
  mda.writeBigUInt64LE(BigInt(MDA_OFFSET), 24); // start
  mda.writeBigUInt64LE(BigInt(mdaSize), 32); // size
  mda.writeBigUInt64LE(BigInt(SECTOR), 40); // raw_locn[0].offset (from the area start)
  mda.writeBigUInt64LE(BigInt(text.length), 48); // raw_locn[0].size
  mda.writeUInt32LE(lvmCrc(text), 56); // raw_locn[0].checksum
  mda.writeUInt32LE(lvmCrc(mda.subarray(4)), 0);

  // label_header + pv_header
  const label = area.subarray(LABEL_SECTOR * SECTOR, (LABEL_SECTOR + 1) * SECTOR);
  label.write("LABELONE", 0, "latin1");
  label.writeBigUInt64LE(BigInt(LABEL_SECTOR), 8);
  label.writeUInt32LE(32, 20); // offset_xl: pv_header follows the 32-byte label header
  label.write("LVM2 001", 24, "latin1");
  label.write(pv.id, 32, "latin1");
  label.writeBigUInt64LE(BigInt(pv.size), 64);
  let at = 72;
  const locn = (offset: number, size: number): void => {
    label.writeBigUInt64LE(BigInt(offset), at);
    label.writeBigUInt64LE(BigInt(size), at + 8);
    at += 16;
  };
  locn(pv.peStart, 0); // data area: from pe_start to the end of the device
  locn(0, 0);
  locn(MDA_OFFSET, mdaSize);
  locn(0, 0);
  label.writeUInt32LE(2, at); // pv_header_extension version
  label.writeUInt32LE(1, at + 4); // PV_EXT_USED: the PV belongs to a VG
  at += 8;
  locn(0, 0); // no bootloader areas
  label.writeUInt32LE(lvmCrc(label.subarray(20)), 16);
  return area;
}
