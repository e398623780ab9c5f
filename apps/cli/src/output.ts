import { createRequire } from "node:module";
import type * as CliProgress from "cli-progress";
import { escapeControl, escapeDocument, escapeStrings } from "./text.js";

export type ProgressMode = "auto" | "tty" | "json" | "none";

export interface GlobalOptions {
  json: boolean;
  progress: ProgressMode;
  debug: boolean;
}

export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/** A unit of long work, shown as a bar on a TTY or as JSON lines on stderr. */
export interface Progress {
  update(done: number, total: number): void;
  finish(): void;
  /** The work failed or was interrupted: the JSON stream ends with an `error` event. */
  fail(err: unknown): void;
}

/**
 * The one place a command writes to the user. With --json, `result` prints exactly one JSON
 * document on stdout and all text goes nowhere; without, `result` prints the human rendering.
 */
export class Output {
  #printed = false;
  constructor(
    readonly options: GlobalOptions,
    readonly streams: Streams = process,
  ) {}

  /**
   * Print the command's result: `data` as JSON with --json, else `text(data)`. Once per command.
   * `text` sees every string of `data` with its control characters escaped, so a newline in a
   * guest's name cannot forge a line; `document: true` is for a whole document leapp laid out
   * itself (XML), whose own line breaks stay.
   */
  result<T>(data: T, text: (data: T) => string, options: { document?: boolean } = {}): void {
    if (this.#printed) throw new Error("a command printed two results");
    this.#printed = true;
    if (this.options.json) this.streams.stdout.write(JSON.stringify(data, null, 2) + "\n");
    else {
      const rendered = options.document ? escapeDocument(text(data)) : text(escapeStrings(data));
      this.streams.stdout.write(rendered.endsWith("\n") || rendered === "" ? rendered : rendered + "\n");
    }
  }

  /** Human-only remarks (warnings, hints) on stderr, one line each; silent with --json so stdout stays one document. */
  note(message: string): void {
    if (!this.options.json) this.streams.stderr.write(escapeControl(message) + "\n");
  }

  /** `wantBar`: the command was asked for progress (`convert -p`): a bar even off a terminal, unless --progress says otherwise. */
  progress(task: string, wantBar = false): Progress {
    const mode = wantBar && this.options.progress === "auto" ? "tty" : this.#progressMode();
    if (mode === "json") return jsonProgress(task, this.streams.stderr);
    if (mode === "tty") return barProgress(task, this.streams.stderr);
    return { update() {}, finish() {}, fail() {} };
  }

  /** Whether progress is shown at all (commands skip the work of measuring it when not). */
  get showsProgress(): boolean {
    return this.#progressMode() !== "none";
  }

  #progressMode(): Exclude<ProgressMode, "auto"> {
    if (this.options.progress !== "auto") return this.options.progress;
    return this.streams.stderr.isTTY ? "tty" : "none";
  }
}

function jsonProgress(task: string, stderr: Streams["stderr"]): Progress {
  let last = 0;
  let lastDone = -1;
  let lastTotal = 0;
  const emit = (done: number, total: number, event: "progress" | "end" | "error", error?: { code: string; message: string }) =>
    stderr.write(JSON.stringify({ event, task, done, total, ...(error ? { error } : {}) }) + "\n");
  return {
    update(done, total) {
      lastDone = done;
      lastTotal = total;
      const now = Date.now();
      // At most ten lines a second: consumers want a heartbeat, not a flood.
      if (now - last >= 100 || done === total) {
        last = now;
        emit(done, total, "progress");
      }
    },
    finish() {
      emit(Math.max(lastDone, 0), lastTotal, "end");
    },
    fail(err) {
      const e = err as { code?: unknown; message?: unknown; name?: unknown } | null;
      const code = typeof e?.code === "string" ? e.code : e?.name === "AbortError" ? "ABORTED" : "ERROR";
      emit(Math.max(lastDone, 0), lastTotal, "error", { code, message: typeof e?.message === "string" ? e.message : String(err) });
    },
  };
}

function barProgress(task: string, stderr: Streams["stderr"]): Progress {
  // Loaded only when a bar is drawn (a terminal): it costs start-up time every other run would pay.
  const { SingleBar } = createRequire(import.meta.url)("cli-progress") as typeof CliProgress;
  const bar = new SingleBar({
    format: `${task} [{bar}] {percentage}% | {doneHuman} / {totalHuman}`,
    stream: stderr as NodeJS.WritableStream,
    hideCursor: true,
    clearOnComplete: false,
    // Asked for explicitly (--progress tty, storage convert -p) on a pipe: a line a second.
    noTTYOutput: true,
    notTTYSchedule: 1000,
  });
  let started = false;
  return {
    update(done, total) {
      const payload = { doneHuman: formatBytes(done), totalHuman: formatBytes(total) };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    finish() {
      if (started) bar.stop();
    },
    fail() {
      if (started) bar.stop();
    },
  };
}

/** 1536 → "1.5 KiB": binary units, as qemu-img prints them. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
