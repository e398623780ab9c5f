import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PackagerError } from "./errors.js";
import { defaultExclusions, exclusionMatcher, normalizeRulePath } from "./exclusions.js";

describe("exclusions", () => {
  const match = exclusionMatcher(defaultExclusions);
  const why = (path: string, dir = false) => match(path, dir)?.path;

  it("keeps mount points but not what is below them", () => {
    expect(why("/proc", true)).toBeUndefined();
    expect(why("/proc/1", true)).toBe("/proc");
    expect(why("/boot/vmlinuz-6.1")).toBe("/boot");
    expect(why("/usr/lib/modules/6.1.0", true)).toBe("/usr/lib/modules");
  });

  it("drops runtime files but keeps the directories services expect", () => {
    expect(why("/var/run/httpd", true)).toBeUndefined();
    expect(why("/var/run/httpd/httpd.pid")).toBe("/var/run");
    expect(why("/run/sshd.pid")).toBe("/run");
  });

  it("matches globs within one component: host network configuration goes, the loopback stays", () => {
    expect(why("/etc/sysconfig/network-scripts/ifcfg-eth0")).toBe("/etc/sysconfig/network-scripts/ifcfg-[!l]*");
    expect(why("/etc/sysconfig/network-scripts/ifcfg-lo")).toBeUndefined();
    expect(why("/etc/sysconfig/network-scripts/ifup-eth")).toBeUndefined();
  });

  it("lets --include bring a path back, with what leads to it", () => {
    const m = exclusionMatcher(defaultExclusions, ["/boot/grub"]);
    expect(m("/boot/grub", true)).toBeUndefined();
    expect(m("/boot/grub/grub.cfg", false)).toBeUndefined();
    expect(m("/boot/vmlinuz", false)?.path).toBe("/boot");
  });

  it("normalizes user paths and refuses relative ones", () => {
    expect(normalizeRulePath("/var//log/../cache/")).toBe("/var/cache");
    expect(() => normalizeRulePath("var/cache")).toThrow(PackagerError);
  });

  it("takes any user path or glob without throwing anything but a PackagerError (fast-check, seeded)", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 5 }), fc.string(), (paths, probe) => {
        try {
          const m = exclusionMatcher(paths.map((p) => ({ path: p, what: "all" as const, reason: "fuzz" })), paths);
          m("/" + probe, false);
        } catch (err) {
          expect(err).toBeInstanceOf(PackagerError);
        }
      }),
      { seed: 5, numRuns: 300 },
    );
  });
});
