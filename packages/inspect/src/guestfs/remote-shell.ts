import { randomBytes } from "node:crypto";
import { InspectError } from "../errors.js";
import type { SshConnection } from "./ssh-client.js";

export interface ShellResult {
  code: number;
  /** Standard output (empty when `onStdout` took it). */
  stdout: Uint8Array;
  /** Standard error, as text. */
  stderr: string;
}

export interface ShellRunOptions {
  /** Takes standard output as it arrives instead of collecting it. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Most bytes of standard output collected; more is INSPECT_TOO_LARGE. Default 16 MiB. */
  maxBytes?: number;
}

/**
 * Commands run one after another by one long-lived `sh` on the host (under `sudo -n` if asked),
 * fed through its standard input: a command costs a round trip and the command's own process,
 * not a new SSH session (a shell, a login, often a sudo) each time — the difference between
 * seconds and minutes on a whole-tree walk. Each command's output is followed by a line with a
 * random nonce, its exit status and its standard error's length, so output of any bytes is framed.
 */
export class RemoteShell {
  readonly #connection: SshConnection;
  readonly #sudo: boolean;
  readonly #timeoutMs: number;
  #session: Session | undefined;

  constructor(connection: SshConnection, options: { sudo: boolean; timeoutMs: number }) {
    this.#connection = connection;
    this.#sudo = options.sudo;
    this.#timeoutMs = options.timeoutMs;
  }

  run(command: string, options: ShellRunOptions = {}): Promise<ShellResult> {
    if (!this.#session || this.#session.ended) this.#session = new Session(this.#connection, this.#sudo);
    const session = this.#session;
    return new Promise<ShellResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The shell is busy with a command that does not end: it goes, the next command gets a new one.
        session.end(new InspectError("INSPECT_TIMEOUT", `a command on ${this.#connection.host} did not end within ${this.#timeoutMs} ms and was stopped: ${command.slice(0, 200)}`));
      }, this.#timeoutMs);
      session.submit(command, options, (err, result) => {
        clearTimeout(timer);
        if (err !== undefined) reject(err);
        else resolve(result as ShellResult);
      });
    });
  }

  async close(): Promise<void> {
    this.#session?.end(new InspectError("INSPECT_CLOSED", "the guest was closed; open it again to read from it"));
    this.#session = undefined;
  }
}

interface Job {
  options: ShellRunOptions;
  chunks: Uint8Array[];
  size: number;
  tooLarge: boolean;
  done: (err: unknown, result?: ShellResult) => void;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

class Session {
  ended = false;
  readonly #nonce = randomBytes(16).toString("hex");
  readonly #marker: Buffer;
  readonly #jobs: Job[] = [];
  readonly #input: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  readonly #abort = new AbortController();
  #pending = Buffer.alloc(0);
  #state: "stdout" | "header" | "stderr" = "stdout";
  #code = 0;
  #stderrLength = 0;

  constructor(
    readonly connection: SshConnection,
    sudo: boolean,
  ) {
    this.#marker = Buffer.from(`\n${this.#nonce} `);
    const command = sudo ? "sudo -n env LC_ALL=C sh" : "env LC_ALL=C sh";
    connection.exec(command, { stdin: this.#stdin(), onStdout: (chunk) => this.#parse(chunk), signal: this.#abort.signal, maxOutputBytes: 0 }).then(
      (r) => {
        const why = r.stderr.trim().split("\n")[0] ?? "";
        this.end(
          /password is required|not allowed to|not in the sudoers|a terminal is required/i.test(why)
            ? new InspectError("INSPECT_SSH", `sudo refused on ${connection.host} (${why}); allow passwordless sudo for this user, or drop --sudo`)
            : new InspectError("INSPECT_SSH", `the remote shell on ${connection.host} ended (exit ${r.exitCode}${why ? `: ${why}` : ""})`),
        );
      },
      (err: unknown) => this.end(err),
    );
  }

  async *#stdin(): AsyncIterable<Uint8Array> {
    while (!this.ended) {
      const next = this.#input.shift();
      if (next) yield next;
      else await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  submit(command: string, options: ShellRunOptions, done: Job["done"]): void {
    if (this.ended) return done(new InspectError("INSPECT_SSH", `the remote shell on ${this.connection.host} has ended`));
    this.#jobs.push({ options, chunks: [], size: 0, tooLarge: false, done });
    // Its stdin is the shell's: /dev/null, so no command can read the commands after it.
    const script = `{ __leapp_err=$( { ${command}\n} </dev/null 2>&1 1>&3 3>&- ); __leapp_rc=$?; } 3>&1; printf '\\n%s %d %d\\n' ${this.#nonce} "$__leapp_rc" "\${#__leapp_err}"; printf '%s' "$__leapp_err"\n`;
    this.#input.push(Buffer.from(script));
    this.#wake?.();
  }

  end(reason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.#wake?.();
    this.#abort.abort(reason);
    for (const job of this.#jobs.splice(0)) job.done(reason);
  }

  #parse(chunk: Uint8Array): void {
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const job = this.#jobs[0];
      if (!job) {
        this.#pending = Buffer.alloc(0);
        return;
      }
      if (this.#state === "stdout") {
        const at = this.#pending.indexOf(this.#marker);
        // Without the marker, all but its possible beginning at the end is output.
        const upTo = at >= 0 ? at : Math.max(0, this.#pending.length - this.#marker.length + 1);
        if (upTo > 0) this.#output(job, this.#pending.subarray(0, upTo));
        this.#pending = this.#pending.subarray(upTo);
        if (at < 0) return;
        this.#pending = this.#pending.subarray(this.#marker.length);
        this.#state = "header";
      }
      if (this.#state === "header") {
        const nl = this.#pending.indexOf(10);
        if (nl < 0) return;
        const [code, length] = this.#pending.subarray(0, nl).toString("latin1").split(" ").map(Number);
        this.#code = code ?? -1;
        this.#stderrLength = length ?? 0;
        this.#pending = this.#pending.subarray(nl + 1);
        this.#state = "stderr";
      }
      if (this.#pending.length < this.#stderrLength) return;
      const stderr = this.#pending.subarray(0, this.#stderrLength).toString("utf8");
      this.#pending = this.#pending.subarray(this.#stderrLength);
      this.#state = "stdout";
      this.#jobs.shift();
      if (job.tooLarge) job.done(new InspectError("INSPECT_TOO_LARGE", `the output of a command on ${this.connection.host} is larger than ${job.options.maxBytes ?? DEFAULT_MAX_BYTES} bytes`));
      else job.done(undefined, { code: this.#code, stdout: job.options.onStdout ? new Uint8Array(0) : Buffer.concat(job.chunks), stderr });
    }
  }

  #output(job: Job, bytes: Uint8Array): void {
    if (job.options.onStdout) {
      job.options.onStdout(Buffer.from(bytes));
      return;
    }
    job.size += bytes.length;
    // Past the bound the output is read and dropped, to the end of the command: the shell lives on.
    if (job.size > (job.options.maxBytes ?? DEFAULT_MAX_BYTES)) {
      job.tooLarge = true;
      job.chunks = [];
      return;
    }
    job.chunks.push(Buffer.from(bytes));
  }
}
