// virt-customize as the oracle: the debian-12 zoo guest (debootstrap) customized by virt-customize
// (libguestfs's appliance under TCG) and by leapp with the same operations, each through its own
// overlay; then both guests are walked whole and must agree on every file's type, mode, owner,
// content and link target — except what virt-customize adds on its own (a random seed) or
// leapp on purpose (Debian's /etc/timezone, a SHA-512 rather than yescrypt hash). leapp's result is
// also judged by e2fsck and the kernel.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildZooGuest } from "@leapp/zoo";
import { afterAll, describe, expect, it } from "vitest";
import { openImageGuest } from "../guestfs/image-guest.js";
import type { GuestFS } from "../guestfs/guestfs.js";
import { customize } from "./customize.js";
import { judgeGuest } from "./judge-test-support.js";
import { parseCustomizeOption } from "./syntax.js";

const work = mkdtempSync(join(tmpdir(), "leapp-customize-oracle-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every path of a guest with what both tools must agree on. */
async function snapshot(guest: GuestFS): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await guest.readdir(dir)).sort()) {
      const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
      const st = await guest.lstat(path);
      let what = `${st.type} ${st.mode.toString(8)} ${st.uid}:${st.gid}`;
      if (st.type === "file") what += ` ${createHash("sha256").update(await guest.readFile(path, { maxBytes: 1 << 30 })).digest("hex")}`;
      if (st.type === "symlink") what += ` -> ${await guest.readlink(path)}`;
      out.set(path, what);
      if (st.type === "directory" && !["/proc", "/sys", "/dev"].includes(path)) await walk(path);
    }
  };
  await walk("/");
  return out;
}

describe("customize against virt-customize", () => {
  it("debian-12: the same operations give the same guest", async () => {
    const guest = await buildZooGuest("debian-12");
    const base = guest.disks[0]!;
    const tree = join(work, "site");
    mkdirSync(join(tree, "conf"), { recursive: true });
    writeFileSync(join(tree, "conf", "site.conf"), "listen 8080\n");
    writeFileSync(join(tree, "index.html"), "<h1>moved</h1>\n");
    chmodSync(join(tree, "conf"), 0o750);
    const tool = join(work, "tool.sh");
    writeFileSync(tool, "#!/bin/sh\necho leapp\n", { mode: 0o755 });
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl oracle@leapp";
    const options: Array<[string, string]> = [
      ["hostname", "web.kvm.example.net"],
      ["timezone", "Europe/Paris"],
      ["mkdir", "/srv/app/conf"],
      ["write", "/srv/app/conf/app.conf:key=value"],
      ["append-line", "/etc/hosts:10.0.0.5 db.internal"],
      ["edit", "/etc/ssh/sshd_config:s/^#?PermitRootLogin.*/PermitRootLogin no/"],
      ["upload", `${tool}:/usr/local/bin/`],
      ["copy-in", `${tree}:/var/www`],
      ["chmod", "0600:/srv/app/conf/app.conf"],
      ["link", "/srv/app/conf/app.conf:/etc/app.conf"],
      ["touch", "/etc/leapp-oracle"],
      ["truncate", "/etc/motd"],
      ["delete", "/var/log/*.log"],
      ["move", "/etc/issue.net:/root/issue.net"],
      ["root-password", "password:oracle"],
      ["ssh-inject", `root:string:${key}`],
    ];

    const theirs = join(work, "vc.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", theirs]);
    execFileSync("virt-customize", ["-q", "--no-network", "-a", theirs, ...options.flatMap(([n, v]) => [`--${n}`, v])], {
      env: { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const operations = await Promise.all(options.map(async ([n, v]) => (await parseCustomizeOption(n, v)).operation));
    mkdirSync(join(work, "ours"));
    const ours = (await customize([base], operations, { output: { overlayDir: join(work, "ours") } })).overlays;

    const open = (overlay: string) => openImageGuest([overlay], { trustedBackingDirs: [dirname(base)] });
    const [a, b] = [await open(ours[0]!), await open(theirs)];
    const [mine, vc] = [await snapshot(a), await snapshot(b)];
    const shadow = async (g: GuestFS) => new TextDecoder().decode(await g.readFile("/etc/shadow")).split("\n")[0]!.split(":");
    const [myRoot, vcRoot] = [await shadow(a), await shadow(b)];
    await a.close();
    await b.close();

    // Where the two differ on purpose: virt-customize's own additions, leapp's extra record of the
    // zone, and the password hash (virt-customize picks yescrypt for Debian 12; both are valid).
    const expectedDifferences = new Set(["/var/lib/systemd/random-seed", "/etc/timezone", "/etc/shadow"]);
    const differing = [...new Set([...mine.keys(), ...vc.keys()])].filter((p) => mine.get(p) !== vc.get(p) && !expectedDifferences.has(p));
    expect(differing.map((p) => `${p}\n  leapp:          ${mine.get(p)}\n  virt-customize: ${vc.get(p)}`)).toEqual([]);
    expect(myRoot[1]).toMatch(/^\$6\$/);
    expect(vcRoot[1]).toMatch(/^\$(y|6)\$/);
    expect(myRoot.slice(2)).toEqual(vcRoot.slice(2));

    const view = await judgeGuest(ours);
    try {
      expect(view.report.os.hostname).toBe("web.kvm.example.net");
      expect(readFileSync(view.host("/etc/timezone"), "utf8")).toBe("Europe/Paris\n");
      expect(readlinkSync(view.host("/etc/localtime"))).toBe("/usr/share/zoneinfo/Europe/Paris");
    } finally {
      view.close();
    }
  });

  it("el6-xen: RHEL 6's hostname, password and keys as virt-customize writes them", async () => {
    const guest = await buildZooGuest("el6-xen");
    const base = guest.disks[0]!;
    const key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 oracle@leapp";
    const options: Array<[string, string]> = [
      ["hostname", "db02.kvm.example.com"],
      ["root-password", "password:oracle"],
      ["ssh-inject", `root:string:${key}`],
      ["edit", "/etc/fstab:s/xvda/vda/g"],
      ["delete", "/etc/modprobe.d/xen*"],
      ["append-line", "/etc/sysconfig/network:NOZEROCONF=yes"],
    ];
    const theirs = join(work, "vc-el6.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", theirs]);
    execFileSync("virt-customize", ["-q", "--no-network", "-a", theirs, ...options.flatMap(([n, v]) => [`--${n}`, v])], {
      env: { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = join(work, "ours-el6");
    mkdirSync(out);
    const operations = await Promise.all(options.map(async ([n, v]) => (await parseCustomizeOption(n, v)).operation));
    const ours = (await customize([base], operations, { output: { overlayDir: out } })).overlays;
    const open = (overlay: string) => openImageGuest([overlay], { trustedBackingDirs: [dirname(base)] });
    const [a, b] = [await open(ours[0]!), await open(theirs)];
    const [mine, vc] = [await snapshot(a), await snapshot(b)];
    const shadow = async (g: GuestFS) => new TextDecoder().decode(await g.readFile("/etc/shadow")).split("\n");
    const [myShadow, vcShadow] = [await shadow(a), await shadow(b)];
    await a.close();
    await b.close();
    // virt-customize seeds the guest's random pool (/var/lib/random-seed) on its own.
    const differing = [...new Set([...mine.keys(), ...vc.keys()])].filter((p) => mine.get(p) !== vc.get(p) && !["/var/lib/random-seed", "/etc/shadow"].includes(p));
    expect(differing.map((p) => `${p}\n  leapp:          ${mine.get(p)}\n  virt-customize: ${vc.get(p)}`)).toEqual([]);
    // Both hash with SHA-512 crypt for CentOS 6; only the salts differ.
    const unsalted = (lines: string[]) => lines.map((l) => l.replace(/\$6\$[^$:]+\$[^:]+/, "$6$SALT$HASH"));
    expect(unsalted(myShadow)).toEqual(unsalted(vcShadow));
    expect(myShadow[0]).toMatch(/^root:\$6\$/);
  });
});
