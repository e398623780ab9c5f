// Our htree name hashes against e2fsprogs' own: `debugfs -R "dx_hash -h <version> -s <seed> name"`
// for every hash version (legacy, half-MD4, TEA; signed and unsigned chars), seeded and not,
// over names of every length class, with bytes above 127 (where signed and unsigned differ).
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { seededRandom } from "@leapp/zoo";
import { nameHash } from "./htree-hash.js";

const SEED = "0f8f2b4c-9b1e-4d7a-8c1a-2b3c4d5e6f70";

function seedWords(uuid: string): Uint32Array {
  const bytes = Buffer.from(uuid.replace(/-/g, ""), "hex");
  return Uint32Array.from([0, 4, 8, 12], (at) => bytes.readUInt32LE(at));
}

describe("htree name hashes", () => {
  it("equal debugfs dx_hash for every version, seeded and not", () => {
    const random = seededRandom(7);
    const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-éüß€";
    const names: string[] = ["a", "ab", "abc", "abcd", "lost+found", "é", "x".repeat(255)];
    for (let i = 0; i < 60; i++) {
      const length = 1 + Math.floor(random() * (random() < 0.2 ? 120 : 40));
      let name = "";
      while (Buffer.byteLength(name) < length) name += alphabet[Math.floor(random() * alphabet.length)];
      names.push(name);
    }
    const work = mkdtempSync(join(tmpdir(), "leapp-dxhash-"));
    try {
      const commands: string[] = [];
      const expected: Array<{ name: string; version: number; seeded: boolean }> = [];
      for (const name of names) {
        for (let version = 0; version < 6; version++) {
          for (const seeded of [false, true]) {
            commands.push(`dx_hash -h ${version}${seeded ? ` -s ${SEED}` : ""} ${name}`);
            expected.push({ name, version, seeded });
          }
        }
      }
      writeFileSync(join(work, "commands"), `${commands.join("\n")}\n`);
      const output = run("debugfs", ["-f", join(work, "commands")]);
      const hashes = [...output.matchAll(/Hash of .* is (0x[0-9a-f]+)/g)].map((m) => Number(m[1]));
      expect(hashes.length).toBe(expected.length);
      const zero = new Uint32Array(4);
      const seeded = seedWords(SEED);
      let differing = 0;
      expected.forEach(({ name, version, seeded: withSeed }, i) => {
        const ours = nameHash(Buffer.from(name), version, withSeed ? seeded : zero);
        expect(ours, `${name} version ${version}${withSeed ? " seeded" : ""}`).toBe(hashes[i]);
        if (version < 3 && ours !== nameHash(Buffer.from(name), version + 3, withSeed ? seeded : zero)) differing++;
      });
      // The signed and unsigned variants really differ on names with bytes above 127.
      expect(differing).toBeGreaterThan(20);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
