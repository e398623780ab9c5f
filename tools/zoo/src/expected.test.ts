import { describe, expect, it } from "vitest";
import { el6Xen } from "./guests/el6-xen.js";
import { el7Vmware } from "./guests/el7-vmware.js";
import { el9Like } from "./guests/el9-like.js";
import { debian12 } from "./guests/debian-12.js";
import { splitDebianVersion } from "./guests/debian-12.js";
import { debianVmware, debianXen } from "./guests/debian-bootable.js";
import { byNameVersionRelease } from "./nevra.js";
import { buildZooGuest, zooGuestNames, zooTier } from "./index.js";

const recipes = [el6Xen, el7Vmware, el9Like, debian12, debianXen, debianVmware];

describe("zoo ground truth", () => {
  it("has one recipe per guest name, with the tiers the CI budget allows", () => {
    expect(recipes.map((r) => r.name)).toEqual(zooGuestNames);
    expect(zooGuestNames.map(zooTier)).toEqual(["integration", "integration", "integration", "slow", "slow", "slow"]);
    for (const r of recipes) expect(r.tier).toBe(zooTier(r.name));
  });

  for (const { name, expected } of recipes) {
    it(`${name}: mountpoints, root and filesystems agree; lists are sorted`, () => {
      const devices = expected.filesystems.map((f) => f.device);
      expect([...devices].sort()).toEqual(devices);
      expect(expected.mountpoints["/"]).toBe(expected.root);
      for (const dev of Object.values(expected.mountpoints)) expect(devices).toContain(dev);
      for (const f of expected.filesystems) expect(f.uuid).toMatch(f.type === "vfat" ? /^[0-9A-F]{4}-[0-9A-F]{4}$/ : /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect([...expected.applications].sort(byNameVersionRelease)).toEqual(expected.applications);
      expect([...expected.services].sort()).toEqual(expected.services);
      if (expected.defaultKernel !== null) expect(expected.kernels.map((k) => k.version)).toContain(expected.defaultKernel);
      expect(expected.osinfo.startsWith(expected.distro)).toBe(true);
    });
  }

  it("rpm guests list the packages the task names, some with an epoch", () => {
    const names = (r: typeof el6Xen): string[] => r.expected.applications.map((a) => a.name);
    for (const p of ["kernel", "kernel-xen", "httpd", "php", "mysql-server", "openssh-server", "initscripts", "centos-release"]) expect(names(el6Xen)).toContain(p);
    for (const p of ["kernel", "open-vm-tools", "httpd", "openssh-server", "systemd", "centos-release"]) expect(names(el7Vmware)).toContain(p);
    for (const r of [el6Xen, el7Vmware, el9Like]) expect(r.expected.applications.some((a) => a.epoch > 0)).toBe(true);
    expect(el6Xen.expected.applications.find((a) => a.name === "centos-release")?.arch).toBe("noarch");
  });

  it("splits Debian versions into epoch, upstream version and revision", () => {
    expect(splitDebianVersion("1:9.2p1-2+deb12u3")).toEqual({ epoch: 1, version: "9.2p1", release: "2+deb12u3" });
    expect(splitDebianVersion("3.134")).toEqual({ epoch: 0, version: "3.134", release: "" });
    expect(splitDebianVersion("2.4.62-1~deb12u2")).toEqual({ epoch: 0, version: "2.4.62", release: "1~deb12u2" });
  });

  it("refuses unknown guests and containers with typed errors", async () => {
    await expect(buildZooGuest("el5" as never)).rejects.toMatchObject({ code: "ZOO_UNKNOWN_GUEST" });
    await expect(buildZooGuest("el6-xen", "vdi" as never)).rejects.toMatchObject({ code: "ZOO_BAD_INPUT" });
  });
});
