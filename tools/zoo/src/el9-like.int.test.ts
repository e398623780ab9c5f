import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "./index.js";
import { el9DataPartitionUuid, el9PartitionUuids } from "./guests/el9-like.js";
import { extractPartition, nevraOf, readPartitionTable, rpmParserPackages, rpmQueryPackages } from "./check.js";
import { run, runText } from "./run.js";

const scratch = mkdtempSync(join(tmpdir(), "zoo-el9-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("zoo guest el9-like", () => {
  it("has a GPT with an ESP (vfat), ext4 /boot and XFS root that the real checkers pass", async () => {
    const guest = await buildZooGuest("el9-like");
    const disk = guest.disks[0]!;
    const table = readPartitionTable(disk);
    expect(table.label).toBe("gpt");
    expect(table.partitions.map((p) => p.uuid?.toLowerCase())).toEqual(el9PartitionUuids);
    expect(table.partitions.map((p) => p.type)).toEqual(["C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"]);
    const [espFs, bootFs, rootFs] = guest.expected.filesystems;

    const esp = join(scratch, "esp");
    extractPartition(disk, table.partitions[0]!, esp);
    run("fsck.vfat", ["-n", esp]);
    expect(runText("blkid", ["-o", "value", "-s", "UUID", esp]).trim()).toBe(espFs!.uuid);
    const espGrub = runText("mtype", ["-i", esp, "::/EFI/rocky/grub.cfg"], { env: { MTOOLS_SKIP_CHECK: "1" } });
    expect(espGrub).toContain(`--fs-uuid --set=dev ${bootFs!.uuid}`);

    const boot = join(scratch, "boot");
    extractPartition(disk, table.partitions[1]!, boot);
    run("e2fsck", ["-fn", boot]);
    expect(runText("blkid", ["-o", "value", "-s", "UUID", boot]).trim()).toBe(bootFs!.uuid);
    expect(runText("debugfs", ["-R", "ls -p /loader/entries", boot])).toContain(".conf");

    const root = join(scratch, "root");
    extractPartition(disk, table.partitions[2]!, root);
    run("xfs_repair", ["-n", "-f", root]);
    expect(runText("blkid", ["-o", "value", "-s", "UUID", root]).trim()).toBe(rootFs!.uuid);
    expect(runText("xfs_db", ["-r", "-c", "ls /var/lib/rpm", root])).toContain("rpmdb.sqlite");
  });

  it("has a second disk (sdb) whose ext4 holds /srv/data", async () => {
    const guest = await buildZooGuest("el9-like");
    expect(guest.disks).toHaveLength(2);
    const table = readPartitionTable(guest.disks[1]!);
    expect(table.label).toBe("gpt");
    expect(table.partitions.map((p) => p.uuid?.toLowerCase())).toEqual([el9DataPartitionUuid]);
    const data = join(scratch, "data");
    extractPartition(guest.disks[1]!, table.partitions[0]!, data);
    run("e2fsck", ["-fn", data]);
    const fs = guest.expected.filesystems.find((f) => f.device === guest.expected.mountpoints["/srv/data"])!;
    expect(fs.device).toBe("/dev/sdb1");
    expect(runText("blkid", ["-o", "value", "-s", "UUID", data]).trim()).toBe(fs.uuid);
    expect(runText("blkid", ["-o", "value", "-s", "LABEL", data]).trim()).toBe(fs.label);
    expect(runText("debugfs", ["-R", "cat /www/index.html", data])).toContain("web03 content");
  });

  it("holds an rpmdb.sqlite made by the real rpm that rpm -qa and @snyk/rpm-parser read", async () => {
    const guest = await buildZooGuest("el9-like");
    const expected = nevraOf(guest.expected.applications);
    const queried = rpmQueryPackages(join(guest.rootTree, "var/lib/rpm"), "sqlite");
    expect(queried.map(({ summary: _s, ...n }) => n)).toEqual(expected);
    expect(queried.map((p) => p.summary)).toEqual(guest.expected.applications.map((a) => a.summary));
    expect(await rpmParserPackages(join(guest.rootTree, "var/lib/rpm/rpmdb.sqlite"))).toEqual(expected);
  });

  it("boots by BootLoaderSpec entries and configures its network with a NetworkManager keyfile", async () => {
    const { rootTree, expected } = await buildZooGuest("el9-like");
    const read = (p: string): string => readFileSync(join(rootTree, p), "utf8");
    expect(read("etc/os-release")).toContain('VERSION_ID="9.4"');
    const entries = readdirSync(join(rootTree, "boot/loader/entries")).sort();
    expect(entries.map((e) => read(`boot/loader/entries/${e}`).match(/^version (.*)$/m)?.[1])).toEqual(expected.kernels.map((k) => k.version));
    expect(read("boot/grub2/grubenv")).toContain(`saved_entry=`);
    expect(read("boot/grub2/grubenv")).toContain(expected.defaultKernel!);
    const nm = read("etc/NetworkManager/system-connections/ens3.nmconnection");
    expect(nm).toContain(`address1=${expected.interfaces[0]!.address},${expected.interfaces[0]!.gateway}`);
    for (const [mp, dev] of Object.entries(expected.mountpoints)) {
      const fs = expected.filesystems.find((f) => f.device === dev)!;
      expect(read("etc/fstab")).toMatch(new RegExp(`^UUID=${fs.uuid}\\s+${mp.replace(/\//g, "\\/")}\\s+${fs.type}`, "m"));
    }
  });
});
