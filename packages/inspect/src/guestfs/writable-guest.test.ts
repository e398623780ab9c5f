// The writable guest over in-memory stand-in filesystems (see memory-filesystem-test-support.ts):
// path resolution, mount crossing and refusals. The ext and XFS writers are judged under it by
// fsck and the kernel in the customize integration tests.
import { describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import type { Filesystem } from "../fs/filesystem.js";
import { MemoryFilesystem } from "./memory-filesystem-test-support.js";
import { writableGuestFS, type GuestMount } from "./writable-guest.js";

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** A guest: root fs with /etc, /var (mountpoint), /srv/data (mountpoint) and a few links. */
async function guest(options: { readOnlySrv?: boolean } = {}) {
  const root = new MemoryFilesystem();
  const var_ = new MemoryFilesystem();
  const srv = new MemoryFilesystem();
  for (const d of ["/etc", "/var", "/srv", "/srv/data", "/usr", "/usr/share"]) await root.mkdir(d);
  await root.writeFile("/etc/hostname", text("old\n"));
  await root.symlink("/var/lib", "/etc/alt"); // absolute: the guest's /var, never the host's
  await root.symlink("../../../../..", "/usr/share/up"); // climbs past / and stops there
  await root.symlink("loop-b", "/etc/loop-a");
  await root.symlink("loop-a", "/etc/loop-b");
  await root.symlink("new-file", "/etc/dangling");
  await var_.mkdir("/lib");
  const readOnly: Filesystem = {
    type: "vfat",
    uuid: undefined,
    label: undefined,
    writable: false,
    lstat: (p) => srv.lstat(p),
    readdir: (p) => srv.readdir(p),
    readFile: (p, o) => srv.readFile(p, o),
    openFile: (p) => srv.openFile(p),
    readlink: (p) => srv.readlink(p),
    xattrs: (p) => srv.xattrs(p),
    freeRanges: () => srv.freeRanges(),
    close: () => srv.close(),
  };
  const mounts: GuestMount[] = [
    { mountpoint: "/", fs: root, device: "/dev/sda1" },
    { mountpoint: "/var", fs: var_, device: "/dev/sda2" },
    { mountpoint: "/srv/data", fs: options.readOnlySrv ? readOnly : srv, device: "/dev/sdb1" },
  ];
  let closedDisks = false;
  const g = writableGuestFS(mounts, async () => {
    closedDisks = true;
  });
  return { g, root, var_, srv, closedDisks: () => closedDisks };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InspectError) return err.code;
    throw err;
  }
  return "succeeded";
}

describe("writableGuestFS", () => {
  it("writes land on the filesystem the guest mounts there", async () => {
    const { g, root, var_ } = await guest();
    await g.writeFile("/var/x", text("on var"));
    expect(decode(await var_.readFile("/x"))).toBe("on var");
    expect(await code(root.lstat("/var/x"))).toBe("INSPECT_NOT_FOUND");
    expect(decode(await g.readFile("/var/x"))).toBe("on var");
    expect(await g.mountpointOf("/var/x")).toBe("/var");
    expect(await g.mountpointOf("/var")).toBe("/var");
    expect((await g.mountOf("/etc/new")).device).toBe("/dev/sda1");
    // Under directories yet to be made: where mkdir -p would make them.
    expect((await g.mountOf("/var/new/deeper/file")).device).toBe("/dev/sda2");
    expect((await g.mountOf("/etc/alt/new/x")).device).toBe("/dev/sda2");
    expect((await g.mountOf("/new/../srv/data/x")).device).toBe("/dev/sdb1");
  });

  it("resolves directory symlinks inside the guest: absolute targets and .. stay in it", async () => {
    const { g, var_, root } = await guest();
    await g.writeFile("/etc/alt/through-link", text("a"));
    expect(decode(await var_.readFile("/lib/through-link"))).toBe("a");
    expect(await g.mountpointOf("/etc/alt/y")).toBe("/var");
    await g.mkdir("/usr/share/up/etc/made");
    expect((await root.lstat("/etc/made")).type).toBe("directory");
    await g.writeFile("/../../etc/top", text("t"));
    expect(decode(await root.readFile("/etc/top"))).toBe("t");
  });

  it("never follows the last component of a name it creates, removes or renames", async () => {
    const { g, root, var_ } = await guest();
    expect(await code(g.writeFile("/etc/alt", text("x")))).toBe("INSPECT_EXISTS");
    await g.unlink("/etc/alt");
    expect(await code(root.lstat("/etc/alt"))).toBe("INSPECT_NOT_FOUND");
    expect((await var_.lstat("/lib")).type).toBe("directory");
    await g.rename("/etc/dangling", "/etc/renamed-link");
    expect(await root.readlink("/etc/renamed-link")).toBe("new-file");
  });

  it("realpath follows every link, the last too, and stops at a missing name", async () => {
    const { g } = await guest();
    expect(await g.realpath("/etc/alt")).toBe("/var/lib");
    expect(await g.realpath("/etc/dangling")).toBe("/etc/new-file");
    await g.symlink("missing/file", "/etc/dangling-deeper");
    expect(await code(g.realpath("/etc/dangling-deeper"))).toBe("INSPECT_NOT_FOUND");
    expect(await g.realpath("/usr/share/up")).toBe("/");
    expect(await code(g.realpath("/etc/loop-a"))).toBe("INSPECT_SYMLINK_LOOP");
  });

  it("link loops and links through files are typed errors", async () => {
    const { g } = await guest();
    expect(await code(g.writeFile("/etc/loop-a/x", text("x")))).toBe("INSPECT_SYMLINK_LOOP");
    expect(await code(g.writeFile("/etc/hostname/x", text("x")))).toBe("INSPECT_NOT_A_DIRECTORY");
    expect(await code(g.writeFile("/nowhere/x", text("x")))).toBe("INSPECT_NOT_FOUND");
  });

  it("refuses bad names with typed errors", async () => {
    const { g } = await guest();
    expect(await code(g.writeFile("/etc/a\0b", text("x")))).toBe("INSPECT_INVALID_NAME");
    expect(await code(g.writeFile(`/etc/${"n".repeat(256)}`, text("x")))).toBe("INSPECT_INVALID_NAME");
    expect(await code(g.writeFile(`/etc/${"é".repeat(128)}`, text("x")))).toBe("INSPECT_INVALID_NAME"); // 256 bytes
    expect(await code(g.writeFile(`/${"d/".repeat(2100)}x`, text("x")))).toBe("INSPECT_INVALID_NAME");
    expect(await code(g.mkdir("/etc/.."))).toBe("INSPECT_INVALID_NAME");
    expect(await code(g.writeFile("etc/relative", text("x")))).toBe("INSPECT_INVALID");
    expect(await code(g.symlink("", "/etc/empty-target"))).toBe("INSPECT_INVALID");
    await g.writeFile(`/etc/${"n".repeat(255)}`, text("longest name"));
  });

  it("keeps the mount table whole: no removing or renaming mountpoints, no cross-filesystem renames", async () => {
    const { g } = await guest();
    expect(await code(g.rmdir("/var"))).toBe("INSPECT_INVALID");
    expect(await code(g.rename("/srv", "/srv2"))).toBe("INSPECT_INVALID");
    expect(await code(g.rename("/etc/hostname", "/var/hostname"))).toBe("INSPECT_CROSS_DEVICE");
    expect(await code(g.link("/etc/hostname", "/var/hostname"))).toBe("INSPECT_CROSS_DEVICE");
    expect(await code(g.mkdir("/var"))).toBe("INSPECT_EXISTS");
    await g.chmod("/var", 0o700); // the mounted filesystem's root, as the kernel does it
    expect((await g.stat("/var")).mode).toBe(0o700);
  });

  it("refuses changes on a filesystem it only reads, and still reads it", async () => {
    const { g, srv } = await guest({ readOnlySrv: true });
    await srv.writeFile("/kept", text("kept"));
    expect(decode(await g.readFile("/srv/data/kept"))).toBe("kept");
    expect(await code(g.writeFile("/srv/data/new", text("x")))).toBe("INSPECT_READ_ONLY");
    expect(await code(g.unlink("/srv/data/kept"))).toBe("INSPECT_READ_ONLY");
    await g.writeFile("/srv/beside", text("root fs")); // the parent directory is on the root fs
  });

  it("sees its own renames and removals at once (no stale lookups)", async () => {
    const { g } = await guest();
    await g.mkdir("/etc/d");
    await g.writeFile("/etc/d/f", text("1"));
    expect(decode(await g.readFile("/etc/d/f"))).toBe("1");
    await g.rename("/etc/d", "/etc/e");
    await g.symlink("/var/lib", "/etc/d");
    await g.writeFile("/etc/d/f", text("2"));
    expect(await g.mountpointOf("/etc/d/f")).toBe("/var");
    expect(decode(await g.readFile("/etc/e/f"))).toBe("1");
    expect(decode(await g.readFile("/var/lib/f"))).toBe("2");
  });

  it("applies changes in call order even when the caller does not wait", async () => {
    const { g } = await guest();
    const done = [g.writeFile("/etc/q", text("1")), g.rename("/etc/q", "/etc/r"), g.writeFile("/etc/q", text("2")), g.unlink("/etc/r")];
    await Promise.all(done);
    expect(decode(await g.readFile("/etc/q"))).toBe("2");
    expect(await g.exists("/etc/r")).toBe(false);
  });

  it("flushes every writable filesystem, and refuses everything once closed", async () => {
    const { g, root, var_, srv, closedDisks } = await guest({ readOnlySrv: true });
    await g.flush();
    expect([root.flushes, var_.flushes, srv.flushes]).toEqual([1, 1, 0]);
    await g.close();
    expect(closedDisks()).toBe(true);
    expect(await code(g.writeFile("/etc/x", text("x")))).toBe("INSPECT_CLOSED");
    expect(await code(g.readFile("/etc/hostname"))).toBe("INSPECT_CLOSED");
  });
});
