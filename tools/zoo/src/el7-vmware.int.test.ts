import { closeSync, mkdtempSync, openSync, readFileSync, readlinkSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "./index.js";
import { extractPartition, lvmReport, nevraOf, readPartitionTable, rpmParserPackages, rpmQueryPackages, withLoopDevice } from "./check.js";
import { run, runText } from "./run.js";

const scratch = mkdtempSync(join(tmpdir(), "zoo-el7-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const MiB = 1024 * 1024;

/** Copies the LV's extents, as `lvs --segments` reports them, out of the PV into one image file. */
function assembleLv(pvFile: string, pvOffset: number, peStart: number, extentSize: number, segments: Array<Record<string, string>>, out: string): void {
  const fd = openSync(out, "w");
  const src = openSync(pvFile, "r");
  const buf = Buffer.alloc(extentSize);
  try {
    let lvExtent = 0;
    for (const seg of segments) {
      const m = /:(\d+)-(\d+)$/.exec(seg.seg_pe_ranges ?? "");
      expect(m, `segment ranges '${seg.seg_pe_ranges}'`).not.toBeNull();
      for (let pe = Number(m![1]); pe <= Number(m![2]); pe++, lvExtent++) {
        const n = readSync(src, buf, 0, extentSize, pvOffset + peStart + pe * extentSize);
        writeSync(fd, buf, 0, n, lvExtent * extentSize);
      }
    }
  } finally {
    closeSync(fd);
    closeSync(src);
  }
}

describe("zoo guest el7-vmware", () => {
  it("has an MBR with /boot ext4 and an LVM PV that the real pvs, vgs and lvs read", async () => {
    const guest = await buildZooGuest("el7-vmware");
    const disk = guest.disks[0]!;
    const table = readPartitionTable(disk);
    expect(table.label).toBe("dos");
    expect(table.partitions.map((p) => p.type)).toEqual(["83", "8e"]);
    const boot = join(scratch, "boot.ext4");
    extractPartition(disk, table.partitions[0]!, boot);
    run("e2fsck", ["-fn", boot]);
    expect(runText("blkid", ["-o", "value", "-s", "UUID", boot]).trim()).toBe(guest.expected.mountpoints["/boot"] === "/dev/sda1" ? guest.expected.filesystems.find((f) => f.device === "/dev/sda1")!.uuid : "");

    const pvPart = table.partitions[1]!;
    await withLoopDevice(disk, pvPart.start * 512, pvPart.size * 512, (dev) => {
      const pvs = lvmReport("pvs", dev, "pv_name,vg_name,pv_size,pv_pe_count,pv_pe_alloc_count,pe_start");
      expect(pvs).toEqual([{ pv_name: dev, vg_name: "centos", pv_size: String(356 * MiB), pv_pe_count: "89", pv_pe_alloc_count: "88", pe_start: String(MiB) }]);
      const vgs = lvmReport("vgs", dev, "vg_name,vg_extent_size,lv_count,pv_count,vg_seqno");
      expect(vgs).toEqual([{ vg_name: "centos", vg_extent_size: String(4 * MiB), lv_count: "2", pv_count: "1", vg_seqno: "4" }]);
      const lvs = lvmReport("lvs", dev, "lv_name,lv_size,seg_count");
      expect(lvs).toEqual([
        { lv_name: "root", lv_size: String(320 * MiB), seg_count: "2" },
        { lv_name: "swap", lv_size: String(32 * MiB), seg_count: "1" },
      ]);
      const segs = lvmReport("lvs", dev, "lv_name,seg_start_pe,seg_pe_ranges", ["--segments"]);
      expect(segs.map((s) => `${s.lv_name} ${s.seg_start_pe} ${s.seg_pe_ranges?.replace(dev, "PV")}`)).toEqual(["root 0 PV:0-39", "root 40 PV:48-87", "swap 0 PV:40-47"]);

      const rootLv = join(scratch, "root.xfs");
      assembleLv(disk, pvPart.start * 512, MiB, 4 * MiB, segs.filter((s) => s.lv_name === "root"), rootLv);
      run("xfs_repair", ["-n", "-f", rootLv]);
      const fs = guest.expected.filesystems.find((f) => f.device === "/dev/centos/root")!;
      expect(runText("blkid", ["-o", "value", "-s", "TYPE", rootLv]).trim()).toBe("xfs");
      expect(runText("blkid", ["-o", "value", "-s", "UUID", rootLv]).trim()).toBe(fs.uuid);
      // The files inspection reads are inside the XFS, reachable through its directories.
      const release = runText("xfs_db", ["-r", "-c", "ls /etc", rootLv]);
      expect(release).toContain("centos-release");
      const swapLv = join(scratch, "swap");
      assembleLv(disk, pvPart.start * 512, MiB, 4 * MiB, segs.filter((s) => s.lv_name === "swap"), swapLv);
      expect(runText("blkid", ["-o", "value", "-s", "TYPE", swapLv]).trim()).toBe("swap");
    });
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
