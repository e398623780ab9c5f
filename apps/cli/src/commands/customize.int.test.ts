// `leapp customize` as users run it, on a two-disk guest made here with mkfs.ext4 -d (the sample's
// CentOS 6 tree as root) and mkfs.xfs (its /srv on the second disk): the JSON contract, a dry run
// that writes nothing, `leapp inspect` of the overlay showing the change — and the built command
// killed with SIGKILL in the middle of a long --copy-in: the sources untouched, no overlay (only
// storage's .NAME.leapp-tmp-* leftover), and the same command run again succeeds.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CustomizeResult, InspectionReport } from "@leapp/inspect";
import { ExitCode } from "../errors.js";
import { killAtProgress, leapp } from "../test-streams.js";

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const sampleRoot = fileURLToPath(new URL("../../../../samples/el6-xen/root", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "leapp-cli-customize-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const disk = join(work, "web01-root.img");
const data = join(work, "web01-data.img");
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'pnpm build' first`);
  const root = join(work, "root");
  cpSync(sampleRoot, root, { recursive: true, verbatimSymlinks: true });
  for (const d of ["bin", "srv", "opt"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "etc/fstab"), "/dev/xvda / ext4 defaults 1 1\n/dev/xvdb /srv xfs defaults 0 0\n");
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", root, disk, "300M"], { env });
  execFileSync("truncate", ["-s", "300M", data]);
  execFileSync("mkfs.xfs", ["-q", data], { env });
});

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("leapp customize", () => {
  it("--json: the overlays made and each operation's path and filesystem; leapp inspect of the overlay sees the change", async () => {
    const out = join(work, "json");
    mkdirSync(out);
    const before = sha256(disk);
    const r = await leapp("customize", disk, data, "-o", `${out}/`, "--hostname", "cli.example.com", "--mkdir", "/srv/www", "--write", "/srv/www/index.html:<h1>moved</h1>", "--json");
    expect(r.code, r.err + r.out).toBe(ExitCode.ok);
    const result = JSON.parse(r.out) as CustomizeResult;
    expect(result.overlays).toEqual([join(out, "web01-root-sda.qcow2"), join(out, "web01-data-sdb.qcow2")]);
    expect(result.operations.map(({ op, path, filesystem }) => ({ op, path, filesystem }))).toEqual([
      { op: "hostname", path: "/etc/sysconfig/network", filesystem: "/dev/sda" },
      { op: "mkdir", path: "/srv/www", filesystem: "/dev/sdb" },
      { op: "write", path: "/srv/www/index.html", filesystem: "/dev/sdb" },
    ]);
    expect(sha256(disk)).toBe(before);
    const inspected = await leapp("inspect", "--backing-dir", dirname(disk), ...result.overlays, "--json");
    expect(inspected.code, inspected.err).toBe(ExitCode.ok);
    expect((JSON.parse(inspected.out) as InspectionReport[])[0]!.os.hostname).toBe("cli.example.com");
  });

  it("--dry-run --json lists where each operation would land and creates nothing", async () => {
    const out = join(work, "dry");
    mkdirSync(out);
    const r = await leapp("customize", disk, data, "-o", `${out}/`, "--dry-run", "--write", "/srv/new/x:1", "--touch", "/etc/x", "--json");
    expect(r.code, r.err).toBe(ExitCode.ok);
    const result = JSON.parse(r.out) as CustomizeResult;
    expect(result.dryRun).toBe(true);
    expect(result.operations.map((o) => [o.path, o.filesystem, o.mountpoint])).toEqual([
      ["/srv/new/x", "/dev/sdb", "/srv"],
      ["/etc/x", "/dev/sda", "/"],
    ]);
    expect(readdirSync(out)).toEqual([]);
  });

  it("killed with SIGKILL during a long --copy-in: the source untouched, no overlay; run again, it completes", async () => {
    const tree = join(work, "tree");
    for (let d = 0; d < 40; d++) {
      mkdirSync(join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < 50; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), Buffer.alloc(40_000, d * 50 + f));
    }
    const out = join(work, "killed");
    mkdirSync(out);
    const before = sha256(disk);
    const args = ["--progress", "json", "customize", disk, data, "-o", `${out}/`, "--copy-in", `${tree}:/opt`];
    const signal = await killAtProgress(args, (e) => e.task === "copy-in" && e.done > 0 && e.done < e.total, "the copy");
    expect(signal).toBe("SIGKILL");
    expect(sha256(disk)).toBe(before);
    const left = readdirSync(out);
    expect(left.every((name) => /^\.web01-(root-sda|data-sdb)\.qcow2\.leapp-tmp-/.test(name)), left.join(", ")).toBe(true);
    expect(existsSync(join(out, "web01-root-sda.qcow2"))).toBe(false);
    const again = await leapp("customize", disk, data, "-o", `${out}/`, "--copy-in", `${tree}:/opt`, "--json");
    expect(again.code, again.err).toBe(ExitCode.ok);
    expect(readdirSync(out).filter((n) => !n.startsWith(".")).sort()).toEqual(["web01-data-sdb.qcow2", "web01-root-sda.qcow2"]);
  });
});
