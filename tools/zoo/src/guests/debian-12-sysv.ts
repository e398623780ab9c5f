// debian-12-sysv: a root tree made by the real debootstrap with SysV init (sysvinit-core, no
// systemd) serving a page with Apache — a guest that boots the way CentOS 6 and other pre-systemd
// guests do, and that runs here (the el6-xen sample's binaries are placeholders). A tree only, no
// disk image: the packager's tests containerize it from the directory. Cached by the hash of this
// recipe; a slow-tier fixture (debootstrap, about a minute).
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cached, recipeHash } from "../cache.js";
import { MiB } from "../disk.js";
import { runText } from "../run.js";
import { lines, writeGuestFile } from "../tree.js";
import { debianMirror } from "./debian-12.js";

const packages = ["sysvinit-core", "apache2", "ifupdown", "netbase", "procps"];
export const debianSysvHostname = "deb12-sysv";
/** The page the guest serves, so a test can tell it answered. */
export const debianSysvPage = "<html><body><h1>deb12-sysv: served by the guest's own Apache under SysV init</h1></body></html>\n";

/** Builds (or finds in the cache) the tree and returns its root directory. */
export async function buildDebianSysvTree(): Promise<string> {
  const dir = await cached(`debian-12-sysv-${recipeHash(["debian-12-sysv.ts", "debian-12.ts"])}`, (temp) => {
    const root = join(temp, "root");
    mkdirSync(root);
    try {
      runText("debootstrap", ["--variant=minbase", `--include=${packages.join(",")}`, "bookworm", root, debianMirror()], { maxBuffer: 256 * MiB });
    } catch (err) {
      // A failed debootstrap can leave /proc and /sys mounted in the target: unmount before the cache removes it.
      for (const mount of readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(`${root}/`)).sort().reverse()) {
        spawnSync("umount", ["--lazy", mount]);
      }
      throw err;
    }
    for (const d of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
      for (const name of readdirSync(join(root, d))) if (name !== "partial" && name !== "lock") rmSync(join(root, d, name), { recursive: true, force: true });
    }
    writeGuestFile(root, "/etc/hostname", `${debianSysvHostname}\n`);
    writeGuestFile(root, "/etc/hosts", lines("127.0.0.1\tlocalhost", `127.0.1.1\t${debianSysvHostname}`));
    writeGuestFile(root, "/etc/fstab", lines("# <file system> <mount point> <type> <options> <dump> <pass>", "/dev/vda1 / ext4 errors=remount-ro 0 1", "/dev/vda2 none swap sw 0 0"));
    writeGuestFile(root, "/etc/network/interfaces", lines("auto lo", "iface lo inet loopback", "", "auto eth0", "iface eth0 inet static", "\taddress 198.51.100.7/24", "\tgateway 198.51.100.1"));
    writeGuestFile(root, "/var/www/html/index.html", debianSysvPage);
    // debootstrap made no init decision for us: SysV's inittab must be there.
    if (!readFileSync(join(root, "etc/inittab"), "utf8").includes("initdefault")) throw new Error("debootstrap did not install sysvinit's inittab");
  });
  return join(dir, "root");
}
