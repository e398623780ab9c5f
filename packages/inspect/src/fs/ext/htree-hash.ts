// The name hashes of ext3/ext4 hash-indexed (htree) directories: legacy, half-MD4 and TEA, each
// with the name's bytes taken as signed or unsigned chars (the superblock's s_flags tell which).

export const HASH_LEGACY = 0;
export const HASH_HALF_MD4 = 1;
export const HASH_TEA = 2;
/** Added to a hash version when the filesystem hashes names as unsigned chars. */
export const HASH_UNSIGNED_OFFSET = 3;

/** The hash the kernel never hands out: it marks the end of a readdir. */
const EOF_HASH = 0x7fffffff * 2;

function rol(x: number, s: number): number {
  return ((x << s) | (x >>> (32 - s))) >>> 0;
}

function halfMd4(buf: Uint32Array, input: Uint32Array): void {
  let [a, b, c, d] = [buf[0]!, buf[1]!, buf[2]!, buf[3]!];
  const F = (x: number, y: number, z: number) => z ^ (x & (y ^ z));
  const G = (x: number, y: number, z: number) => (x & y) + ((x ^ y) & z);
  const H = (x: number, y: number, z: number) => x ^ y ^ z;
  const K2 = 0o13240474631;
  const K3 = 0o15666365641;
  const round = (f: typeof F, w: number, x: number, y: number, z: number, k: number, s: number) => rol((w + f(x, y, z) + k) >>> 0, s);
  const rounds: Array<[typeof F, number, readonly number[], readonly number[]]> = [
    [F, 0, [0, 1, 2, 3, 4, 5, 6, 7], [3, 7, 11, 19]],
    [G, K2, [1, 3, 5, 7, 0, 2, 4, 6], [3, 5, 9, 13]],
    [H, K3, [3, 7, 2, 6, 1, 5, 0, 4], [3, 9, 11, 15]],
  ];
  for (const [f, k, order, shifts] of rounds) {
    for (let i = 0; i < 8; i += 4) {
      a = round(f, a, b, c, d, (input[order[i]!]! + k) >>> 0, shifts[0]!);
      d = round(f, d, a, b, c, (input[order[i + 1]!]! + k) >>> 0, shifts[1]!);
      c = round(f, c, d, a, b, (input[order[i + 2]!]! + k) >>> 0, shifts[2]!);
      b = round(f, b, c, d, a, (input[order[i + 3]!]! + k) >>> 0, shifts[3]!);
    }
  }
  buf[0] = buf[0]! + a;
  buf[1] = buf[1]! + b;
  buf[2] = buf[2]! + c;
  buf[3] = buf[3]! + d;
}

function tea(buf: Uint32Array, input: Uint32Array): void {
  let sum = 0;
  let b0 = buf[0]!;
  let b1 = buf[1]!;
  const [a, b, c, d] = [input[0]!, input[1]!, input[2]!, input[3]!];
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >>> 5) + b)) >>> 0)) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >>> 5) + d)) >>> 0)) >>> 0;
  }
  buf[0] = buf[0]! + b0;
  buf[1] = buf[1]! + b1;
}

/** Packs up to `words` × 4 name bytes into the hash input, padded with the remaining length. */
function packName(name: Uint8Array, from: number, words: number, signed: boolean, out: Uint32Array): void {
  const length = name.length - from;
  let pad = (length | (length << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let value = pad;
  let left = words;
  let at = 0;
  const take = Math.min(length, words * 4);
  for (let i = 0; i < take; i++) {
    const byte = name[from + i]!;
    const c = signed && byte > 127 ? byte - 256 : byte;
    value = (c + (value << 8)) >>> 0;
    if (i % 4 === 3) {
      out[at++] = value;
      value = pad;
      left--;
    }
  }
  if (--left >= 0) out[at++] = value;
  while (--left >= 0) out[at++] = pad;
}

function legacy(name: Uint8Array, signed: boolean): number {
  let hash0 = 0x12a3fe2d;
  let hash1 = 0x37abe8f9;
  for (const byte of name) {
    const c = signed && byte > 127 ? byte - 256 : byte;
    let hash = (hash1 + ((hash0 ^ Math.imul(c, 7152373)) >>> 0)) >>> 0;
    if (hash & 0x80000000) hash = (hash - 0x7fffffff) >>> 0;
    hash1 = hash0;
    hash0 = hash;
  }
  return (hash0 << 1) >>> 0;
}

/**
 * The major hash of a directory entry name: `version` is the effective hash version (0–5, the
 * unsigned variants being 3–5), `seed` the superblock's s_hash_seed as four words.
 */
export function nameHash(name: Uint8Array, version: number, seed: Uint32Array): number {
  const signed = version < HASH_UNSIGNED_OFFSET;
  const base = version % HASH_UNSIGNED_OFFSET;
  let hash: number;
  if (base === HASH_LEGACY) {
    hash = legacy(name, signed);
  } else {
    const buf = seed.some((w) => w !== 0) ? Uint32Array.from(seed) : Uint32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476);
    const input = new Uint32Array(8);
    const words = base === HASH_HALF_MD4 ? 8 : 4;
    for (let from = 0; from < name.length; from += words * 4) {
      packName(name, from, words, signed, input);
      if (base === HASH_HALF_MD4) halfMd4(buf, input);
      else tea(buf, input);
    }
    hash = base === HASH_HALF_MD4 ? buf[1]! : buf[0]!;
  }
  hash = (hash & ~1) >>> 0;
  return hash === EOF_HASH ? EOF_HASH - 2 : hash;
}
