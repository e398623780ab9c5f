// inspect() on the project's sample guest tree (samples/el6-xen/root, read-only) and on hostile
// trees made here: huge and binary /etc files, no OS at all.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openDirectoryGuest } from "../guestfs/directory-guest.js";
import { InspectError } from "../errors.js";
import { MAX_PACKAGES } from "./application.js";
import { inspect } from "./inspect.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const sample = join(repoRoot, "samples", "el6-xen", "root");
const work = mkdtempSync(join(tmpdir(), "leapp-inspect-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string | Uint8Array>, links: Record<string, string> = {}): string {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  return root;
}

describe("inspect on the sample guest", () => {
  it("reports what its files say", async () => {
    const guest = await openDirectoryGuest(sample);
    const r = await inspect(guest);
    await guest.close();
    expect(r.os).toMatchObject({
      type: "linux",
      distro: "centos",
      productName: "CentOS release 6.10 (Final)",
      majorVersion: 6,
      minorVersion: 10,
      osinfo: "centos6.10",
      hostname: "web01.example.com",
      packageFormat: "rpm",
      packageManagement: "yum",
    });
    expect(r.mountpoints).toEqual([{ device: "/dev/xvda1", mountpoint: "/" }]);
    expect(r.filesystems).toEqual([
      { device: "/dev/xvda1", type: "ext4" },
      { device: "/dev/xvda2", type: "swap" },
    ]);
    expect(r.kernels.map((k) => [k.version, k.xen])).toEqual([
      ["2.6.18-419.el5xen", true],
      ["2.6.32-754.35.1.el6.x86_64", false],
    ]);
    expect(r.boot?.loader).toBe("grub");
    expect(r.boot?.defaultKernel).toBe("2.6.32-754.35.1.el6.x86_64");
    expect(r.boot?.default?.options).toContain("console=hvc0");
    expect(r.init).toEqual({ type: "sysv", default: "3" });
    expect(r.services.filter((s) => s.atBoot).map((s) => s.name)).toEqual(["crond", "httpd", "mysqld", "network", "sshd"]);
    expect(r.hypervisorTools.map((t) => `${t.hypervisor}:${t.name}`)).toEqual(expect.arrayContaining(["xen:xenblk", "xen:xennet"]));
    expect(r.network).toEqual([
      expect.objectContaining({ name: "eth0", format: "ifcfg", method: "static", addresses: ["192.0.2.10/24"], gateway: "192.0.2.1", macAddress: "00:16:3e:5d:c7:9e", onBoot: true }),
    ]);
    expect(r.live).toBeUndefined();
  });
});

describe("inspect on hostile trees", () => {
  const minimal = {
    "etc/fstab": "/dev/sda1 / ext4 defaults 1 1\n",
    "etc/redhat-release": "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
    "bin/bash": new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 62, 0]),
  };

  it("treats a huge os-release and a binary fstab as missing facts, with warnings", async () => {
    const huge = "ID=evil\n".repeat(400_000); // 3.2 MB: above the small-file bound
    const binary = new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff);
    const root = tree("hostile", { ...minimal, "etc/os-release": huge, "etc/fstab": binary, "etc/hostname": binary.subarray(0, 64), "etc/hosts": "" });
    const guest = await openDirectoryGuest(root);
    const r = await inspect(guest);
    await guest.close();
    expect(r.os.distro).toBe("rhel");
    expect(r.os.osinfo).toBe("rhel7.9");
    expect(r.os.arch).toBe("x86_64");
    expect(r.warnings.some((w) => w.includes("/etc/os-release"))).toBe(true);
    expect(r.mountpoints).toEqual([]);
  });

  it("does not follow links out of the tree while inspecting", async () => {
    const root = tree("escape", { ...minimal }, { "etc/hostname": "../../../../../../etc/hostname", "etc/os-release": "/proc/self/environ" });
    const guest = await openDirectoryGuest(root);
    const r = await inspect(guest);
    await guest.close();
    expect(r.os.hostname).toBeUndefined();
    expect(r.os.distro).toBe("rhel");
  });

  it("survives link loops where it looks", async () => {
    const root = tree("loops", { ...minimal }, { "etc/os-release": "os-release", "boot": "boot", "etc/systemd/system": "../systemd/system", "lib/modules": "/lib/modules" });
    const guest = await openDirectoryGuest(root);
    const r = await inspect(guest);
    await guest.close();
    expect(r.os.distro).toBe("rhel");
    expect(r.kernels).toEqual([]);
    expect(r.warnings.some((w) => w.includes("symbolic links"))).toBe(true);
  });

  it("says in warnings that a dpkg status of 250,000 packages was cut to MAX_PACKAGES", async () => {
    const stanzas = Array.from({ length: 250_000 }, (_, i) => `Package: pkg${i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.${i}-1\n`);
    const root = tree("many-debs", { "etc/fstab": minimal["etc/fstab"], "bin/bash": minimal["bin/bash"], "etc/os-release": "ID=debian\nVERSION_ID=12\n", "var/lib/dpkg/status": stanzas.join("\n") });
    const guest = await openDirectoryGuest(root);
    const r = await inspect(guest);
    await guest.close();
    expect(r.applications.length).toBe(MAX_PACKAGES);
    expect(r.warnings).toContain(`/var/lib/dpkg/status: 250000 installed packages; only the first ${MAX_PACKAGES} are reported`);
  }, 60_000);

  it("stops at once when its signal is aborted, with the signal's reason", async () => {
    const guest = await openDirectoryGuest(sample);
    const controller = new AbortController();
    const reason = new Error("stop");
    const pending = inspect(guest, { signal: controller.signal });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(inspect(guest, { signal: controller.signal })).rejects.toBe(reason);
    await guest.close();
  });

  it("says INSPECT_NO_OS for a tree without an OS", async () => {
    const root = tree("data", { "srv/data.txt": "x" });
    const guest = await openDirectoryGuest(root);
    await expect(inspect(guest)).rejects.toSatisfy((e) => e instanceof InspectError && e.code === "INSPECT_NO_OS");
    await guest.close();
  });
});
