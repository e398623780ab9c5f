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
