// Extended attributes against the kernel: attributes and POSIX ACLs set through a real ext4 mount
// (in the inode body, in attribute blocks, and in blocks the kernel shares between inodes with a
// reference count) read by our reader exactly as getfattr reads them; then changed by our writer —
// a shared block copied on write, its count kept — and read back by the kernel, fsck-clean.
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { fileDevice, run } from "../../block/volumes-test-support.js";
import { e2fsckClean } from "./ext-write-variants.js";
import { extDriver, openExt } from "./ext.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-xattr-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Mounts `image` (read-write or read-only), runs `body` with the mount point, unmounts. */
function mounted<T>(image: string, options: string, body: (dir: string) => T): T {
  const dir = mkdtempSync(join(work, "mnt-"));
  run("mount", ["-o", `${options},loop`, image, dir]);
  try {
    return body(dir);
  } finally {
    run("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every attribute of each path as the kernel returns it, `name → hex`. */
function kernelXattrs(dir: string, paths: string[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const path of paths) {
    const text = run("getfattr", ["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", join(dir, path)]);
    const attrs = new Map<string, string>();
    for (const line of text.split("\n")) {
      const eq = line.indexOf("=0x");
      if (eq > 0) attrs.set(line.slice(0, eq), line.slice(eq + 3));
    }
    out.set(path, attrs);
  }
  return out;
}

const hexOf = (attrs: Map<string, Uint8Array>) => new Map([...attrs].map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
const debugfsAcl = (image: string, path: string) => /File ACL: (\d+)/.exec(run("debugfs", ["-R", `stat ${path}`, image]))![1]!;

describe("ext extended attributes", () => {
  const image = join(work, "xattr.img");
  const paths = ["/small", "/acl", "/dir-acl", "/shared1", "/shared2", "/shared3", "/link"];
  const big = `0x${"ab".repeat(700)}`;

  it("reads what the kernel wrote (body, block, shared blocks, ACLs) as getfattr does", async () => {
    run("mkfs.ext4", ["-q", "-F", "-b", "4096", "-I", "256", image, "32M"]);
    mounted(image, "rw", (dir) => {
      writeFileSync(join(dir, "small"), "small\n");
      run("setfattr", ["-n", "user.note", "-v", "hello", join(dir, "small")]);
      run("setfattr", ["-n", "trusted.secret", "-v", "0x00ff10", join(dir, "small")]);
      run("setfattr", ["-n", "security.selinux", "-v", "system_u:object_r:etc_t:s0", join(dir, "small")]);
      writeFileSync(join(dir, "acl"), "acl\n");
      run("setfacl", ["-m", "u:1000:rw,g:100:r,m::rw", join(dir, "acl")]);
      mkdirSync(join(dir, "dir-acl"));
      run("setfacl", ["-d", "-m", "u:1001:rwx", join(dir, "dir-acl")]);
      // Identical attributes too big for the inode: the kernel shares one block among the three.
      for (const name of ["shared1", "shared2", "shared3"]) {
        writeFileSync(join(dir, name), `${name}\n`);
        run("setfattr", ["-n", "user.big", "-v", big, join(dir, name)]);
        run("setfattr", ["-n", "user.tag", "-v", "same", join(dir, name)]);
      }
      execFileSync("ln", ["-s", "small", join(dir, "link")]);
      run("setfattr", ["-h", "-n", "trusted.onlink", "-v", "l", join(dir, "link")]);
    });
    e2fsckClean(image);
    expect(new Set(["/shared1", "/shared2", "/shared3"].map((p) => debugfsAcl(image, p))).size).toBe(1);
    const kernel = mounted(image, "ro", (dir) => kernelXattrs(dir, paths));
    expect(kernel.get("/acl")!.has("system.posix_acl_access")).toBe(true);
    expect(kernel.get("/dir-acl")!.has("system.posix_acl_default")).toBe(true);
    const fs = await openExt(fileDevice(image));
    for (const path of paths) expect(hexOf(await fs.xattrs(path)), path).toEqual(kernel.get(path));
    await fs.close();
  });

  it("writes them back: a shared block is copied on write, its count kept; ACLs in the kernel's form", async () => {
    const before = mounted(image, "ro", (dir) => kernelXattrs(dir, paths));
    const shared = debugfsAcl(image, "/shared1");
    const device = await openDisk(image, { format: "raw", writable: true });
    const fs = await extDriver.open(device, { writable: true });
    await fs.setxattr("/shared1", "user.big", Buffer.alloc(700, 0xcd));
    await fs.removexattr("/shared2", "user.tag");
    await fs.setxattr("/small", "system.posix_acl_access", Buffer.from(before.get("/acl")!.get("system.posix_acl_access")!, "hex"));
    await fs.removexattr("/small", "trusted.secret");
    await fs.setxattr("/small", "user.long", Buffer.alloc(300, 0x41));
    await expect(fs.setxattr("/link", "user.nope", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_INVALID" });
    await expect(fs.setxattr("/small", "system.other", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
    await expect(fs.setxattr("/small", "user.", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_INVALID_NAME" });
    await expect(fs.removexattr("/small", "user.absent")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    await expect(fs.setxattr("/shared3", "user.huge", Buffer.alloc(5000))).rejects.toMatchObject({ code: "INSPECT_NO_SPACE" });
    await fs.unlink("/shared3");
    // Visible at once through the same filesystem.
    expect(Buffer.from((await fs.xattrs("/shared1")).get("user.big")!)).toEqual(Buffer.alloc(700, 0xcd));
    await fs.close();
    await device.close();
    e2fsckClean(image);
    // shared1 got a block of its own; shared2 changed only its inode body (the kernel had put
    // user.tag there) and keeps the shared block, now its last user (shared3 is gone).
    expect(debugfsAcl(image, "/shared1")).not.toBe(shared);
    expect(debugfsAcl(image, "/shared2")).toBe(shared);
    const header = Buffer.alloc(8);
    const fd = openSync(image, "r");
    readSync(fd, header, 0, 8, Number(shared) * 4096);
    closeSync(fd);
    expect(header.readUInt32LE(0)).toBe(0xea020000);
    expect(header.readUInt32LE(4)).toBe(1);
    const after = mounted(image, "ro", (dir) => kernelXattrs(dir, paths.filter((p) => p !== "/shared3")));
    expect(after.get("/shared1")).toEqual(new Map([...before.get("/shared1")!, ["user.big", "cd".repeat(700)]]));
    expect(after.get("/shared2")).toEqual(new Map([...before.get("/shared2")!].filter(([k]) => k !== "user.tag")));
    const small = new Map([...before.get("/small")!].filter(([k]) => k !== "trusted.secret"));
    small.set("system.posix_acl_access", before.get("/acl")!.get("system.posix_acl_access")!);
    small.set("user.long", "41".repeat(300));
    expect(after.get("/small")).toEqual(small);
    expect(mounted(image, "ro", (dir) => run("getfacl", ["-n", "-p", join(dir, "small")]))).toContain("user:1000:rw-");
  });
});
