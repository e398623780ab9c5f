// Fresh hashes with random salts and passwords (seeded) checked by a real crypt(3): glibc's,
// through python3's crypt module — what the guest's PAM (pam_unix) calls to check a password.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { seededRandom } from "@leapp/zoo";
import { md5Crypt, sha512Crypt } from "./crypt.js";

/** crypt(3) of each [password, setting] pair, by the host's libc. */
function hostCrypt(pairs: Array<[string, string]>): string[] {
  const script = "import crypt, json, sys\nfor p, s in json.load(sys.stdin): print(crypt.crypt(p, s))";
  const out = execFileSync("python3", ["-W", "ignore", "-c", script], { input: JSON.stringify(pairs), encoding: "utf8" });
  return out.trimEnd().split("\n");
}

describe("crypt against the host's crypt(3)", () => {
  it("agrees on 60 random passwords, SHA-512 and MD5", () => {
    const random = seededRandom(20240607);
    const alphabet = "abcXYZ019 !:$#\\'\"é€";
    const passwords = Array.from({ length: 30 }, () => Array.from({ length: Math.floor(random() * 90) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""));
    const ours = passwords.flatMap((p) => [sha512Crypt(p), md5Crypt(p)]);
    const theirs = hostCrypt(ours.map((hash, i) => [passwords[i >> 1]!, hash]));
    expect(theirs).toEqual(ours);
  });
});
