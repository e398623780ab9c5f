import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Streams } from "./output.js";

/** In-memory stdout/stderr for running the CLI in-process in tests. */
export function captureStreams(options: { tty?: boolean } = {}): Streams & { out(): string; err(): string } {
  let out = "";
  let err = "";
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s), isTTY: options.tty ?? false },
    out: () => out,
    err: () => err,
  };
}

/**
 * Runs `leapp --progress=json ARGS…` in-process and interrupts it as `signal` would at its first
 * progress event (the work under way): its exit code, its stderr lines and its progress events.
 */
export async function interruptAtProgress(signal: "SIGINT" | "SIGTERM", ...args: string[]): Promise<{ code: number; lines: string[]; events: { event: string; error?: { code: string } }[] }> {
  const { run } = await import("./program.js");
  const { Interrupted } = await import("./signals.js");
  const controller = new AbortController();
  let stderr = "";
  const streams: Streams = {
    stdout: captureStreams().stdout,
    stderr: {
      write(s: string) {
        stderr += s;
        if (s.includes('"event":"progress"') && !controller.signal.aborted) controller.abort(new Interrupted(signal));
        return true;
      },
    },
  };
  const code = await run(["--progress=json", ...args], streams, controller.signal);
  const lines = stderr.trimEnd().split("\n");
  return { code, lines, events: lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string; error?: { code: string } }) };
}

/** Runs `leapp ARGS…` in-process with captured streams: its exit code and what it printed. */
export async function leapp(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { run } = await import("./program.js");
  const io = captureStreams();
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

/** A progress event of `--progress json` (stderr, one JSON line each). */
export interface ProgressLine {
  task: string;
  done: number;
  total: number;
}

/**
 * Runs the built `leapp ARGS…` (`--progress json` among them) and SIGKILLs it at the first progress
 * event `when` accepts; resolves with the signal that ended it. Rejects when it ends before that.
 */
export function killAtProgress(args: string[], when: (event: ProgressLine) => boolean, what: string): Promise<NodeJS.Signals | null> {
  const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  return new Promise((resolve, reject) => {
    let stderr = "";
    let killed = false;
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (killed) return;
      for (const line of stderr.split("\n").slice(0, -1)) {
        if (when(JSON.parse(line) as ProgressLine)) {
          killed = true;
          child.kill("SIGKILL");
          resolve(exited);
          return;
        }
      }
    });
    child.on("exit", () => {
      if (!killed) reject(new Error(`${what} ended before it could be killed:\n${stderr}`));
    });
  });
}
