import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "./index.js";
import { extractPartition, nevraOf, readPartitionTable, rpmParserPackages, rpmQueryPackages } from "./check.js";
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
});
