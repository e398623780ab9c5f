// The newcomer's first step, as a newcomer takes it: `node scripts/build-sample.mjs` as a user
// without root (here: nobody, when the tests run as root), into an empty cache. The disk it makes
// must be what a CentOS 6 guest holds — root-owned files, a mode-000 /etc/shadow, a 0550 /root —
// as e2fsck and debugfs read it, and nothing may be left behind in the cache or in /tmp.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("..", import.meta.url));
const script = join(repo, "scripts", "build-sample.mjs");
const home = mkdtempSync(join(tmpdir(), "leapp-newcomer-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const sbin = { PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
const asRoot = process.getuid?.() === 0;
const nobody = 65534;

/** Runs the script as a user without root: nobody when we are root, else ourselves. */
function buildAsUser(): { status: number | null; stdout: string; stderr: string } {
  if (asRoot) chownSync(home, nobody, nobody);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8" };
  const command = asRoot ? ["setpriv", `--reuid=${nobody}`, `--regid=${nobody}`, "--clear-groups", process.execPath, script] : [process.execPath, script];
  const r = spawnSync(command[0]!, command.slice(1), { env, encoding: "utf8", timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** debugfs's view of a path of the ext4 at `offset` in `disk`: mode, uid and gid. */
function inode(disk: string, offset: number, path: string): { mode: string; uid: number; gid: number } {
  const out = execFileSync("debugfs", ["-R", `stat "${path}"`, `${disk}?offset=${offset}`], { encoding: "utf8", env: { ...process.env, ...sbin }, stdio: ["ignore", "pipe", "ignore"] });
  const mode = /Mode:\s+(\d+)/.exec(out)?.[1] ?? "?";
  const owner = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
  return { mode, uid: Number(owner?.[1]), gid: Number(owner?.[2]) };
}

describe("the sample guest, built without root", () => {
  it("builds into an empty cache, and holds a CentOS 6 root filesystem that fsck passes", () => {
    if (!existsSync(join(repo, "tools", "zoo", "dist", "index.js"))) throw new Error("tools/zoo is not built: run 'pnpm build' first");
    const tmpBefore = readdirSync(tmpdir()).filter((n) => n.startsWith("leapp-sample-"));
    const r = buildAsUser();
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const dir = r.stdout.trim();
    expect(dir).toMatch(new RegExp(`^${home}/\\.cache/leapp/zoo/sample-el6-xen-[0-9a-f]{16}$`));
    const disk = join(dir, "disk.img");
    expect(readFileSync(join(dir, "domain.xml"), "utf8")).toContain(`<source file='${disk}'/>`);
    expect(readlinkSync(disk)).toMatch(/\/zoo\/el6-xen-[0-9a-f]{16}\/disk1\.raw$/);

    const layout = JSON.parse(readFileSync(join(repo, "samples", "el6-xen", "layout.json"), "utf8")) as { root: { startMiB: number; sizeMiB: number } };
    const offset = layout.root.startMiB << 20;
    const fs = join(home, "root.ext4");
    execFileSync("dd", [`if=${disk}`, `of=${fs}`, "bs=1M", `skip=${layout.root.startMiB}`, `count=${layout.root.sizeMiB}`, "status=none"]);
    execFileSync("e2fsck", ["-fn", fs], { env: { ...process.env, ...sbin }, stdio: "ignore" });
    rmSync(fs);
    expect(inode(disk, offset, "/etc/shadow")).toEqual({ mode: "0000", uid: 0, gid: 0 });
    expect(inode(disk, offset, "/root")).toEqual({ mode: "0550", uid: 0, gid: 0 });
    expect(inode(disk, offset, "/root/.bashrc")).toMatchObject({ uid: 0, gid: 0 });
    expect(inode(disk, offset, "/var/lib/rpm/Packages")).toMatchObject({ uid: 0, gid: 0 });
    expect(inode(disk, offset, "/boot/initramfs-2.6.32-754.35.1.el6.x86_64.img")).toMatchObject({ uid: 0, gid: 0 });

    // Nothing half-built stays in the cache, nothing at all in /tmp; a second run reuses the build.
    const cache = join(home, ".cache", "leapp", "zoo");
    expect(readdirSync(cache).filter((n) => n.startsWith(".tmp-") || n.endsWith(".lock"))).toEqual([]);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith("leapp-sample-"))).toEqual(tmpBefore);
    const again = buildAsUser();
    expect(again.status).toBe(0);
    expect(again.stdout.trim()).toBe(dir);
  });
});
