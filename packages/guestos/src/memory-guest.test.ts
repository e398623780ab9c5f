import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDirectoryGuest } from "@leapp/inspect";
import { MemoryGuest } from "./memory-guest.js";

const root = mkdtempSync(join(tmpdir(), "guestos-mem-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, "etc/sub"), { recursive: true });
mkdirSync(join(root, "usr/lib/modules"), { recursive: true });
writeFileSync(join(root, "etc/fstab"), "/dev/xvda1 / ext4 defaults 1 1\n");
writeFileSync(join(root, "etc/sub/a"), "a\n");
symlinkSync("usr/lib", join(root, "lib"));
symlinkSync("../boot/grub.conf", join(root, "etc/grub.conf"));
mkdirSync(join(root, "boot"));
writeFileSync(join(root, "boot/grub.conf"), "kernel /vmlinuz root=/dev/xvda1\n");

const fresh = async () => new MemoryGuest(await openDirectoryGuest(root));
const read = async (g: MemoryGuest, p: string) => Buffer.from(await g.readFile(p)).toString();

describe("MemoryGuest", () => {
  it("writes land in memory, through the guest's own symlinks, and never on the source", async () => {
    const g = await fresh();
    await g.writeFile("/etc/fstab", Buffer.from("/dev/vda1 / ext4 defaults 1 1\n"));
    await g.mkdir("/lib/modules/6.1");
    await g.writeFile("/lib/modules/6.1/modules.dep", Buffer.from("x.ko:\n"));
    expect(await read(g, "/usr/lib/modules/6.1/modules.dep")).toBe("x.ko:\n");
    expect(await read(g, "/etc/fstab")).toContain("/dev/vda1");
    expect(readFileSync(join(root, "etc/fstab"), "utf8")).toContain("/dev/xvda1");
    // writeFile never follows a symlink at the path itself.
    await expect(g.writeFile("/etc/grub.conf", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_EXISTS" });
    expect(await g.readdir("/usr/lib/modules")).toEqual(["6.1"]);
    expect((await g.changes()).map((c) => `${c.change} ${c.path}`)).toEqual(["modified /etc/fstab", "created /usr/lib/modules/6.1", "created /usr/lib/modules/6.1/modules.dep"]);
  });

  it("removes, renames and links, and tells the difference as a diff", async () => {
    const g = await fresh();
    await g.rename("/etc/sub", "/etc/moved");
    expect(await read(g, "/etc/moved/a")).toBe("a\n");
    expect(await g.exists("/etc/sub/a")).toBe(false);
    await g.unlink("/etc/moved/a");
    await expect(g.readFile("/etc/moved/a")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    await g.symlink("/boot/grub.conf", "/etc/menu.lst");
    expect(await read(g, "/etc/menu.lst")).toContain("root=/dev/xvda1");
    await g.link("/boot/grub.conf", "/boot/hard");
    await g.writeFile("/boot/grub.conf", Buffer.from("kernel /vmlinuz root=/dev/vda1\n"));
    expect(await read(g, "/boot/hard")).toContain("/dev/vda1");
    await g.chmod("/boot/grub.conf", 0o600);
    expect((await g.stat("/boot/grub.conf")).mode).toBe(0o600);
    const diff = await g.diff();
    expect(diff).toContain("--- a/boot/grub.conf\n+++ b/boot/grub.conf\n@@ -1,1 +1,1 @@\n-kernel /vmlinuz root=/dev/xvda1\n+kernel /vmlinuz root=/dev/vda1\n");
    expect(diff).toContain("removed /etc/sub (directory)");
    expect(diff).toContain("created symlink /etc/menu.lst -> /boot/grub.conf");
    await expect(g.rmdir("/etc")).rejects.toMatchObject({ code: "INSPECT_NOT_EMPTY" });
    // The codes of the writable filesystems' conformance suite.
    await expect(g.link("/etc", "/etc2")).rejects.toMatchObject({ code: "INSPECT_INVALID" });
    await expect(g.rename("/etc", "/etc/moved/x")).rejects.toMatchObject({ code: "INSPECT_INVALID" });
    await expect(g.writeFile(`/${"x".repeat(256)}`, Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_INVALID_NAME" });
    await expect(g.mkdir("/a\0b")).rejects.toMatchObject({ code: "INSPECT_INVALID_NAME" });
    await expect(g.writeFile("/missing/file", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    await expect(g.writeFile("/etc/fstab/below", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_NOT_A_DIRECTORY" });
    await expect(g.unlink("/etc")).rejects.toMatchObject({ code: "INSPECT_IS_A_DIRECTORY" });
    await expect(g.mkdir("/etc")).rejects.toMatchObject({ code: "INSPECT_EXISTS" });
  });

  it("truncates, refuses loops, and stays the source's view until written", async () => {
    const g = await fresh();
    await g.truncate("/etc/fstab", 4);
    expect(await read(g, "/etc/fstab")).toBe("/dev");
    await g.symlink("/loop2", "/loop1");
    await g.symlink("/loop1", "/loop2");
    await expect(g.stat("/loop1")).rejects.toMatchObject({ code: "INSPECT_SYMLINK_LOOP" });
    const h = await fresh();
    expect(await h.changes()).toEqual([]);
    expect(await h.diff()).toBe("");
  });
});
