import type { BlockDevice } from "@leapp/storage";
import { InspectError } from "../../errors.js";
import { corrupt, readBytes, view } from "../../block/volumes-io.js";

const JBD2_MAGIC = 0xc03b3998;
const BLOCK_DESCRIPTOR = 1;
const BLOCK_COMMIT = 2;
const BLOCK_SUPERBLOCK_V1 = 3;
const BLOCK_SUPERBLOCK_V2 = 4;
const BLOCK_REVOKE = 5;

const INCOMPAT_REVOKE = 0x1;
const INCOMPAT_64BIT = 0x2;
const INCOMPAT_ASYNC_COMMIT = 0x4;
const INCOMPAT_CSUM_V2 = 0x8;
const INCOMPAT_CSUM_V3 = 0x10;
const INCOMPAT_FAST_COMMIT = 0x20;
const INCOMPAT_KNOWN = INCOMPAT_REVOKE | INCOMPAT_64BIT | INCOMPAT_ASYNC_COMMIT | INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3 | INCOMPAT_FAST_COMMIT;

const TAG_ESCAPE = 0x1;
const TAG_SAME_UUID = 0x2;
const TAG_LAST = 0x8;

/** Where the newest committed copy of a filesystem block sits in the journal. */
export interface JournalCopy {
  /** Byte offset of the copy on the device. */
  position: number;
  /** The block began with the journal magic, which the journal stores zeroed. */
  escaped: boolean;
}

/**
 * Replays an ext3/ext4 (jbd2) journal read-only: walks the committed transactions from the
 * journal's start, honours revoke records, and returns the newest journal copy of each block —
 * what the kernel or e2fsck would write back before mounting. `journalBlock(n)` maps a journal
 * block to its byte offset on the device (the journal inode's block map).
 */
export async function replayJournal(
  device: BlockDevice,
  blockSize: number,
  journalBlocks: number,
  journalBlock: (n: number) => number,
): Promise<Map<number, JournalCopy>> {
  const read = (n: number) => readBytes(device, journalBlock(n), blockSize, `journal block ${n}`);
  const sb = await read(0);
  const sbv = view(sb);
  if (sbv.getUint32(0, false) !== JBD2_MAGIC) throw corrupt("the ext journal has no jbd2 superblock");
  const sbType = sbv.getUint32(4, false);
  if (sbType !== BLOCK_SUPERBLOCK_V1 && sbType !== BLOCK_SUPERBLOCK_V2) throw corrupt(`the ext journal superblock has type ${sbType}`);
  if (sbv.getUint32(12, false) !== blockSize) throw corrupt("the ext journal's block size differs from its filesystem's");
  const maxLength = Math.min(sbv.getUint32(16, false), journalBlocks);
  const first = sbv.getUint32(20, false);
  let sequence = sbv.getUint32(24, false);
  const start = sbv.getUint32(28, false);
  const replayed = new Map<number, JournalCopy>();
  if (start === 0) return replayed; // a clean journal
  if (first < 1 || first >= maxLength || start < first || start >= maxLength) throw corrupt("the ext journal superblock's log bounds are inconsistent");
  const incompat = sbType === BLOCK_SUPERBLOCK_V2 ? sbv.getUint32(40, false) : 0;
  if (incompat & ~INCOMPAT_KNOWN) throw new InspectError("INSPECT_UNSUPPORTED", `the ext journal uses features leapp cannot replay (0x${incompat.toString(16)}); run e2fsck on a copy of the image first`);
  const wide = (incompat & INCOMPAT_64BIT) !== 0;
  const csumV3 = (incompat & INCOMPAT_CSUM_V3) !== 0;
  const csumV2 = (incompat & INCOMPAT_CSUM_V2) !== 0;
  const tagBytes = csumV3 ? 16 : (csumV2 ? 14 : 12) - (wide ? 0 : 4);
  const tailBytes = csumV2 || csumV3 ? 4 : 0;

  const next = (n: number) => (n + 1 >= maxLength ? first : n + 1);
  interface Transaction {
    sequence: number;
    blocks: Array<{ target: number; at: number; escaped: boolean }>;
    revokes: number[];
  }
  const committed: Transaction[] = [];
  const revoked = new Map<number, number>(); // block → newest committed revoking sequence
  let pending: Transaction = { sequence, blocks: [], revokes: [] };
  let at = start;
  // Every log block is visited at most once: a log that does not end within maxLength is corrupt.
  for (let steps = 0; steps <= maxLength; steps++) {
    const block = await read(at);
    const bv = view(block);
    if (bv.getUint32(0, false) !== JBD2_MAGIC || bv.getUint32(8, false) !== sequence) break; // end of the log
    const type = bv.getUint32(4, false);
    if (type === BLOCK_DESCRIPTOR) {
      let offset = 12;
      const end = blockSize - tailBytes;
      let data = next(at);
      let tags = 0;
      while (offset + tagBytes <= end) {
        tags++;
        const low = bv.getUint32(offset, false);
        const flags = csumV3 ? bv.getUint32(offset + 4, false) : bv.getUint16(offset + 6, false);
        const high = wide ? bv.getUint32(offset + 8, false) : 0;
        pending.blocks.push({ target: high * 2 ** 32 + low, at: data, escaped: (flags & TAG_ESCAPE) !== 0 });
        if (pending.blocks.length > maxLength) throw corrupt("an ext journal transaction lists more blocks than the journal holds");
        data = next(data);
        offset += tagBytes + (flags & TAG_SAME_UUID ? 0 : 16);
        if (flags & TAG_LAST) break;
      }
      at = data;
      steps += tags;
      continue;
    }
    if (type === BLOCK_REVOKE) {
      const count = Math.min(bv.getUint32(12, false), blockSize - tailBytes);
      const size = wide ? 8 : 4;
      for (let offset = 16; offset + size <= count; offset += size) {
        const target = wide ? bv.getUint32(offset, false) * 2 ** 32 + bv.getUint32(offset + 4, false) : bv.getUint32(offset, false);
        pending.revokes.push(target);
        if (pending.revokes.length > maxLength * (blockSize / 4)) throw corrupt("an ext journal transaction revokes more blocks than the journal could hold");
      }
    } else if (type === BLOCK_COMMIT) {
      committed.push(pending);
      for (const target of pending.revokes) revoked.set(target, Math.max(revoked.get(target) ?? 0, sequence));
      sequence = (sequence + 1) >>> 0;
      pending = { sequence, blocks: [], revokes: [] };
    } else {
      break;
    }
    at = next(at);
  }
  // A block is not replayed from a transaction that a later (or the same) committed one revoked.
  for (const transaction of committed) {
    for (const { target, at: journalAt, escaped } of transaction.blocks) {
      const revokedBy = revoked.get(target);
      if (revokedBy !== undefined && revokedBy >= transaction.sequence) continue;
      replayed.set(target, { position: journalBlock(journalAt), escaped });
    }
  }
  return replayed;
}

/** A view of a device with journal copies laid over the blocks they replace. */
export function overlayJournal(device: BlockDevice, blockSize: number, copies: Map<number, JournalCopy>): BlockDevice {
  if (copies.size === 0) return device;
  const targets = [...copies.keys()].sort((a, b) => a - b);
  const magic = new Uint8Array([0xc0, 0x3b, 0x39, 0x98]);
  return {
    ...device,
    async read(buffer, position) {
      await device.read(buffer, position);
      const firstBlock = Math.floor(position / blockSize);
      const lastBlock = Math.floor((position + buffer.length - 1) / blockSize);
      // Binary search for the first replayed block in range.
      let lo = 0;
      let hi = targets.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (targets[mid]! < firstBlock) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < targets.length && targets[i]! <= lastBlock; i++) {
        const target = targets[i]!;
        const copy = copies.get(target)!;
        const data = await readBytes(device, copy.position, blockSize, `journal copy of block ${target}`);
        if (copy.escaped) data.set(magic, 0);
        const blockStart = target * blockSize;
        const from = Math.max(position, blockStart);
        const to = Math.min(position + buffer.length, blockStart + blockSize);
        buffer.set(data.subarray(from - blockStart, to - blockStart), from - position);
      }
    },
    async close() {},
  };
}
