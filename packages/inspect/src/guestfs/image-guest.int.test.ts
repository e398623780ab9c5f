// openImageGuest on images made here with mkfs.ext4 -d: a two-disk guest whose fstab mounts the
// second disk (links and bulk listings crossing the mount point), hostile files inside the image
// (link loops, links aiming outside, a huge os-release), and disks that hold no OS at all.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import { openImageGuest } from "./image-guest.js";
import { inspect } from "../os/inspect.js";

const work = mkdtempSync(join(tmpdir(), "leapp-image-guest-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const rootUuid = "0b6f3a52-6a8e-4c1e-9a0d-1f2e3d4c5b6a";
const homeUuid = "7c1d9e40-2b3a-4f5e-8d6c-9a0b1c2d3e4f";

/** An ELF header of an x86-64 executable: enough for the architecture probe. */
const elf = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 62, 0, 1, 0, 0, 0]);

function write(root: string, path: string, content: string | Buffer): void {
  mkdirSync(join(root, path, ".."), { recursive: true });
  writeFileSync(join(root, path), content);
}

function mkfs(image: string, tree: string, uuid: string, label: string, sizeMiB = 64): void {
  execFileSync("mkfs.ext4", ["-q", "-F", "-U", uuid, "-L", label, "-d", tree, image, `${sizeMiB}M`], { stdio: "pipe" });
}

let disk1: string;
let disk2: string;

beforeAll(() => {
  const root = join(work, "root");
  write(root, "etc/fstab", `/dev/vda / ext4 defaults 1 1\nUUID=${homeUuid} /home ext4 defaults 1 2\n/dev/vdc1 /data ext4 defaults 0 0\n`);
  write(root, "etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n");
  write(root, "etc/os-release", "ID=centos\n".repeat(300_000)); // 3 MB: over the small-file bound
  write(root, "etc/hostname", "two-disks.example.com\n");
  write(root, "etc/shadow", "guest-shadow\n");
  write(root, "usr/bin/bash", elf);
  symlinkSync("usr/bin", join(root, "bin"));
  symlinkSync("/home/alice/motd", join(root, "etc/motd")); // crosses into the second disk
  symlinkSync("../../../../../../../etc/shadow", join(root, "etc/escape"));
  symlinkSync("loop2", join(root, "etc/loop1"));
  symlinkSync("loop1", join(root, "etc/loop2"));
  mkdirSync(join(root, "home"));
  const home = join(work, "home");
  write(home, "alice/motd", "hello from disk 2\n");
  symlinkSync("/etc/hostname", join(home, "alice/host")); // back across the mount, to the root disk
  disk1 = join(work, "disk1.raw");
  disk2 = join(work, "disk2.raw");
  mkfs(disk1, root, rootUuid, "root");
  mkfs(disk2, home, homeUuid, "home");
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("openImageGuest", () => {
  it("mounts the second disk where fstab says, and links cross the mount point both ways", async () => {
    const guest = await openImageGuest([disk1, disk2]);
    expect(guest.context).toMatchObject({ kind: "image", rootDevice: "/dev/sda", diskCount: 2 });
    expect(text(await guest.readFile("/etc/motd"))).toBe("hello from disk 2\n");
    expect(text(await guest.readFile("/home/alice/host"))).toBe("two-disks.example.com\n");
    expect(text(await guest.readFile("/etc/escape"))).toBe("guest-shadow\n");
    await expect(guest.readFile("/etc/loop1")).rejects.toSatisfy((e) => e instanceof InspectError && e.code === "INSPECT_SYMLINK_LOOP");
    await expect(guest.readFile("/etc/os-release", { maxBytes: 1024 })).rejects.toSatisfy((e) => e instanceof InspectError && e.code === "INSPECT_TOO_LARGE");

    // The bulk listing crosses mount points as lookups do: /home is the second disk's root.
    const top = new Map((await guest.list!("/", { xattrs: true })).map((e) => [e.name, e]));
    expect(top.get("home")?.stat).toEqual(await guest.lstat("/home"));
    expect(top.get("home")?.stat?.dev).not.toBe(top.get("etc")?.stat?.dev);
    expect(top.get("bin")?.linkTarget).toBe("usr/bin");
    for (const dir of ["/", "/etc", "/home", "/home/alice", "/bin"]) {
      for (const entry of await guest.list!(dir)) {
        const path = `${dir === "/" ? "" : dir}/${entry.name}`;
        expect(entry.stat, path).toEqual(await guest.lstat(path));
        if (entry.stat?.type === "symlink") expect(entry.linkTarget).toBe(await guest.readlink(path));
      }
    }
    await expect(guest.list!("/etc/hostname")).rejects.toMatchObject({ code: "INSPECT_NOT_A_DIRECTORY" });

    const report = await inspect(guest);
    await guest.close();
    expect(report.os).toMatchObject({ distro: "centos", majorVersion: 7, minorVersion: 9, osinfo: "centos7.0", arch: "x86_64", hostname: "two-disks.example.com" });
    expect(report.mountpoints).toEqual([
      { device: "/dev/sda", mountpoint: "/" },
      { device: "/dev/sdb", mountpoint: "/home" },
    ]);
    expect(report.filesystems).toEqual([
      { device: "/dev/sda", type: "ext4", label: "root", uuid: rootUuid },
      { device: "/dev/sdb", type: "ext4", label: "home", uuid: homeUuid },
    ]);
    // The oversized os-release is a missing fact with a warning; /dev/vdc1 names no disk and is dropped.
    expect(report.warnings.some((w) => w.startsWith("/etc/os-release"))).toBe(true);
  });

  it("says INSPECT_NO_OS for disks without an operating system", async () => {
    const data = join(work, "data");
    write(data, "srv/file.txt", "just data\n");
    const dataDisk = join(work, "data.raw");
    mkfs(dataDisk, data, "11111111-2222-4333-8444-555555555555", "data", 16);
    const noise = join(work, "noise.raw");
    writeFileSync(noise, Buffer.alloc(4 * 1024 * 1024, 0x5a));
    for (const disks of [[dataDisk], [noise], [noise, dataDisk]]) {
      await expect(openImageGuest(disks)).rejects.toSatisfy((e) => e instanceof InspectError && e.code === "INSPECT_NO_OS");
    }
  });
});
