// Journal replay: transactions written into real ext3/ext4 journals with debugfs (jo/jw/jc — the
// e2fsprogs tools' own journal writer), read by our driver as e2fsck would replay them, and
// compared with a copy that e2fsck -fy really replayed.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { openExt } from "./ext.js";
import type { Filesystem } from "../filesystem.js";
import { fileDevice, run } from "../../block/volumes-test-support.js";

const work = mkdtempSync(join(tmpdir(), "leapp-journal-"));

/** Every path of `a` and `b` has the same type, mode, size, owner, content and link target. */
async function sameTree(a: Filesystem, b: Filesystem, path = "/"): Promise<number> {
  const [sa, sb] = [await a.lstat(path), await b.lstat(path)];
  expect({ ...sa, mtimeMs: 0 }, path).toEqual({ ...sb, mtimeMs: 0 });
  let count = 1;
  if (sa.type === "directory") {
    const names = (await a.readdir(path)).sort();
    expect(names, path).toEqual((await b.readdir(path)).sort());
    for (const name of names) count += await sameTree(a, b, path === "/" ? `/${name}` : `${path}/${name}`);
  } else if (sa.type === "file") {
    expect(Buffer.from(await a.readFile(path)).equals(Buffer.from(await b.readFile(path))), path).toBe(true);
  } else if (sa.type === "symlink") {
    expect(await a.readlink(path)).toBe(await b.readlink(path));
  }
  return count;
}

function e2fsckReplay(image: string): string {
  const replayed = `${image}.replayed`;
  copyFileSync(image, replayed);
  const result = spawnSync("e2fsck", ["-fy", replayed], { encoding: "utf8" });
  if (result.status !== 0 && result.status !== 1) throw new Error(`e2fsck -fy failed (${result.status}): ${result.stdout}${result.stderr}`);
  return replayed;
}

const block = (text: Uint8Array) => {
  const b = Buffer.alloc(4096);
  Buffer.from(text).copy(b);
  return b;
};

for (const type of ["ext4", "ext3"] as const) {
  describe(`${type} journal replay`, () => {
    it("applies committed transactions, honours revokes and un-escapes blocks that began with the journal magic", async () => {
      const tree = join(work, `${type}-tree`);
      mkdirSync(join(tree, "etc"), { recursive: true });
      writeFileSync(join(tree, "etc", "hostname"), "old-hostname\n");
      for (let i = 0; i < 40; i++) writeFileSync(join(tree, "etc", `f${i}`), `file ${i}\n`);
      const image = join(work, `${type}.img`);
      run(`mkfs.${type}`, ["-q", "-F", "-b", "4096", "-d", tree, image, "32M"]);
      const bmap = (path: string) => run("debugfs", ["-R", `bmap ${path} 0`, image]).trim();
      const [hostname, f1, f2] = [bmap("/etc/hostname"), bmap("/etc/f1"), bmap("/etc/f2")];
      const files = {
        hostname: join(work, `${type}-hostname.blk`),
        f1: join(work, `${type}-f1.blk`),
        f2: join(work, `${type}-f2.blk`),
      };
      writeFileSync(files.hostname, block(new TextEncoder().encode("new-hostname\n")));
      writeFileSync(files.f1, block(new TextEncoder().encode("revoked later\n")));
      writeFileSync(files.f2, block(Uint8Array.of(0xc0, 0x3b, 0x39, 0x98, ...new TextEncoder().encode(" escaped\n"))));
      // One debugfs run per transaction: within one run, each `jo` starts the log over.
      const transactions = [`jw -b ${hostname} ${files.hostname}`, `jw -b ${f1} ${files.f1}`, `jw -r ${f1}`, `jw -b ${f2} ${files.f2}`];
      for (const [i, write] of transactions.entries()) {
        const commands = join(work, `${type}-${i}.cmds`);
        writeFileSync(commands, ["jo", write, "jc", ""].join("\n"));
        run("debugfs", ["-w", "-f", commands, image]);
      }
      expect(run("debugfs", ["-R", "logdump", image]).match(/type 2 \(commit block\)/g)?.length).toBe(4);
      expect(run("dumpe2fs", ["-h", image])).toContain("needs_recovery");

      const dirty = await openExt(fileDevice(image));
      expect(dirty.replayedBlocks).toBe(2); // hostname and f2; f1's copy is revoked
      expect(new TextDecoder().decode(await dirty.readFile("/etc/hostname"))).toBe("new-hostname\n");
      expect(new TextDecoder().decode(await dirty.readFile("/etc/f1"))).toBe("file 1\n");
      expect(Array.from((await dirty.readFile("/etc/f2")).subarray(0, 4))).toEqual([0xc0, 0x3b, 0x39, 0x98]);
      const replayed = await openExt(fileDevice(e2fsckReplay(image)));
      expect(await sameTree(dirty, replayed)).toBeGreaterThan(40);
    });
  });
}
