// The README's ext writing example, run verbatim on a real qcow2 image whose ext4 was made by
// mke2fs -d (the example puts its overlay on it); then e2fsck and the kernel check what it did.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { e2fsckClean } from "./ext-write-variants.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-readme-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("the README's writing example runs as written", async () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("### Writing ext2/3/4"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  const tree = join(work, "tree");
  mkdirSync(join(tree, "etc"), { recursive: true });
  writeFileSync(join(tree, "etc", "issue"), "CentOS release 6.10\n");
  run("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, join(work, "guest.raw"), "64M"]);
  run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", join(work, "guest.raw"), join(work, "guest.qcow2")]);
  const baseBefore = readFileSync(join(work, "guest.qcow2"));
  writeFileSync(join(work, "example.ts"), code);
  const cwd = process.cwd();
  process.chdir(work);
  try {
    await import(join(work, "example.ts"));
  } finally {
    process.chdir(cwd);
  }
  run("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", join(work, "guest-overlay.qcow2"), join(work, "after.raw")]);
  e2fsckClean(join(work, "after.raw"));
  const mnt = join(work, "mnt");
  mkdirSync(mnt);
  run("mount", ["-o", "ro,loop", join(work, "after.raw"), mnt]);
  try {
    expect(readFileSync(join(mnt, "etc/leapp/converted"), "utf8")).toBe("kvm\n");
    expect(readFileSync(join(mnt, "etc/issue"), "utf8")).toBe("CentOS release 6.10\n");
    expect(readlinkSync(join(mnt, "etc/issue"))).toBe("issue.orig");
    expect(execFileSync("getfattr", ["-n", "security.selinux", "--only-values", join(mnt, "etc/leapp/converted")], { encoding: "utf8" })).toBe("system_u:object_r:etc_t:s0\0");
  } finally {
    run("umount", [mnt]);
  }
  // The example wrote to its overlay only.
  expect(readFileSync(join(work, "guest.qcow2")).equals(baseBefore)).toBe(true);
});
