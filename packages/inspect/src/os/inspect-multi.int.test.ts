// Several operating systems on one guest's disks, and disks left out — made of the zoo's guests
// (real images from sfdisk, mkfs, rpm): el6-xen's disk and el7-vmware's disk given together are
// a guest with two Linux roots; el9-like without its second disk lacks the one fstab mounts.
import { describe, expect, it } from "vitest";
import { buildZooGuest } from "@leapp/zoo";
import { openImageGuest } from "../guestfs/image-guest.js";
import { validateVirtInspectorXml } from "../testing/zoo-expectations.js";
import { toVirtInspectorXml } from "../report/virt-inspector-xml.js";
import { inspectSources } from "./inspect.js";

describe("inspecting disks that hold several operating systems", () => {
  it("reports every root, in disk order, each as when its disks are inspected alone", async () => {
    const el6 = await buildZooGuest("el6-xen", "raw");
    const el7 = await buildZooGuest("el7-vmware", "qcow2");
    const both = await inspectSources([...el6.disks, ...el7.disks]);
    expect(both.map((r) => r.root)).toEqual(["/dev/sda1", "/dev/centos/root"]);
    const [alone6] = await inspectSources(el6.disks);
    const [alone7] = await inspectSources(el7.disks);
    expect(both[0]!.os).toEqual(alone6!.os);
    expect(both[1]!.os).toEqual(alone7!.os);
    expect(both[0]!.applications).toEqual(alone6!.applications);
    expect(both[1]!.applications).toEqual(alone7!.applications);
    // el7's /boot was /dev/sda1 alone; beside el6's disk it is the second disk's first partition.
    expect(alone7!.mountpoints).toContainEqual({ device: "/dev/sda1", mountpoint: "/boot" });
    expect(both[1]!.mountpoints).toContainEqual({ device: "/dev/sdb1", mountpoint: "/boot" });
    expect(both.map((r) => r.warnings)).toEqual([[], []]);
    const xml = toVirtInspectorXml(both);
    expect(xml.match(/<operatingsystem>/g)).toHaveLength(2);
    validateVirtInspectorXml(xml, "two-roots");
  }, 120_000);

  it("names the other roots when one is opened, and opens each on request", async () => {
    const el6 = await buildZooGuest("el6-xen", "raw");
    const el7 = await buildZooGuest("el7-vmware", "raw");
    const guest = await openImageGuest([...el6.disks, ...el7.disks]);
    expect(guest.context.rootDevice).toBe("/dev/sda1");
    expect(guest.context.otherRoots).toEqual(["/dev/centos/root"]);
    await guest.close();
    const second = await openImageGuest([...el6.disks, ...el7.disks], { root: "/dev/centos/root" });
    expect(new TextDecoder().decode(await second.readFile("/etc/centos-release"))).toContain("CentOS Linux release 7");
    await second.close();
  });
});

describe("inspecting a guest with a disk left out", () => {
  it("inspects what is there and warns about each filesystem fstab needs from the missing disk", async () => {
    const el9 = await buildZooGuest("el9-like", "raw");
    expect(el9.disks).toHaveLength(2);
    const [complete] = await inspectSources(el9.disks);
    expect(complete!.warnings).toEqual([]);
    const [partial] = await inspectSources(el9.disks.slice(0, 1));
    expect(partial!.os).toEqual(complete!.os);
    expect(partial!.applications).toEqual(complete!.applications);
    expect(partial!.warnings).toHaveLength(1);
    expect(partial!.warnings[0]).toMatch(/^\/etc\/fstab mounts \/srv\/data from UUID=\S+, which is on none of the given disks: name all of the guest's disks, in order$/);
  }, 120_000);
});
