// The checksums ext4 keeps over its metadata: CRC32C (metadata_csum) seeded per filesystem and
// per inode, and the older CRC16 of group descriptors (gdt_csum / uninit_bg). ext4 uses the raw
// CRC register: no final inversion, and a chain of calls continues where the last one stopped.
import { crc32Raw, view } from "../../block/volumes-io.js";

function table(polynomial: number): Uint32Array {
  const out = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    out[n] = c >>> 0;
  }
  return out;
}

const crc32cTable = table(0x82f63b78);
const crc16Table = table(0xa001);

/** Continues a CRC32C (Castagnoli) register over `bytes`, as ext4_chksum does. */
export function crc32cUpdate(crc: number, bytes: Uint8Array): number {
  return crc32Raw(crc, bytes, crc32cTable);
}

/** Continues the CRC16 (ANSI, reflected 0xA001) register of gdt_csum group descriptors. */
export function crc16Update(crc: number, bytes: Uint8Array): number {
  let c = crc & 0xffff;
  for (let i = 0; i < bytes.length; i++) c = (crc16Table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)) & 0xffff;
  return c;
}

/** Continues a CRC32C register over one little-endian 32-bit word, without a buffer. */
function crc32cWord(crc: number, value: number): number {
  let c = crc >>> 0;
  for (let shift = 0; shift < 32; shift += 8) c = crc32cTable[(c ^ (value >>> shift)) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}


/** Which checksums a filesystem keeps. */
export type ChecksumKind = "metadata_csum" | "gdt_csum" | "none";

/**
 * The checksum arithmetic of one filesystem: its seed (from the UUID, or s_checksum_seed with
 * metadata_csum_seed) and one function per kind of structure. Every function takes the structure
 * with its checksum field still in place and returns the value to store.
 */
export class ExtChecksums {
  readonly seed: number;
  constructor(
    readonly kind: ChecksumKind,
    private readonly uuid: Uint8Array,
    explicitSeed: number | undefined,
    private readonly descSize: number,
    private readonly inodeSize: number,
  ) {
    this.seed = explicitSeed ?? crc32cUpdate(0xffffffff, uuid);
  }

  get enabled(): boolean {
    return this.kind === "metadata_csum";
  }

  /** The per-inode seed directory, extent and inode checksums start from. */
  inodeSeed(inode: number, generation: number): number {
    return crc32cWord(crc32cWord(this.seed, inode), generation);
  }

  /** The 1024-byte superblock's checksum (s_checksum, the last 4 bytes). */
  superblock(sb: Uint8Array): number {
    return crc32cUpdate(0xffffffff, sb.subarray(0, 0x3fc));
  }

  /** A group descriptor's 16-bit bg_checksum (offset 0x1e), either kind. */
  groupDescriptor(group: number, desc: Uint8Array): number {
    const head = desc.subarray(0, 0x1e);
    const tail = desc.subarray(0x20, this.descSize);
    if (this.kind === "metadata_csum") {
      let crc = crc32cWord(this.seed, group);
      crc = crc32cUpdate(crc, head);
      crc = crc32cUpdate(crc, new Uint8Array(2));
      crc = crc32cUpdate(crc, tail);
      return crc & 0xffff;
    }
    if (this.kind === "gdt_csum") {
      let crc = crc16Update(0xffff, this.uuid);
      crc = crc16Update(crc, Uint8Array.of(group & 0xff, (group >>> 8) & 0xff, (group >>> 16) & 0xff, group >>> 24));
      crc = crc16Update(crc, head);
      if (this.descSize > 32) crc = crc16Update(crc, tail);
      return crc;
    }
    return 0;
  }

  /** A block or inode bitmap's checksum (its significant bytes only). */
  bitmap(bytes: Uint8Array): number {
    return crc32cUpdate(this.seed, bytes);
  }

  /** An inode's checksum, over all of it with the checksum fields (lo at 0x7c, hi at 0x82) as zeros. */
  inode(number: number, raw: Uint8Array): number {
    const generation = (raw[0x64]! | (raw[0x65]! << 8) | (raw[0x66]! << 16) | (raw[0x67]! << 24)) >>> 0;
    const hasHi = this.inodeSize > 128 && (raw[0x80]! | (raw[0x81]! << 8)) >= 4;
    let crc = this.inodeSeed(number, generation);
    crc = crc32cUpdate(crc, raw.subarray(0, 0x7c));
    crc = crc32cUpdate(crc, new Uint8Array(2));
    if (this.inodeSize <= 128) return crc32cUpdate(crc, raw.subarray(0x7e, 128));
    crc = crc32cUpdate(crc, raw.subarray(0x7e, 0x82));
    if (hasHi) {
      crc = crc32cUpdate(crc, new Uint8Array(2));
      return crc32cUpdate(crc, raw.subarray(0x84, this.inodeSize));
    }
    return crc32cUpdate(crc, raw.subarray(0x82, this.inodeSize));
  }

  /** Stores an inode's checksum in place. */
  sealInode(number: number, raw: Uint8Array): void {
    if (!this.enabled) return;
    const crc = this.inode(number, raw);
    raw[0x7c] = crc & 0xff;
    raw[0x7d] = (crc >>> 8) & 0xff;
    if (this.inodeSize > 128 && (raw[0x80]! | (raw[0x81]! << 8)) >= 4) {
      raw[0x82] = (crc >>> 16) & 0xff;
      raw[0x83] = crc >>> 24;
    }
  }

  /** A directory leaf block's checksum, stored in its 12-byte tail entry. */
  sealDirectoryBlock(inodeSeed: number, block: Uint8Array): void {
    const tail = block.length - 12;
    view(block).setUint32(tail + 8, crc32cUpdate(inodeSeed, block.subarray(0, tail)), true);
  }

  /** An htree index block's checksum: over the header and live entries, then the tail's first word. */
  sealIndexBlock(inodeSeed: number, block: Uint8Array, countOffset: number): void {
    const dv = view(block);
    const limit = dv.getUint16(countOffset, true);
    const count = dv.getUint16(countOffset + 2, true);
    const tail = countOffset + limit * 8;
    let crc = crc32cUpdate(inodeSeed, block.subarray(0, countOffset + count * 8));
    crc = crc32cUpdate(crc, block.subarray(tail, tail + 4));
    crc = crc32cUpdate(crc, new Uint8Array(4));
    dv.setUint32(tail + 4, crc, true);
  }

  /** An extent tree block's checksum, in the 4 bytes after its eh_max entries. */
  sealExtentBlock(inodeSeed: number, block: Uint8Array): void {
    const max = view(block).getUint16(4, true);
    const tail = 12 + max * 12;
    view(block).setUint32(tail, crc32cUpdate(inodeSeed, block.subarray(0, tail)), true);
  }

  /** An extended attribute block's checksum (h_checksum at 0x10), keyed by its block number. */
  sealXattrBlock(blockNumber: number, block: Uint8Array): void {
    let crc = crc32cWord(crc32cWord(this.seed, blockNumber % 2 ** 32), Math.floor(blockNumber / 2 ** 32));
    crc = crc32cUpdate(crc, block.subarray(0, 0x10));
    crc = crc32cUpdate(crc, new Uint8Array(4));
    crc = crc32cUpdate(crc, block.subarray(0x14));
    view(block).setUint32(0x10, crc, true);
  }
}
