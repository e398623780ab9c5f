// Interrupting the built `leapp` while it writes: SIGINT, SIGTERM and SIGKILL at several points of
// a large `storage convert` and of `storage overlay`. Never a complete-looking target, never a
// changed source. For the catchable signals: exit 130 or 143, nothing left behind, "interrupted"
// on stderr and a JSON progress stream ending with an error event. After SIGKILL, which nothing
// can catch, at most a `.NAME.leapp-tmp-…` file remains, which nothing takes for an image.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const MiB = 1024 * 1024;
const SOURCE_BYTES = 320 * MiB;
const work = mkdtempSync(join(tmpdir(), "leapp-kill-"));
const source = join(work, "source.raw");
const base = join(work, "base.raw");
afterAll(() => rmSync(work, { recursive: true, force: true }));

let sourceStamp: string;
const stamp = (path: string) => {
  const s = statSync(path, { bigint: true });
  return `${s.size} ${s.mtimeNs} ${s.ctimeNs}`;
};

beforeAll(() => {
  // Data everywhere, so every byte is copied and the copy takes long enough to interrupt.
  const fd = openSync(source, "w");
  const chunk = Buffer.alloc(8 * MiB);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0 || 1, i);
  for (let at = 0; at < SOURCE_BYTES; at += chunk.length) writeSync(fd, chunk, 0, chunk.length, at);
  closeSync(fd);
  sourceStamp = stamp(source);
  const b = openSync(base, "w");
  ftruncateSync(b, 64 * MiB);
  closeSync(b);
});

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function ended(child: ChildProcess, stderr: () => string): Promise<Ended> {
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stderr: stderr() })));
}

/** Starts `leapp args…`; stderr is collected. */
function start(args: string[], options: { env?: NodeJS.ProcessEnv; command?: string[] } = {}): { child: ChildProcess; done: Promise<Ended> } {
  const [command, ...prefix] = options.command ?? [process.execPath];
  const child = spawn(command!, [...prefix, ...(options.command ? [process.execPath] : []), cli, ...args], { env: { ...process.env, ...options.env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return { child, done: ended(child, () => stderr) };
}

/** The temporary outputs in `dir` (of `name`). */
const temporaries = (dir: string, name: string) => readdirSync(dir).filter((f) => f.startsWith(`.${name}.leapp-tmp-`));

/** Polls until `test` holds (every 2 ms, up to 20 s). */
async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** What a catchable signal must leave: its exit code, nothing in `dir`, the line saying so, a JSON stream ending in an error. */
function expectInterrupted(r: Ended, signal: "SIGINT" | "SIGTERM", dir: string, target: string): void {
  expect(r.code, r.stderr).toBe(signal === "SIGINT" ? 130 : 143);
  expect(readdirSync(dir), "left behind").toEqual([]);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.at(-1)).toBe(`leapp: interrupted; removed the unfinished ${target} (${signal})`);
  const events = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string });
  if (events.length > 0) expect(events.at(-1)).toMatchObject({ event: "error" });
}

describe("leapp storage convert, interrupted", () => {
  const points = [0.05, 0.4, 0.7];
  const runs: [string, "raw" | "qcow2", "SIGINT" | "SIGTERM" | "SIGKILL", number][] = [];
  for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
    for (const at of points) runs.push([`${signal} at ${at * 100}% into a raw target`, "raw", signal, at]);
    runs.push([`${signal} at 40% into a qcow2 target`, "qcow2", signal, 0.4]);
  }

  it.each(runs)("%s", async (_name, format, signal, fraction) => {
    const dir = join(work, `convert-${format}-${signal}-${fraction}`);
    mkdirSync(dir);
    const target = join(dir, `out.${format}`);
    const { child, done } = start(["--progress=json", "storage", "convert", "-O", format, source, target]);
    // The point: how much of the copy the temporary file holds.
    await until(() => {
      const [temp] = temporaries(dir, `out.${format}`);
      try {
        return temp !== undefined && statSync(join(dir, temp)).blocks * 512 >= fraction * SOURCE_BYTES;
      } catch {
        return false;
      }
    }, `${fraction * 100}% of the copy`);
    child.kill(signal);
    const r = await done;
    expect(r.code, "the conversion ended before the signal: the test proves nothing").not.toBe(0);
    if (signal === "SIGKILL") {
      expect(r.signal).toBe("SIGKILL");
      const left = readdirSync(dir);
      expect(left).not.toContain(`out.${format}`);
      expect(left.every((f) => f.startsWith(`.out.${format}.leapp-tmp-`)), left.join(", ")).toBe(true);
    } else expectInterrupted(r, signal, dir, target);
    expect(stamp(source), "the source").toBe(sourceStamp);
  });
});

describe("leapp storage overlay, interrupted", () => {
  // Overlay creation takes milliseconds: strace holds it at a system call for the signal to land.
  const syscalls = ["pwritev", "ftruncate", "fdatasync", "link"];

  it.each(syscalls)("SIGKILL at its %s leaves no overlay, at most a temporary file", async (syscall) => {
    const dir = join(work, `overlay-kill-${syscall}`);
    mkdirSync(dir);
    const overlay = join(dir, "ov.qcow2");
    const { done } = start(["storage", "overlay", base, overlay], {
      command: ["strace", "-f", "-qq", "-o", "/dev/null", "-e", `trace=${syscall}`, "-e", `inject=${syscall}:signal=KILL:when=1`],
      env: { UV_THREADPOOL_SIZE: "1" },
    });
    const r = await done;
    expect(r.code, r.stderr).not.toBe(0);
    const left = readdirSync(dir);
    expect(left).not.toContain("ov.qcow2");
    expect(left.every((f) => f.startsWith(".ov.qcow2.leapp-tmp-")), left.join(", ")).toBe(true);
  });

  it.each(["SIGINT", "SIGTERM"] as const)("%s while it syncs removes the overlay and exits 130/143", async (signal) => {
    const dir = join(work, `overlay-${signal}`);
    mkdirSync(dir);
    const overlay = join(dir, "ov.qcow2");
    // fdatasync (its only one before the rename) is held for 1.5 s; the signal comes during it.
    const { done } = start(["storage", "overlay", base, overlay], {
      command: ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", "inject=fdatasync:delay_enter=1500000:when=1"],
      env: { UV_THREADPOOL_SIZE: "1" },
    });
    let pid: number | undefined;
    await until(() => {
      const [temp] = temporaries(dir, "ov.qcow2");
      if (temp === undefined || statSync(join(dir, temp)).size === 0) return false;
      // The node process strace started: the one whose cmdline runs the CLI.
      pid = findProcess(cli);
      return pid !== undefined;
    }, "the overlay's temporary file");
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(pid!, signal);
    const r = await done;
    expectInterrupted(r, signal, dir, overlay);
  });
});

/** The pid of the node process running `leapp … overlay` from `cli` (Linux /proc). */
function findProcess(cli: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (cmdline[0] === process.execPath && cmdline.includes(cli) && cmdline.includes("overlay")) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
