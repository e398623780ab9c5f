// Extended attributes in every XFS form, written by the kernel (short-form, leaf, node, remote
// values; user, trusted and security namespaces), read by our reader exactly as getfattr shows
// them; then changed by our writer (every form, node form rewritten whole) and read back by the
// kernel, xfs_repair -n finding nothing.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { xfsRepairClean } from "./xfs-write-variants.js";
import { openXfs, xfsDriver } from "./xfs.js";

/** Every attribute of every file below a mount, as getfattr reports them (path → name → hex). */
function kernelAttrs(mountpoint: string): Map<string, Map<string, string>> {
  const dump = spawnSync("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", mountpoint], { encoding: "latin1", maxBuffer: 1 << 28 });
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of dump.stdout.split("\n")) {
    if (line.startsWith("# file: ")) out.set(Buffer.from(line.slice(8 + mountpoint.length) || "/", "latin1").toString("utf8"), (current = new Map()));
    else if (current && line.includes("=0x")) current.set(line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=0x") + 3));
  }
  return out;
}

function setfattr(path: string, name: string, value: Buffer): void {
  execFileSync("setfattr", ["-h", "-n", name, "-v", `0x${value.toString("hex")}`, path]);
}

describe("XFS extended attributes", () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-xfs-attrs-"));
  const mountpoint = join(work, "mnt");
  mkdirSync(mountpoint);
  afterAll(() => {
    spawnSync("umount", [mountpoint]);
    rmSync(work, { recursive: true, force: true });
  });

  for (const [label, mkfs] of [
    ["XFS v5", []],
    ["XFS v5 with 1 KiB blocks", ["-b", "size=1024"]],
  ] as const) {
    it(`${label}: short-form, leaf, node and remote attributes read as the kernel shows them; written ones read back by the kernel`, async () => {
      const image = join(work, `${label.replace(/\W+/g, "-")}.img`);
      run("truncate", ["-s", "96M", image]);
      run("env", ["TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1", "mkfs.xfs", "-q", "-f", ...mkfs, image]);
      run("mount", ["-o", "loop", image, mountpoint]);
      try {
        const file = (name: string) => {
          writeFileSync(join(mountpoint, name), `${name}\n`);
          return join(mountpoint, name);
        };
        setfattr(file("short"), "user.a", Buffer.from("1"));
        setfattr(join(mountpoint, "short"), "security.selinux", Buffer.from("system_u:object_r:etc_t:s0\0"));
        setfattr(join(mountpoint, "short"), "trusted.t", Buffer.from("root only"));
        const leaf = file("leaf");
        for (let i = 0; i < 12; i++) setfattr(leaf, `user.leaf-${i}`, Buffer.alloc(40 + i, i));
        const node = file("node");
        for (let i = 0; i < 400; i++) setfattr(node, `user.node-attribute-${i}`, Buffer.alloc(30, i & 0xff));
        setfattr(file("remote"), "user.big", Buffer.alloc(20_000, 0x5a));
        setfattr(join(mountpoint, "remote"), "trusted.big2", Buffer.alloc(3_000, 0x33));
        mkdirSync(join(mountpoint, "dir"));
        setfattr(join(mountpoint, "dir"), "user.dir", Buffer.from("on a directory"));
        symlinkSync("target", join(mountpoint, "link"));
        setfattr(join(mountpoint, "link"), "security.selinux", Buffer.from("system_u:object_r:bin_t:s0\0"));
      } finally {
        run("umount", [mountpoint]);
      }
      // The kernel chose every form: short-form in the inode, one leaf block, a node over leaves.
      const form = (name: string, commands: string[]) => run("xfs_db", ["-r", "-c", `path /${name}`, ...commands.flatMap((c) => ["-c", c]), image]);
      expect(form("short", ["p core.aformat"])).toContain("local");
      expect(form("leaf", ["ablock 0", "p"])).toMatch(/magic = 0x3bee/);
      expect(form("node", ["ablock 0", "p"])).toMatch(/magic = 0x3ebe/);
      run("mount", ["-o", "ro,loop", image, mountpoint]);
      const expected = kernelAttrs(mountpoint);
      run("umount", [mountpoint]);

      const reader = await openXfs(await openDisk(image, { format: "raw" }));
      for (const name of ["short", "leaf", "node", "remote", "dir", "link"]) {
        const ours = await reader.xattrs(`/${name}`);
        const want = expected.get(`/${name}`)!;
        expect(new Map([...ours].map(([k, v]) => [k, Buffer.from(v).toString("hex")])), name).toEqual(want);
      }
      expect((await reader.xattrs("/node")).size).toBe(400);
      await reader.close();

      // Our writer: change short-form and leaf attributes, add one that moves a fork to a leaf
      // with a remote value, and refuse what needs a node form.
      const device = await openDisk(image, { format: "raw", writable: true });
      const fs = await xfsDriver.open(device, { writable: true });
      await fs.setxattr("/short", "user.b", Buffer.from("two"));
      await fs.removexattr("/short", "trusted.t");
      await fs.setxattr("/leaf", "user.leaf-3", Buffer.from("replaced"));
      await fs.removexattr("/leaf", "user.leaf-0");
      await fs.setxattr("/dir", "user.large", Buffer.alloc(5_000, 0x77));
      await fs.setxattr("/link", "security.ima", Buffer.from("0401", "hex"));
      await expect(fs.setxattr("/link", "user.x", Buffer.from("no"))).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
      // Node form, rewritten whole: one more attribute, one fewer, a remote value among them.
      await fs.setxattr("/node", "user.one-more", Buffer.from("x"));
      await fs.removexattr("/node", "user.node-attribute-7");
      await fs.setxattr("/node", "user.node-large", Buffer.alloc(6_000, 0x44));
      await expect(fs.removexattr("/short", "user.missing")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
      await expect(fs.setxattr("/short", "os2.x", Buffer.from("x"))).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
      // Reads through the same filesystem see the changes before they are flushed.
      expect(Buffer.from((await fs.xattrs("/leaf")).get("user.leaf-3")!).toString()).toBe("replaced");
      await fs.flush();
      await fs.close();
      await device.close();
      xfsRepairClean(image);
      run("mount", ["-o", "ro,loop", image, mountpoint]);
      const after = kernelAttrs(mountpoint);
      run("umount", [mountpoint]);
      expect(after.get("/short")!.get("user.b")).toBe(Buffer.from("two").toString("hex"));
      expect(after.get("/short")!.has("trusted.t")).toBe(false);
      expect(after.get("/leaf")!.get("user.leaf-3")).toBe(Buffer.from("replaced").toString("hex"));
      expect(after.get("/leaf")!.size).toBe(11);
      expect(after.get("/dir")!.get("user.large")).toBe(Buffer.alloc(5_000, 0x77).toString("hex"));
      expect(after.get("/dir")!.get("user.dir")).toBe(Buffer.from("on a directory").toString("hex"));
      expect(after.get("/link")!.get("security.ima")).toBe("0401");
      const node = new Map(expected.get("/node"));
      node.delete("user.node-attribute-7");
      node.set("user.one-more", "78");
      node.set("user.node-large", Buffer.alloc(6_000, 0x44).toString("hex"));
      expect(after.get("/node")).toEqual(node);
      expect(form("node", ["ablock 0", "p"])).toMatch(/magic = 0x3ebe/);
      expect(after.get("/remote")).toEqual(expected.get("/remote"));
    });
  }
});
