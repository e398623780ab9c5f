// Password hashes for /etc/shadow, as glibc's crypt(3) makes them: SHA-512 crypt ("$6$", the
// default of every distribution since about 2008) and MD5 crypt ("$1$", for older guests).
import { createHash, randomBytes } from "node:crypto";

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** crypt's base64: 24 bits at a time, least significant six bits first. */
function b64From24(b2: number, b1: number, b0: number, chars: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = "";
  for (let i = 0; i < chars; i++) {
    out += ITOA64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

/** `length` bytes made by repeating `block`. */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += block.length) block.copy(out, at, 0, Math.min(block.length, length - at));
  return out;
}

/** A salt of `length` characters from crypt's alphabet. */
export function randomSalt(length: number): string {
  return Array.from(randomBytes(length), (b) => ITOA64[b & 0x3f]).join("");
}

const DEFAULT_ROUNDS = 5000;

/** SHA-512 crypt (Ulrich Drepper's specification, as glibc implements it). */
export function sha512Crypt(password: string, salt: string = randomSalt(16), rounds?: number): string {
  if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 1000 || rounds > 999_999_999)) throw new RangeError(`SHA-512 crypt rounds must be 1000 to 999999999, not ${rounds}`);
  const P = Buffer.from(password, "utf8");
  const S = Buffer.from(salt.slice(0, 16), "utf8");
  const sha = () => createHash("sha512");
  const B = sha().update(P).update(S).update(P).digest();
  const A = sha().update(P).update(S);
  let i: number;
  for (i = P.length; i > 64; i -= 64) A.update(B);
  A.update(B.subarray(0, i));
  for (i = P.length; i > 0; i >>= 1) A.update(i & 1 ? B : P);
  let C = A.digest();
  const dp = sha();
  for (i = 0; i < P.length; i++) dp.update(P);
  const Pbytes = repeatTo(dp.digest(), P.length);
  const ds = sha();
  for (i = 0; i < 16 + C[0]!; i++) ds.update(S);
  const Sbytes = repeatTo(ds.digest(), S.length);
  const n = rounds ?? DEFAULT_ROUNDS;
  for (let r = 0; r < n; r++) {
    const h = sha();
    h.update(r & 1 ? Pbytes : C);
    if (r % 3) h.update(Sbytes);
    if (r % 7) h.update(Pbytes);
    h.update(r & 1 ? C : Pbytes);
    C = h.digest();
  }
  // Bytes k, k+21, k+42, rotated by k mod 3, four characters each; the last byte alone.
  let encoded = "";
  for (let k = 0; k < 21; k++) {
    const t = [C[k]!, C[k + 21]!, C[k + 42]!];
    const s = k % 3;
    encoded += b64From24(t[s]!, t[(s + 1) % 3]!, t[(s + 2) % 3]!, 4);
  }
  encoded += b64From24(0, 0, C[63]!, 2);
  return `$6$${rounds === undefined ? "" : `rounds=${rounds}$`}${S.toString("utf8")}$${encoded}`;
}

/** MD5 crypt (Poul-Henning Kamp's, "$1$"): what glibc before 2.7 understands. */
export function md5Crypt(password: string, salt: string = randomSalt(8)): string {
  const P = Buffer.from(password, "utf8");
  const S = Buffer.from(salt.slice(0, 8), "utf8");
  const md5 = () => createHash("md5");
  const alt = md5().update(P).update(S).update(P).digest();
  const ctx = md5().update(P).update("$1$").update(S);
  for (let left = P.length; left > 0; left -= 16) ctx.update(alt.subarray(0, Math.min(16, left)));
  for (let i = P.length; i > 0; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : P.subarray(0, 1));
  let final = ctx.digest();
  for (let r = 0; r < 1000; r++) {
    const h = md5();
    h.update(r & 1 ? P : final);
    if (r % 3) h.update(S);
    if (r % 7) h.update(P);
    h.update(r & 1 ? final : P);
    final = h.digest();
  }
  const f = final;
  const encoded =
    b64From24(f[0]!, f[6]!, f[12]!, 4) + b64From24(f[1]!, f[7]!, f[13]!, 4) + b64From24(f[2]!, f[8]!, f[14]!, 4) + b64From24(f[3]!, f[9]!, f[15]!, 4) + b64From24(f[4]!, f[10]!, f[5]!, 4) + b64From24(0, 0, f[11]!, 2);
  return `$1$${S.toString("utf8")}$${encoded}`;
}
