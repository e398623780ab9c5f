import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "./index.js";
import { extractPartition, nevraOf, readPartitionTable, rpmParserPackages, rpmQueryPackages } from "./check.js";
import { repoRoot } from "./cache.js";
import { writeDracutInitramfs, writeModuleTree, type StandInModule } from "./guests/kernel-modules.js";
import { run, runText } from "./run.js";

const scratch = mkdtempSync(join(tmpdir(), "zoo-el6-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("zoo guest el6-xen", () => {
  it("has an MBR with a bootable ext4 root that e2fsck passes, and swap", async () => {
    const guest = await buildZooGuest("el6-xen");
    const table = readPartitionTable(guest.disks[0] ?? "");
    expect(table.label).toBe("dos");
    expect(table.partitions.map((p) => p.type)).toEqual(["83", "82"]);
    expect(table.partitions[0]?.bootable).toBe(true);
    const rootPart = join(scratch, "root.ext4");
    extractPartition(guest.disks[0] ?? "", table.partitions[0]!, rootPart);
    run("e2fsck", ["-fn", rootPart]);
    const fs = guest.expected.filesystems[0]!;
    expect(runText("blkid", ["-o", "value", "-s", "UUID", rootPart]).trim()).toBe(fs.uuid);
    expect(runText("blkid", ["-o", "value", "-s", "TYPE", rootPart]).trim()).toBe(fs.type);
    // The files inspection reads are in the filesystem, not only in the tree.
    const redhat = runText("debugfs", ["-R", "cat /etc/centos-release", rootPart]);
    expect(redhat.trim()).toBe(guest.expected.productName);
    const swapPart = join(scratch, "swap");
    extractPartition(guest.disks[0] ?? "", table.partitions[1]!, swapPart);
    expect(runText("blkid", ["-o", "value", "-s", "TYPE", swapPart]).trim()).toBe("swap");
  });

  it("holds an rpm 4 BDB Packages database of real headers that db5.3_dump, rpm and @snyk/rpm-parser read", async () => {
    const guest = await buildZooGuest("el6-xen");
    const packages = join(guest.rootTree, "var/lib/rpm/Packages");
    const dump = runText("db5.3_dump", [packages]);
    expect(dump).toContain("type=hash");
    const records = dump.split("HEADER=END\n")[1]!.split("DATA=END")[0]!.trim().split("\n");
    // key 0 (the instance counter) plus one record per package, keys 1… little-endian
    expect(records.length).toBe(2 * (guest.expected.applications.length + 1));
    expect(records[0]!.trim()).toBe("00000000");
    const expected = nevraOf(guest.expected.applications);
    expect(await rpmParserPackages(packages)).toEqual(expected);
    const queried = rpmQueryPackages(join(guest.rootTree, "var/lib/rpm"), "bdb_ro");
    expect(queried.map(({ summary: _s, ...n }) => n)).toEqual(expected);
    expect(queried.map((p) => p.summary)).toEqual(guest.expected.applications.map((a) => a.summary));
  });

  it("has the Xen PV guest's configuration where CentOS 6 puts it", async () => {
    const { rootTree, expected } = await buildZooGuest("el6-xen");
    const read = (p: string): string => readFileSync(join(rootTree, p), "utf8");
    expect(read("etc/redhat-release").trim()).toBe(expected.productName);
    expect(read("etc/sysconfig/network")).toContain(`HOSTNAME=${expected.hostname}`);
    expect(read("etc/grub.conf")).toMatch(/root=\/dev\/xvda1 console=hvc0/);
    expect(read("etc/modprobe.d/xen.conf")).toMatch(/xenblk/);
    expect(read("etc/fstab")).toMatch(/^\/dev\/xvda1\s+\/\s+ext4/m);
    for (const k of expected.kernels) expect(statSync(join(rootTree, k.path)).isFile()).toBe(true);
    const bash = readFileSync(join(rootTree, "bin/bash"));
    expect(bash.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(bash.readUInt16LE(18)).toBe(62);
  });

  it("has the pvops kernel's module tree, as modinfo reads it, and a dracut gzip initramfs with only the Xen and root filesystem drivers, as cpio reads it", async () => {
    const { rootTree, expected } = await buildZooGuest("el6-xen");
    const version = expected.defaultKernel!;
    const dir = join(rootTree, "lib/modules", version);
    // The committed tree's modules.dep (what a reader of samples/el6-xen/root sees) is the one built.
    const dep = readFileSync(join(dir, "modules.dep"), "utf8");
    expect(dep).toBe(readFileSync(join(repoRoot, "samples/el6-xen/root/lib/modules", version, "modules.dep"), "utf8"));
    expect(dep).toMatch(/^kernel\/drivers\/block\/virtio_blk\.ko: kernel\/drivers\/virtio\/virtio_ring\.ko kernel\/drivers\/virtio\/virtio\.ko$/m);
    const modinfo = (file: string, field: string) => runText("modinfo", ["-F", field, file]).trim();
    for (const line of dep.trim().split("\n")) {
      const file = join(dir, line.slice(0, line.indexOf(":")));
      const elf = readFileSync(file);
      // An ELF64 little-endian relocatable object (ET_REL) for x86-64, as kernel modules are.
      expect([elf.subarray(0, 4).toString("latin1"), elf[4], elf[5], elf.readUInt16LE(16), elf.readUInt16LE(18)]).toEqual(["\x7fELF", 2, 1, 1, 62]);
      expect(modinfo(file, "vermagic")).toBe(`${version} SMP mod_unload modversions`);
      expect(modinfo(file, "license")).toBe("GPL");
    }
    expect(modinfo(join(dir, "kernel/drivers/block/virtio_blk.ko"), "depends")).toBe("virtio_ring,virtio");
    expect(modinfo(join(dir, "kernel/drivers/block/xen-blkfront.ko"), "alias")).toContain("xen:vbd");
    expect(readFileSync(join(dir, "modules.alias"), "utf8")).toMatch(/^alias virtio:d00000002v\* virtio_blk$/m);

    const initrd = join(rootTree, expected.kernels.find((k) => k.version === version)!.initrd!);
    const listing = runText("sh", ["-c", `gzip -dc '${initrd}' | cpio -t --quiet`]).trim().split("\n");
    const modules = listing.filter((p) => p.endsWith(".ko")).map((p) => p.slice(p.lastIndexOf("/") + 1)).sort();
    expect(modules).toEqual(["ext4.ko", "jbd2.ko", "mbcache.ko", "xen-blkfront.ko", "xen-netfront.ko"]);
    expect(listing).toEqual(expect.arrayContaining(["init", "lib/dracut-lib.sh", `lib/modules/${version}/modules.dep`]));
    const out = join(scratch, "initramfs");
    mkdirSync(out);
    run("sh", ["-c", `gzip -dc '${initrd}' | (cd '${out}' && cpio -idm --quiet)`]);
    expect(readFileSync(join(out, "lib/modules", version, "modules.dep"), "utf8")).toBe("kernel/drivers/block/xen-blkfront.ko:\nkernel/drivers/net/xen-netfront.ko:\nkernel/fs/mbcache.ko:\nkernel/fs/jbd2/jbd2.ko:\nkernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko\n");
  });

  it("builds its kernel files byte for byte the same each time, and refuses a module list that names a missing dependency", () => {
    const modules: StandInModule[] = [
      { path: "kernel/drivers/virtio/virtio.ko", description: "Virtio bus" },
      { path: "kernel/drivers/block/virtio_blk.ko", depends: ["virtio"], aliases: ["virtio:d00000002v*"], description: "Virtio block driver" },
    ];
    const build = (name: string) => {
      const root = join(scratch, name);
      writeModuleTree(root, "2.6.32-1.el6.x86_64", modules, join(root, "work"));
      writeDracutInitramfs(root, "2.6.32-1.el6.x86_64", modules, ["virtio_blk"], "/boot/initramfs.img", join(root, "work"));
      return [readFileSync(join(root, "boot/initramfs.img")), ...readdirSync(join(root, "lib/modules/2.6.32-1.el6.x86_64/kernel/drivers/block")).map((f) => readFileSync(join(root, "lib/modules/2.6.32-1.el6.x86_64/kernel/drivers/block", f)))];
    };
    expect(build("a")).toEqual(build("b"));
    expect(() => writeModuleTree(join(scratch, "c"), "1", [{ path: "kernel/x.ko", depends: ["y"], description: "x" }], join(scratch, "c-work"))).toThrow(/depends on y/);
  });
});
