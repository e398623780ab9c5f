import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest, zooContainers } from "./index.js";
import { extractPartition, readPartitionTable } from "./check.js";
import { run, runText } from "./run.js";

const scratch = mkdtempSync(join(tmpdir(), "zoo-deb-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("zoo guest debian-12", () => {
  it("is a debootstrapped bookworm on MBR with separate ext4 /boot and root, fstab by UUID", async () => {
    const guest = await buildZooGuest("debian-12");
    const disk = guest.disks[0]!;
    const table = readPartitionTable(disk);
    expect(table.label).toBe("dos");
    expect(table.partitions.map((p) => p.type)).toEqual(["83", "83"]);
    const [bootFs, rootFs] = guest.expected.filesystems;
    const boot = join(scratch, "boot");
    extractPartition(disk, table.partitions[0]!, boot);
    run("e2fsck", ["-fn", boot]);
    expect(runText("blkid", ["-o", "value", "-s", "UUID", boot]).trim()).toBe(bootFs!.uuid);
    const root = join(scratch, "root");
    extractPartition(disk, table.partitions[1]!, root);
    run("e2fsck", ["-fn", root]);
    expect(runText("blkid", ["-o", "value", "-s", "UUID", root]).trim()).toBe(rootFs!.uuid);

    // The image holds the tree's dpkg database and configuration, byte for byte.
    const status = join(scratch, "status");
    run("debugfs", ["-R", `dump /var/lib/dpkg/status ${status}`, root]);
    expect(readFileSync(status).equals(readFileSync(join(guest.rootTree, "var/lib/dpkg/status")))).toBe(true);
    expect(runText("debugfs", ["-R", "cat /etc/hostname", root]).trim()).toBe(guest.expected.hostname);
    const fstab = runText("debugfs", ["-R", "cat /etc/fstab", root]);
    expect(fstab).toMatch(new RegExp(`^UUID=${rootFs!.uuid}\\s+/\\s+ext4`, "m"));
    expect(fstab).toMatch(new RegExp(`^UUID=${bootFs!.uuid}\\s+/boot\\s+ext4`, "m"));
  });

  it("records the installed packages and enabled services as dpkg and systemd left them", async () => {
    const { expected, rootTree } = await buildZooGuest("debian-12");
    expect(expected.productName).toMatch(/^12\.\d+$/);
    expect(expected.minorVersion).toBe(Number(expected.productName.split(".")[1]));
    const names = expected.applications.map((a) => a.name);
    for (const p of ["apache2", "openssh-server", "systemd-sysv", "ifupdown", "dpkg", "base-files"]) expect(names).toContain(p);
    const baseFiles = expected.applications.find((a) => a.name === "base-files")!;
    expect(`${baseFiles.version}`).toMatch(/^12\.\d+/);
    for (const s of ["apache2", "ssh", "networking"]) expect(expected.services).toContain(s);
    expect(readFileSync(join(rootTree, "etc/os-release"), "utf8")).toContain('VERSION_CODENAME=bookworm');
  });

  it("converts to every container, equal to the raw image", async () => {
    for (const container of zooContainers) {
      const guest = await buildZooGuest("debian-12", container);
      expect(runText("qemu-img", ["compare", "-f", "raw", "-F", container, guest.rawDisks[0]!, guest.disks[0]!])).toContain("Images are identical");
    }
  });
});
