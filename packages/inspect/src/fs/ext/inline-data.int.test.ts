// Inline data as mke2fs -d writes it — files whose bytes continue from i_block into the
// system.data attribute, directories kept in the inode — changed by our writer: truncated down
// and up, replaced, grown out of the inode, given attributes next to system.data; then e2fsck
// and the kernel check the result.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { afterAll, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { e2fsckClean } from "./ext-write-variants.js";
import { extDriver } from "./ext.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-inline-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => 65 + ((i * 7 + seed) % 26)));
const inlineSize = (image: string, path: string) => /Size of inline data: (\d+)/.exec(run("debugfs", ["-R", `stat ${path}`, image]))?.[1];

it("changes inline files and directories as mke2fs wrote them", async () => {
  const tree = join(work, "tree");
  mkdirSync(join(tree, "d"), { recursive: true });
  writeFileSync(join(tree, "long"), bytes(100, 1));
  writeFileSync(join(tree, "grow"), bytes(20, 2));
  writeFileSync(join(tree, "replace"), bytes(90, 3));
  writeFileSync(join(tree, "d", "one"), "1");
  writeFileSync(join(tree, "d", "two"), "2");
  const image = join(work, "inline.img");
  run("mke2fs", ["-q", "-F", "-t", "ext4", "-O", "inline_data", "-I", "256", "-d", tree, image, "32M"]);
  expect(inlineSize(image, "/long")).toBe("100");
  expect(run("debugfs", ["-R", "stat /d", image])).toMatch(/Flags: 0x10000000/);

  const device = await openDisk(image, { format: "raw", writable: true });
  const fs = await extDriver.open(device, { writable: true });
  await fs.truncate("/long", 30);
  await fs.truncate("/grow", 5000);
  await fs.writeFile("/replace", bytes(1000, 4));
  for (let i = 0; i < 30; i++) await fs.writeFile(`/d/entry-${i}`, Buffer.from(`${i}`));
  await fs.unlink("/d/one");
  await fs.writeFile("/small", bytes(40, 5));
  await fs.setxattr("/small", "user.k", Buffer.from("v"));
  await fs.setxattr("/small", "user.big", Buffer.alloc(500, 9));
  await fs.close();
  await device.close();
  e2fsckClean(image);
  expect(inlineSize(image, "/small")).toBeDefined();

  const mnt = join(work, "mnt");
  mkdirSync(mnt);
  run("mount", ["-o", "ro,loop", image, mnt]);
  try {
    expect(readFileSync(join(mnt, "long"))).toEqual(bytes(100, 1).subarray(0, 30));
    expect(readFileSync(join(mnt, "grow"))).toEqual(Buffer.concat([bytes(20, 2), Buffer.alloc(4980)]));
    expect(readFileSync(join(mnt, "replace"))).toEqual(bytes(1000, 4));
    expect(readFileSync(join(mnt, "small"))).toEqual(bytes(40, 5));
    expect(readdirSync(join(mnt, "d")).sort()).toEqual(["two", ...Array.from({ length: 30 }, (_, i) => `entry-${i}`)].sort());
    expect(run("getfattr", ["-d", "--only-values", "-n", "user.k", join(mnt, "small")])).toBe("v");
  } finally {
    run("umount", [mnt]);
  }
});
