import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { containerFstab, containerInittab, containerInterfaces } from "./adapt.js";

describe("container adaptations of configuration files", () => {
  it("comments out every mount of the machine's fstab, and leaves a clean one alone", () => {
    const fstab = "# static\nUUID=abc / ext4 defaults 1 1\n/dev/xvda2 swap swap defaults 0 0\ntmpfs /dev/shm tmpfs defaults 0 0\n";
    const out = containerFstab(fstab)!;
    expect(out).toContain("#leapp: UUID=abc / ext4 defaults 1 1");
    expect(out.split("\n").filter((l) => l !== "" && !l.startsWith("#"))).toEqual([]);
    expect(containerFstab("# nothing mounted\n")).toBeUndefined();
  });

  it("keeps only the loopback of /etc/network/interfaces", () => {
    const out = containerInterfaces("auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet static\n  address 192.0.2.5/24\n")!;
    expect(out).toContain("iface lo inet loopback");
    expect(out).not.toMatch(/^iface eth0/m);
    expect(containerInterfaces("auto lo\niface lo inet loopback\n")).toBeUndefined();
  });

  it("drops gettys from a SysV inittab and makes SIGPWR halt", () => {
    const inittab = "id:3:initdefault:\nsi::sysinit:/etc/rc.d/rc.sysinit\n1:2345:respawn:/sbin/mingetty tty1\nca::ctrlaltdel:/sbin/shutdown -t3 -r now\npf::powerwait:/etc/init.d/powerfail start\n";
    const out = containerInittab(inittab)!;
    expect(out).toContain("#leapp: 1:2345:respawn:/sbin/mingetty tty1");
    expect(out).toContain("#leapp: pf::powerwait:/etc/init.d/powerfail start");
    expect(out.split("\n").filter((l) => /^[^#].*:powerwait:/.test(l))).toEqual(["pf::powerwait:/sbin/shutdown -f -h now"]);
    // An upstart inittab (only the default runlevel) needs nothing.
    expect(containerInittab("id:3:initdefault:\n")).toBeUndefined();
  });

  it("never throws on arbitrary files, and leaves no active mount or getty behind (fast-check, seeded)", () => {
    const line = fc.oneof(fc.string(), fc.constantFrom("UUID=x / ext4 defaults 0 1", "1:2345:respawn:/sbin/mingetty tty1", "si::sysinit:/etc/rc.d/rc.sysinit", "auto eth0", "iface eth0 inet dhcp", "#", ""));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (lines) => {
        const text = lines.join("\n");
        const fstab = containerFstab(text);
        if (fstab !== undefined) expect(fstab.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"))).toEqual([]);
        const inittab = containerInittab(text);
        if (inittab !== undefined) expect(inittab.split("\n").filter((l) => /^[^#].*:respawn:.*getty/.test(l))).toEqual([]);
        const interfaces = containerInterfaces(text);
        if (interfaces !== undefined) expect(interfaces).not.toMatch(/^(auto|iface) (?!lo\b)/m);
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
