import { mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "./index.js";
import { assembleLv, extractPartition, lvmReport, nevraOf, readPartitionTable, rpmParserPackages, rpmQueryPackages, withLoopDevice } from "./check.js";
import { run, runText } from "./run.js";

const scratch = mkdtempSync(join(tmpdir(), "zoo-el7-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const MiB = 1024 * 1024;

describe("zoo guest el7-vmware", () => {
  it("has an MBR (extended + logical) with /boot ext4 and two LVM PVs that the real pvs, vgs and lvs read", async () => {
    const guest = await buildZooGuest("el7-vmware");
    const disk = guest.disks[0]!;
    const table = readPartitionTable(disk);
    expect(table.label).toBe("dos");
    expect(table.partitions.map((p) => `${p.node.slice(disk.length)}:${p.type}`)).toEqual(["1:83", "2:8e", "3:5", "5:8e"]);
    const boot = join(scratch, "boot.ext4");
    extractPartition(disk, table.partitions[0]!, boot);
    run("e2fsck", ["-fn", boot]);
    expect(guest.expected.mountpoints["/boot"]).toBe("/dev/sda1");
    expect(runText("blkid", ["-o", "value", "-s", "UUID", boot]).trim()).toBe(guest.expected.filesystems.find((f) => f.device === "/dev/sda1")!.uuid);

    const [pv0, pv1] = table.partitions.filter((p) => p.type === "8e");
    await withLoopDevice(disk, pv0!.start * 512, pv0!.size * 512, (dev0) =>
      withLoopDevice(disk, pv1!.start * 512, pv1!.size * 512, (dev1) => {
        const devs = [dev0, dev1];
        const pvs = lvmReport("pvs", devs, "pv_name,vg_name,pv_size,pv_pe_count,pv_pe_alloc_count,pe_start");
        expect(pvs).toEqual([
          { pv_name: dev0, vg_name: "centos", pv_size: String(376 * MiB), pv_pe_count: "94", pv_pe_alloc_count: "92", pe_start: String(MiB) },
          { pv_name: dev1, vg_name: "centos", pv_size: String(20 * MiB), pv_pe_count: "5", pv_pe_alloc_count: "4", pe_start: String(MiB) },
        ]);
        const vg = guest.expected.volumeGroups[0]!;
        const vgs = lvmReport("vgs", devs, "vg_name,vg_extent_size,lv_count,pv_count,vg_seqno");
        expect(vgs).toEqual([{ vg_name: vg.name, vg_extent_size: String(vg.extentSize), lv_count: "3", pv_count: "2", vg_seqno: "4" }]);
        const lvs = lvmReport("lvs", devs, "lv_name,lv_size,seg_count");
        expect(lvs.sort((a, b) => (a.lv_name! < b.lv_name! ? -1 : 1))).toEqual(
          [...vg.lvs].sort((a, b) => (a.name < b.name ? -1 : 1)).map((l) => ({ lv_name: l.name, lv_size: String(l.size), seg_count: String(l.segments) })),
        );
        const segs = lvmReport("lvs", devs, "lv_name,segtype,stripes,stripe_size,seg_start_pe,seg_pe_ranges", ["--segments"]);
        const named = (s: Record<string, string>): string => `${s.lv_name} ${s.segtype} ${s.stripes} ${s.seg_pe_ranges?.replaceAll(dev0, "PV0").replaceAll(dev1, "PV1")}`;
        expect(segs.map(named).sort()).toEqual(["home striped 2 PV0:88-91 PV1:0-3", "root linear 1 PV0:0-39", "root linear 1 PV0:48-87", "swap linear 1 PV0:40-47"]);
        expect(segs.find((s) => s.lv_name === "home")?.stripe_size).toBe(String(64 * 1024));

        // Read each LV back through the real tool's segment map and check its filesystem.
        const lvImage = (name: string): string => {
          const file = join(scratch, name);
          assembleLv(segs.filter((s) => s.lv_name === name).map((s) => ({ ...s, pe_start: String(MiB) })), vg.extentSize, file);
          return file;
        };
        const fsOf = (device: string): { uuid: string; type: string } => guest.expected.filesystems.find((f) => f.device === device)!;
        const rootLv = lvImage("root");
        run("xfs_repair", ["-n", "-f", rootLv]);
        expect(runText("blkid", ["-o", "value", "-s", "UUID", rootLv]).trim()).toBe(fsOf("/dev/centos/root").uuid);
        // The files inspection reads are inside the XFS, reachable through its directories.
        expect(runText("xfs_db", ["-r", "-c", "ls /etc", rootLv])).toContain("centos-release");
        const homeLv = lvImage("home");
        run("e2fsck", ["-fn", homeLv]);
        expect(runText("blkid", ["-o", "value", "-s", "UUID", homeLv]).trim()).toBe(fsOf("/dev/centos/home").uuid);
        expect(runText("debugfs", ["-R", "cat /admin/deploy/README", homeLv])).toContain("app02");
        expect(runText("blkid", ["-o", "value", "-s", "TYPE", lvImage("swap")]).trim()).toBe("swap");
      }),
    );
  });

  it("holds a BDB rpmdb with open-vm-tools and two kernels that rpm and @snyk/rpm-parser read", async () => {
    const guest = await buildZooGuest("el7-vmware");
    const expected = nevraOf(guest.expected.applications);
    expect(await rpmParserPackages(join(guest.rootTree, "var/lib/rpm/Packages"))).toEqual(expected);
    const queried = rpmQueryPackages(join(guest.rootTree, "var/lib/rpm"), "bdb_ro");
    expect(queried.map(({ summary: _s, ...n }) => n)).toEqual(expected);
    expect(expected.filter((p) => p.name === "kernel")).toHaveLength(2);
    expect(expected.some((p) => p.name === "open-vm-tools")).toBe(true);
  });

  it("enables its services with systemd symlinks and boots with grub2", async () => {
    const { rootTree, expected } = await buildZooGuest("el7-vmware");
    const read = (p: string): string => readFileSync(join(rootTree, p), "utf8");
    expect(read("etc/os-release")).toContain('VERSION_ID="7"');
    expect(read("etc/centos-release")).toBe("CentOS Linux release 7.9.2009 (Core)\n");
    expect(read("etc/hostname").trim()).toBe(expected.hostname);
    for (const s of expected.services) {
      // Absolute links mean the guest's root: follow them inside the tree.
      const target = readlinkSync(join(rootTree, `etc/systemd/system/multi-user.target.wants/${s}.service`));
      expect(target).toBe(`/usr/lib/systemd/system/${s}.service`);
      expect(read(target.slice(1))).toContain("[Service]");
    }
    const grubCfg = read("boot/grub2/grub.cfg");
    for (const k of expected.kernels) expect(grubCfg).toContain(`linux16 /vmlinuz-${k.version} root=/dev/mapper/centos-root`);
    expect(read("boot/grub2/grubenv")).toHaveLength(1024);
    expect(read("etc/fstab")).toMatch(/^\/dev\/mapper\/centos-root\s+\/\s+xfs/m);
  });
});
