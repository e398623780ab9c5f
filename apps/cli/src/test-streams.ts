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
