// customize() on the zoo's guests (real images from mkfs, sfdisk and the LVM2 layout), through
// qcow2 overlays: every operation lands where the guest mounts it, qemu-img reads the overlay,
// e2fsck -fn / xfs_repair -n find every filesystem clean, the kernel's read-only mount shows
// every change, inspection of the overlay shows the new hostname — and the source's hash is the same.
import { execFileSync } from "node:child_process";
import { chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { buildZooGuest, type ZooGuestName } from "@leapp/zoo";
import { afterAll, describe, expect, it } from "vitest";
import { openImageGuest } from "../guestfs/image-guest.js";
import { customize } from "./customize.js";
import { fileHash, judgeGuest } from "./judge-test-support.js";
import { parseCustomizeOption } from "./syntax.js";
import type { CustomizeOperation } from "./operations.js";

const work = mkdtempSync(join(tmpdir(), "leapp-customize-int-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@workstation";

/** A host tree as users copy in: nested directories, modes, owners, a symlink, a hard link, a large file. */
function hostTree(): string {
  const root = join(work, "app");
  if (existsSync(root)) return root;
  mkdirSync(join(root, "conf.d"), { recursive: true });
  mkdirSync(join(root, "data", "cache"), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(root, "conf.d", `${String(i).padStart(2, "0")}-part.conf`), `setting${i}=${"v".repeat(i * 37)}\n`);
  const big = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let at = 0; at + 4 <= big.length; at += 4) big.writeUInt32LE(at * 2654435761 >>> 0, at);
  writeFileSync(join(root, "data", "blob.bin"), big);
  linkSync(join(root, "data", "blob.bin"), join(root, "data", "blob-link.bin"));
  symlinkSync("conf.d/00-part.conf", join(root, "main.conf"));
  writeFileSync(join(root, "run.sh"), "#!/bin/sh\nexec /opt/app/bin\n");
  chmodSync(join(root, "run.sh"), 0o755);
  chmodSync(join(root, "data", "cache"), 0o1770);
  return root;
}

/** The operations from the command-line syntax, as `leapp customize` reads them. */
async function ops(args: Array<[string, string]>): Promise<CustomizeOperation[]> {
  return Promise.all(args.map(async ([name, value]) => (await parseCustomizeOption(name, value)).operation));
}

async function customizeZoo(name: ZooGuestName, operations: CustomizeOperation[]) {
  const guest = await buildZooGuest(name);
  const before = await Promise.all(guest.disks.map(fileHash));
  const out = join(work, name);
  mkdirSync(out);
  const result = await customize(guest.disks, operations, { output: { overlayDir: out } });
  expect(await Promise.all(guest.disks.map(fileHash))).toEqual(before);
  expect(readdirSync(out).sort()).toEqual(result.overlays.map((o) => o.slice(out.length + 1)).sort());
  return { guest, result, view: await judgeGuest(result.overlays) };
}

describe("customize on zoo guests, judged by qemu-img, fsck and the kernel", () => {
  it("el7-vmware: XFS root on LVM (two linear segments), every operation", async () => {
    const tree = hostTree();
    const operations = await ops([
      ["mkdir", "/opt/leapp/conf"],
      ["write", "/opt/leapp/conf/app.conf:key=value"],
      ["copy-in", `${tree}:/opt/leapp`],
      ["append-line", "/etc/hosts:10.0.0.5 db.internal"],
      ["edit", "/etc/hosts:s/^10\\.0\\.0\\.5 /10.0.0.6 /"],
      ["hostname", "app03.kvm.example.com"],
      ["mkdir", "/usr/share/zoneinfo/Europe"],
      ["upload", "/usr/share/zoneinfo/Europe/London:/usr/share/zoneinfo/Europe/London"],
      ["timezone", "Europe/London"],
      ["write", "/etc/shadow:root:!!:18000:0:99999:7:::\n"],
      ["root-password", "password:correct horse"],
      ["ssh-inject", `root:string:${key}`],
      ["link", "/opt/leapp/conf/app.conf:/etc/app.conf:/root"],
      ["chmod", "0640:/opt/leapp/conf/app.conf"],
      ["chown", "48:48:/opt/leapp/conf/app.conf"],
      ["touch", "/etc/cloud-init.disabled"],
      ["truncate", "/etc/machine-id"],
      ["write", "/etc/motd:moved\n"],
      ["move", "/etc/motd:/root/motd"],
      ["delete", "/etc/vmware-tools"],
    ]);
    const { result, view } = await customizeZoo("el7-vmware", operations);
    try {
      expect(result.operations.find((o) => o.op === "copy-in")).toMatchObject({ path: "/opt/leapp/app", filesystem: "/dev/centos/root", mountpoint: "/" });
      expect([...view.checked.keys()].sort()).toEqual(["/dev/centos/home", "/dev/centos/root", "/dev/sda1"]);
      expect(view.report.os.hostname).toBe("app03.kvm.example.com");
      const k = (p: string) => view.host(p);
      expect(readFileSync(k("/opt/leapp/conf/app.conf"), "utf8")).toBe("key=value");
      const conf = statSync(k("/opt/leapp/conf/app.conf"));
      expect([conf.mode & 0o7777, conf.uid, conf.gid]).toEqual([0o640, 48, 48]);
      // The copied tree, byte for byte and attribute for attribute, as the kernel reads it.
      for (const rel of ["conf.d/00-part.conf", "conf.d/39-part.conf", "data/blob.bin", "run.sh"]) {
        expect(readFileSync(k(`/opt/leapp/app/${rel}`)).equals(readFileSync(join(tree, rel))), rel).toBe(true);
        expect(statSync(k(`/opt/leapp/app/${rel}`)).mode).toBe(statSync(join(tree, rel)).mode);
      }
      expect(statSync(k("/opt/leapp/app/data/blob.bin")).ino).toBe(statSync(k("/opt/leapp/app/data/blob-link.bin")).ino);
      expect(readlinkSync(k("/opt/leapp/app/main.conf"))).toBe("conf.d/00-part.conf");
      expect(statSync(k("/opt/leapp/app/data/cache")).mode & 0o7777).toBe(0o1770);
      expect(readFileSync(k("/etc/hosts"), "utf8")).toMatch(/\n10\.0\.0\.6 db\.internal\n$/);
      expect(readFileSync(k("/etc/hostname"), "utf8")).toBe("app03.kvm.example.com\n");
      expect(readlinkSync(k("/etc/localtime"))).toBe("/usr/share/zoneinfo/Europe/London");
      expect(readFileSync(k("/usr/share/zoneinfo/Europe/London")).equals(readFileSync("/usr/share/zoneinfo/Europe/London"))).toBe(true);
      expect(readFileSync(k("/etc/shadow"), "utf8")).toMatch(/^root:\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}:18000:0:99999:7:::\n$/);
      expect(readFileSync(k("/root/.ssh/authorized_keys"), "utf8")).toBe(`${key}\n`);
      expect(statSync(k("/root/.ssh")).mode & 0o7777).toBe(0o700);
      expect(readlinkSync(k("/etc/app.conf"))).toBe("/opt/leapp/conf/app.conf");
      expect(readlinkSync(k("/root/app.conf"))).toBe("/opt/leapp/conf/app.conf");
      expect(statSync(k("/etc/cloud-init.disabled")).size).toBe(0);
      expect(statSync(k("/etc/machine-id")).size).toBe(0);
      expect(readFileSync(k("/root/motd"), "utf8")).toBe("moved\n");
      expect(existsSync(k("/etc/motd"))).toBe(false);
      expect(existsSync(k("/etc/vmware-tools"))).toBe(false);
      expect(lstatSync(k("/etc/hostname")).isFile()).toBe(true);
    } finally {
      view.close();
    }
  });

  it("el6-xen: ext4 root on MBR (CentOS 6 features) — the RHEL 6 hostname, clock and password files", async () => {
    const operations = await ops([
      ["hostname", "web02.kvm.example.com"],
      ["mkdir", "/usr/share/zoneinfo/Europe"],
      ["upload", "/usr/share/zoneinfo/Europe/London:/usr/share/zoneinfo/Europe/London"],
      ["timezone", "Europe/London"],
      ["root-password", "password:s3cret"],
      ["ssh-inject", `root:string:${key}`],
      ["copy-in", `${hostTree()}:/srv`],
      ["edit", "/etc/fstab:s/xvda/vda/g"],
      ["delete", "/etc/modprobe.d/xen*"],
    ]);
    const { result, view } = await customizeZoo("el6-xen", operations);
    try {
      expect(new Set(result.operations.map((o) => o.filesystem))).toEqual(new Set(["/dev/sda1"]));
      expect([...view.checked.keys()]).toEqual(["/dev/sda1"]);
      expect(view.report.os.hostname).toBe("web02.kvm.example.com");
      const k = (p: string) => view.host(p);
      expect(readFileSync(k("/etc/sysconfig/network"), "utf8")).toMatch(/\nHOSTNAME=web02\.kvm\.example\.com\n$/);
      expect(existsSync(k("/etc/hostname"))).toBe(false);
      expect(readFileSync(k("/etc/sysconfig/clock"), "utf8")).toMatch(/^ZONE="Europe\/London"$/m);
      const shadow = readFileSync(k("/etc/shadow"), "utf8");
      expect(shadow).toMatch(/^root:\$6\$/);
      expect(statSync(k("/etc/shadow")).mode & 0o7777).toBe(0);
      expect(readFileSync(k("/etc/fstab"), "utf8")).not.toContain("xvda");
      expect(readFileSync(k("/srv/app/data/blob.bin")).equals(readFileSync(join(work, "app", "data", "blob.bin")))).toBe(true);
    } finally {
      view.close();
    }
  });

  it("el9-like: two disks, GPT — writes land on the filesystem mounted there (XFS /, ext4 /boot, ext4 /srv/data on sdb)", async () => {
    const operations = await ops([
      ["write", "/srv/data/on-sdb:second disk\n"],
      ["mkdir", "/boot/loader/entries.d"],
      ["write", "/boot/loader/entries.d/x.conf:title x\n"],
      ["write", "/etc/on-root:root\n"],
      ["move", "/srv/data/on-sdb:/var/moved-to-root"],
      ["hostname", "rocky9.kvm.example.com"],
    ]);
    const { result, view } = await customizeZoo("el9-like", operations);
    try {
      expect(result.overlays).toHaveLength(2);
      expect(result.operations.map((o) => o.filesystem)).toEqual(["/dev/sdb1", "/dev/sda2", "/dev/sda2", "/dev/sda3", "/dev/sda3", "/dev/sda3"]);
      expect(result.operations[4]!.targets.map((t) => t.filesystem)).toEqual(["/dev/sda3", "/dev/sdb1"]);
      expect([...view.checked.keys()].sort()).toEqual(["/dev/sda2", "/dev/sda3", "/dev/sdb1"]);
      expect(view.report.os.hostname).toBe("rocky9.kvm.example.com");
      expect(readFileSync(view.host("/var/moved-to-root"), "utf8")).toBe("second disk\n");
      expect(existsSync(view.host("/srv/data/on-sdb"))).toBe(false);
      expect(readFileSync(view.host("/boot/loader/entries.d/x.conf"), "utf8")).toBe("title x\n");
    } finally {
      view.close();
    }
  });

  it("a vmdk source goes through an overlay like any other; in place, a raw copy is edited and says so", async () => {
    const vmdk = await buildZooGuest("el6-xen", "vmdk");
    const out = join(work, "from-vmdk");
    mkdirSync(out);
    const before = await fileHash(vmdk.disks[0]!);
    const viaOverlay = await customize(vmdk.disks, await ops([["write", "/etc/motd:vmdk\n"]]), { output: { overlays: [join(out, "el6.qcow2")] } });
    expect(await fileHash(vmdk.disks[0]!)).toBe(before);
    await expect(customize(vmdk.disks, await ops([["write", "/etc/motd:x"]]), { output: { inPlace: true } })).rejects.toMatchObject({ code: "STORAGE_UNSUPPORTED" });
    const copy = join(work, "in-place.raw");
    execFileSync("cp", ["--sparse=always", vmdk.rawDisks[0]!, copy]);
    const inPlace = await customize([copy], await ops([["write", "/etc/motd:in place\n"]]), { output: { inPlace: true } });
    expect(inPlace).toMatchObject({ overlays: [], inPlace: [copy] });
    for (const [disks, text] of [[viaOverlay.overlays, "vmdk\n"], [[copy], "in place\n"]] as const) {
      const view = await judgeGuest(disks);
      try {
        expect(readFileSync(view.host("/etc/motd"), "utf8")).toBe(text);
      } finally {
        view.close();
      }
    }
  });

  it("bad input is a typed error, and leaves no overlay and an untouched source", async () => {
    const guest = await buildZooGuest("el6-xen");
    const before = await fileHash(guest.disks[0]!);
    const out = join(work, "bad");
    mkdirSync(out);
    const huge = join(work, "huge.bin");
    execFileSync("truncate", ["-s", "200M", huge]);
    writeFileSync(huge, Buffer.alloc(1 << 20, 1), { flag: "r+" });
    const cases: Array<[Array<[string, string]>, string]> = [
      [[["write", `/etc/${"n".repeat(256)}:x`]], "INSPECT_INVALID_NAME"],
      [[["mkdir", "/etc/a\0b"]], "INSPECT_INVALID_NAME"],
      [[["link", "/etc/loop2:/etc/loop1"], ["link", "/etc/loop1:/etc/loop2"], ["write", "/etc/loop1/x:y"]], "INSPECT_SYMLINK_LOOP"],
      [[["delete", "/etc/.."]], "INSPECT_INVALID"],
      [[["upload", `${huge}:/root/huge.bin`]], "INSPECT_NO_SPACE"],
      [[["timezone", "Nowhere/City"]], "INSPECT_NOT_FOUND"],
      [[["ssh-inject", `nobody-here:string:${key}`]], "INSPECT_NOT_FOUND"],
    ];
    for (const [args, code] of cases) {
      await expect(customize(guest.disks, await ops(args), { output: { overlayDir: out } }), JSON.stringify(args)).rejects.toMatchObject({ code });
      expect(readdirSync(out), JSON.stringify(args)).toEqual([]);
    }
    expect(await fileHash(guest.disks[0]!)).toBe(before);
  });

  it("an abort during a copy-in rejects with the signal's reason and leaves no overlay; a read-only disk is refused", async () => {
    const guest = await buildZooGuest("el6-xen");
    const out = join(work, "aborted");
    mkdirSync(out);
    const controller = new AbortController();
    const reason = new Error("stopped by the test");
    const run = customize(guest.disks, await ops([["copy-in", `${hostTree()}:/srv`]]), {
      output: { overlayDir: out },
      onProgress: (event) => event.phase === "copy-in" && event.done > 0 && controller.abort(reason),
      signal: controller.signal,
    });
    await expect(run).rejects.toBe(reason);
    expect(readdirSync(out)).toEqual([]);
    const readOnly = await openDisk(guest.disks[0]!);
    try {
      await expect(openImageGuest([readOnly], { writable: true })).rejects.toMatchObject({ code: "INSPECT_READ_ONLY" });
    } finally {
      await readOnly.close();
    }
  });

  it("a dry run reports each operation's filesystem across the guest's mounts and writes nothing", async () => {
    const guest = await buildZooGuest("el9-like");
    const before = await Promise.all(guest.disks.map(fileHash));
    const out = join(work, "dry");
    mkdirSync(out);
    const result = await customize(guest.disks, await ops([["write", "/srv/data/x:1"], ["mkdir", "/boot/grub2/new"], ["touch", "/boot/efi/EFI/x"], ["hostname", "h9"]]), { output: { overlayDir: out }, dryRun: true });
    expect(result.operations.map((o) => [o.op, o.path, o.filesystem, o.mountpoint])).toEqual([
      ["write", "/srv/data/x", "/dev/sdb1", "/srv/data"],
      ["mkdir", "/boot/grub2/new", "/dev/sda2", "/boot"],
      ["touch", "/boot/efi/EFI/x", "/dev/sda1", "/boot/efi"],
      ["hostname", "/etc/hostname", "/dev/sda3", "/"],
    ]);
    expect(result.operations[2]!.refused).toMatch(/vfat/);
    expect(result.dryRun).toBe(true);
    expect(readdirSync(out)).toEqual([]);
    expect(await Promise.all(guest.disks.map(fileHash))).toEqual(before);
  });
});
