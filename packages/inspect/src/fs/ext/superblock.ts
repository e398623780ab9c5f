// The ext2/3/4 superblock: geometry, features, and which of them leapp reads and writes.
import { InspectError } from "../../errors.js";
import { corrupt, view } from "../../block/volumes-io.js";

export const COMPAT = {
  dir_prealloc: 0x1,
  imagic_inodes: 0x2,
  has_journal: 0x4,
  ext_attr: 0x8,
  resize_inode: 0x10,
  dir_index: 0x20,
  lazy_bg: 0x40,
  exclude_inode: 0x80,
  exclude_bitmap: 0x100,
  sparse_super2: 0x200,
  fast_commit: 0x400,
  stable_inodes: 0x800,
  orphan_file: 0x1000,
} as const;

export const INCOMPAT = {
  compression: 0x1,
  filetype: 0x2,
  needs_recovery: 0x4,
  journal_dev: 0x8,
  meta_bg: 0x10,
  extent: 0x40,
  "64bit": 0x80,
  mmp: 0x100,
  flex_bg: 0x200,
  ea_inode: 0x400,
  dirdata: 0x1000,
  metadata_csum_seed: 0x2000,
  large_dir: 0x4000,
  inline_data: 0x8000,
  encrypt: 0x10000,
  casefold: 0x20000,
} as const;

export const RO_COMPAT = {
  sparse_super: 0x1,
  large_file: 0x2,
  btree_dir: 0x4,
  huge_file: 0x8,
  gdt_csum: 0x10,
  dir_nlink: 0x20,
  extra_isize: 0x40,
  snapshot: 0x80,
  quota: 0x100,
  bigalloc: 0x200,
  metadata_csum: 0x400,
  replica: 0x800,
  read_only: 0x1000,
  project: 0x2000,
  shared_blocks: 0x4000,
  verity: 0x8000,
  orphan_present: 0x10000,
} as const;

/** What the reader understands (incompat: unknown bits make a filesystem unreadable). */
const READ_INCOMPAT = INCOMPAT.filetype | INCOMPAT.needs_recovery | INCOMPAT.meta_bg | INCOMPAT.extent | INCOMPAT["64bit"] | INCOMPAT.mmp | INCOMPAT.flex_bg | INCOMPAT.ea_inode | INCOMPAT.metadata_csum_seed | INCOMPAT.large_dir | INCOMPAT.inline_data | INCOMPAT.casefold;

/** What the writer keeps right; anything else set makes a writable open refuse, naming it. */
const WRITE_COMPAT = COMPAT.dir_prealloc | COMPAT.has_journal | COMPAT.ext_attr | COMPAT.resize_inode | COMPAT.dir_index | COMPAT.fast_commit | COMPAT.stable_inodes | COMPAT.orphan_file;
const WRITE_INCOMPAT = INCOMPAT.filetype | INCOMPAT.meta_bg | INCOMPAT.extent | INCOMPAT["64bit"] | INCOMPAT.flex_bg | INCOMPAT.metadata_csum_seed | INCOMPAT.large_dir | INCOMPAT.inline_data;
const WRITE_RO_COMPAT = RO_COMPAT.sparse_super | RO_COMPAT.large_file | RO_COMPAT.btree_dir | RO_COMPAT.huge_file | RO_COMPAT.gdt_csum | RO_COMPAT.dir_nlink | RO_COMPAT.extra_isize | RO_COMPAT.metadata_csum;

export const STATE_VALID = 0x1;
export const STATE_ERROR = 0x2;
const FLAG_UNSIGNED_HASH = 0x2;

function names(table: Record<string, number>, bits: number): string[] {
  const out = Object.entries(table).filter(([, bit]) => bits & bit).map(([name]) => name);
  let unknown = bits;
  for (const bit of Object.values(table)) unknown &= ~bit;
  if (unknown) out.push(`unknown 0x${(unknown >>> 0).toString(16)}`);
  return out;
}

/** Whether the group numbered `group` holds a superblock and descriptor backup. */
export function hasSuperblockBackup(group: number, sparse: boolean): boolean {
  if (!sparse || group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let n = base;
    while (n < group) n *= base;
    if (n === group) return true;
  }
  return false;
}

/** The superblock's geometry and features; `bytes` is the live 1024-byte copy a writer changes. */
export class Superblock {
  readonly blockSize: number;
  readonly blocksCount: number;
  readonly inodesCount: number;
  readonly inodesPerGroup: number;
  readonly blocksPerGroup: number;
  readonly firstDataBlock: number;
  readonly inodeSize: number;
  readonly descSize: number;
  readonly groupCount: number;
  readonly compat: number;
  readonly incompat: number;
  readonly roCompat: number;
  readonly firstMetaBg: number;
  readonly firstInode: number;
  readonly reservedGdtBlocks: number;
  readonly wantExtraIsize: number;
  readonly revision: number;
  /** Blocks per bitmap bit (bigalloc clusters); 1 everywhere else. */
  readonly clusterRatio: number;

  constructor(readonly bytes: Uint8Array, deviceSize: number) {
    const dv = view(bytes);
    const logBlock = dv.getUint32(0x18, true);
    if (logBlock > 6) throw corrupt(`the ext superblock claims a block size of 2^${10 + logBlock} bytes`);
    this.blockSize = 1024 << logBlock;
    this.compat = dv.getUint32(0x5c, true);
    this.incompat = dv.getUint32(0x60, true);
    this.roCompat = dv.getUint32(0x64, true);
    if (this.incompat & ~READ_INCOMPAT) {
      throw new InspectError("INSPECT_UNSUPPORTED", `this ext filesystem uses features leapp cannot read (${names(INCOMPAT, this.incompat & ~READ_INCOMPAT).join(", ")})`);
    }
    const is64 = this.has64bit;
    this.blocksCount = dv.getUint32(0x4, true) + (is64 ? dv.getUint32(0x150, true) * 2 ** 32 : 0);
    this.inodesCount = dv.getUint32(0x0, true);
    this.firstDataBlock = dv.getUint32(0x14, true);
    this.blocksPerGroup = dv.getUint32(0x20, true);
    this.inodesPerGroup = dv.getUint32(0x28, true);
    this.revision = dv.getUint32(0x4c, true);
    this.inodeSize = this.revision === 0 ? 128 : dv.getUint16(0x58, true);
    this.firstInode = this.revision === 0 ? 11 : dv.getUint32(0x54, true);
    this.descSize = is64 ? dv.getUint16(0xfe, true) : 32;
    this.firstMetaBg = dv.getUint32(0x104, true);
    this.reservedGdtBlocks = dv.getUint16(0xce, true);
    this.wantExtraIsize = dv.getUint16(0x15e, true);
    // With bigalloc a bitmap bit stands for a cluster of blocks, so a group spans more blocks.
    const logCluster = dv.getUint32(0x1c, true);
    this.clusterRatio = this.hasRoCompat(RO_COMPAT.bigalloc) && logCluster > logBlock && logCluster - logBlock <= 16 ? 2 ** (logCluster - logBlock) : 1;
    if (this.blocksPerGroup === 0 || this.blocksPerGroup > this.blockSize * 8 * this.clusterRatio) throw corrupt(`the ext superblock claims ${this.blocksPerGroup} blocks per group`);
    if (this.inodesPerGroup === 0 || this.inodesPerGroup > this.blockSize * 8) throw corrupt(`the ext superblock claims ${this.inodesPerGroup} inodes per group`);
    if (this.inodeSize < 128 || this.inodeSize > this.blockSize || (this.inodeSize & (this.inodeSize - 1)) !== 0) throw corrupt(`the ext superblock claims ${this.inodeSize}-byte inodes`);
    if (is64 && (this.descSize < 32 || this.descSize > 1024 || (this.descSize & (this.descSize - 1)) !== 0)) throw corrupt(`the ext superblock claims ${this.descSize}-byte group descriptors`);
    if (this.blocksCount * this.blockSize > deviceSize) throw corrupt(`the ext filesystem claims ${this.blocksCount} blocks of ${this.blockSize} bytes, more than its ${deviceSize}-byte device holds`);
    if (this.firstDataBlock >= this.blocksCount) throw corrupt("the ext superblock's first data block lies past its end");
    this.groupCount = Math.ceil((this.blocksCount - this.firstDataBlock) / this.blocksPerGroup);
    if (this.inodesCount > this.groupCount * this.inodesPerGroup) throw corrupt(`the ext superblock claims ${this.inodesCount} inodes in ${this.groupCount} groups`);
    if (this.firstInode < 3 || this.firstInode > this.inodesCount) throw corrupt(`the ext superblock's first ordinary inode is ${this.firstInode}`);
  }

  get has64bit(): boolean {
    return (this.incompat & INCOMPAT["64bit"]) !== 0;
  }
  hasCompat(bit: number): boolean {
    return (this.compat & bit) !== 0;
  }
  hasIncompat(bit: number): boolean {
    return (this.incompat & bit) !== 0;
  }
  hasRoCompat(bit: number): boolean {
    return (this.roCompat & bit) !== 0;
  }
  get uuid(): Uint8Array {
    return this.bytes.subarray(0x68, 0x78);
  }
  get journalInode(): number {
    return view(this.bytes).getUint32(0xe0, true);
  }
  get state(): number {
    return view(this.bytes).getUint16(0x3a, true);
  }
  set state(value: number) {
    view(this.bytes).setUint16(0x3a, value, true);
  }
  get lastOrphan(): number {
    return view(this.bytes).getUint32(0xe8, true);
  }
  get freeBlocks(): number {
    const dv = view(this.bytes);
    return dv.getUint32(0xc, true) + (this.has64bit ? dv.getUint32(0x158, true) * 2 ** 32 : 0);
  }
  set freeBlocks(value: number) {
    const dv = view(this.bytes);
    dv.setUint32(0xc, value % 2 ** 32, true);
    if (this.has64bit) dv.setUint32(0x158, Math.floor(value / 2 ** 32), true);
  }
  get freeInodes(): number {
    return view(this.bytes).getUint32(0x10, true);
  }
  set freeInodes(value: number) {
    view(this.bytes).setUint32(0x10, value, true);
  }
  get reservedBlocks(): number {
    const dv = view(this.bytes);
    return dv.getUint32(0x8, true) + (this.has64bit ? dv.getUint32(0x154, true) * 2 ** 32 : 0);
  }
  /** The effective htree hash version of new directories (unsigned variants +3). */
  get defaultHashVersion(): number {
    return this.bytes[0xfc]!;
  }
  get unsignedHash(): boolean {
    return (view(this.bytes).getUint32(0x160, true) & FLAG_UNSIGNED_HASH) !== 0;
  }
  get hashSeed(): Uint32Array {
    const dv = view(this.bytes);
    return Uint32Array.from([0, 4, 8, 12], (at) => dv.getUint32(0xec + at, true));
  }
  /** s_checksum_seed, used instead of the UUID's CRC with metadata_csum_seed. */
  get checksumSeed(): number | undefined {
    return this.hasIncompat(INCOMPAT.metadata_csum_seed) ? view(this.bytes).getUint32(0x270, true) : undefined;
  }

  /** Refuses (INSPECT_UNSUPPORTED, naming them) the features the writer does not keep right. */
  checkWritable(): void {
    const unsupported = [
      ...names(COMPAT, this.compat & ~WRITE_COMPAT),
      ...names(INCOMPAT, this.incompat & ~WRITE_INCOMPAT & ~INCOMPAT.needs_recovery),
      ...names(RO_COMPAT, this.roCompat & ~WRITE_RO_COMPAT & ~RO_COMPAT.orphan_present),
    ];
    if (unsupported.length > 0) {
      throw new InspectError("INSPECT_UNSUPPORTED", `leapp cannot write this ext filesystem: it uses ${unsupported.join(", ")}; change a copy with the kernel or e2fsprogs (debugfs) instead`);
    }
    if (this.revision === 0) throw new InspectError("INSPECT_UNSUPPORTED", "leapp cannot write revision-0 ext2 filesystems (fixed 128-byte inodes, no features); tune2fs -O has no effect there, use a copy made with mke2fs -d");
  }

  /** Refuses (INSPECT_DIRTY) a filesystem that needs fsck or a journal replay before anything writes it. */
  checkClean(): void {
    const advice = "run e2fsck on it (or mount it once) so it is consistent, then open it again";
    if (this.hasIncompat(INCOMPAT.needs_recovery)) throw new InspectError("INSPECT_DIRTY", `this ext filesystem's journal holds changes not yet written home (it was not cleanly unmounted); ${advice}`);
    if (this.hasRoCompat(RO_COMPAT.orphan_present) || this.lastOrphan !== 0) throw new InspectError("INSPECT_DIRTY", `this ext filesystem has orphaned inodes to release (files deleted while still open); ${advice}`);
    if (this.state & STATE_ERROR) throw new InspectError("INSPECT_DIRTY", `this ext filesystem is marked as having errors; ${advice}`);
    if (!(this.state & STATE_VALID)) throw new InspectError("INSPECT_DIRTY", `this ext filesystem is marked not clean (mounted, or interrupted while being written); ${advice}`);
  }
}
