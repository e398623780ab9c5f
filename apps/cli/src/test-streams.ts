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
