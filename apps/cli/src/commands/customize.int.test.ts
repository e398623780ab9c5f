// `leapp customize` on a zoo guest, as users run it: the JSON contract, a dry run that writes
// nothing, `leapp inspect` of the overlay showing the change — and the built command killed with
// SIGKILL in the middle of a long --copy-in: the source untouched, no overlay (only storage's
// .NAME.leapp-tmp-* leftover), and the same command run again succeeds.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildZooGuest } from "@leapp/zoo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CustomizeResult, InspectionReport } from "@leapp/inspect";
import { ExitCode } from "../errors.js";
import { run } from "../program.js";
import { captureStreams } from "../test-streams.js";

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "leapp-cli-customize-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let disk: string;
beforeAll(async () => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'pnpm build' first`);
  disk = (await buildZooGuest("el7-vmware")).disks[0]!;
});

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

async function leapp(...args: string[]) {
  const io = captureStreams();
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe("leapp customize", () => {
  it("--json: the overlays made and each operation's path and filesystem; leapp inspect of the overlay sees the change", async () => {
    const out = join(work, "json");
    mkdirSync(out);
    const before = sha256(disk);
    const r = await leapp("customize", disk, "-o", `${out}/`, "--hostname", "cli.example.com", "--mkdir", "/var/www/site", "--write", "/var/www/site/index.html:<h1>moved</h1>", "--json");
    expect(r.code, r.err + r.out).toBe(ExitCode.ok);
    const result = JSON.parse(r.out) as CustomizeResult;
    expect(result.overlays).toEqual([join(out, "disk1-sda.qcow2")]);
    expect(result.operations.map(({ op, path, filesystem }) => ({ op, path, filesystem }))).toEqual([
      { op: "hostname", path: "/etc/hostname", filesystem: "/dev/centos/root" },
      { op: "mkdir", path: "/var/www/site", filesystem: "/dev/centos/root" },
      { op: "write", path: "/var/www/site/index.html", filesystem: "/dev/centos/root" },
    ]);
    expect(sha256(disk)).toBe(before);
    const inspected = await leapp("inspect", "--backing-dir", dirname(disk), result.overlays[0]!, "--json");
    expect(inspected.code, inspected.err).toBe(ExitCode.ok);
    expect((JSON.parse(inspected.out) as InspectionReport).os.hostname).toBe("cli.example.com");
  });

  it("--dry-run --json lists where each operation would land and creates nothing", async () => {
    const out = join(work, "dry");
    mkdirSync(out);
    const r = await leapp("customize", disk, "-o", `${out}/`, "--dry-run", "--write", "/boot/grub2/x:1", "--touch", "/home/user1/x", "--json");
    expect(r.code, r.err).toBe(ExitCode.ok);
    const result = JSON.parse(r.out) as CustomizeResult;
    expect(result.dryRun).toBe(true);
    expect(result.operations.map((o) => [o.path, o.filesystem, o.mountpoint])).toEqual([
      ["/boot/grub2/x", "/dev/sda1", "/boot"],
      ["/home/user1/x", "/dev/centos/home", "/home"],
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
    const args = [cli, "--progress", "json", "customize", disk, "-o", `${out}/`, "--copy-in", `${tree}:/opt`];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        stderr += chunk;
        for (const line of stderr.split("\n").slice(0, -1)) {
          const event = JSON.parse(line) as { task: string; done: number; total: number };
          if (event.task === "copy-in" && event.done > 0 && event.done < event.total) {
            child.kill("SIGKILL");
            resolve();
          }
        }
      });
      child.on("exit", () => reject(new Error(`the copy ended before it could be killed:\n${stderr}`)));
    });
    expect(await exited).toBe("SIGKILL");
    expect(sha256(disk)).toBe(before);
    const left = readdirSync(out);
    expect(left.every((name) => name.startsWith(".disk1-sda.qcow2.leapp-tmp-")), left.join(", ")).toBe(true);
    expect(existsSync(join(out, "disk1-sda.qcow2"))).toBe(false);
    const again = await leapp("customize", disk, "-o", `${out}/`, "--copy-in", `${tree}:/opt`, "--json");
    expect(again.code, again.err).toBe(ExitCode.ok);
    expect(existsSync(join(out, "disk1-sda.qcow2"))).toBe(true);
  });
});
