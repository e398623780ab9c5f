import { Command, CommanderError, Option } from "commander";
import pkg from "../package.json" with { type: "json" };
import { describeError, ExitCode, UsageError } from "./errors.js";
import { Output, type GlobalOptions, type ProgressMode, type Streams } from "./output.js";
import { escapeControl } from "./text.js";
import { commands } from "./commands/index.js";
import { Interrupted } from "./signals.js";

/** What every subcommand gets: its Output (from the global flags) and a way to set a "negative" exit. */
export class Cli {
  exitCode: ExitCode = ExitCode.ok;
  /** The command whose action runs, or that rejected its command line: usage hints name it. */
  command: Command | undefined;
  /** What an interrupted command removed, for the "interrupted; …" line (set by commands that write). */
  interruptNote: string | undefined;
  #stdoutTaken = false;
  constructor(
    readonly streams: Streams,
    /** Aborted by SIGINT/SIGTERM (see signals.ts); every long call gets it. */
    readonly signal?: AbortSignal,
  ) {}

  /**
   * A command's data goes to standard output (`containerize -o -`): from now on its report, its
   * JSON document and any error go to standard error, so nothing but the data reaches the pipe.
   */
  takeStdout(): void {
    this.#stdoutTaken = true;
  }

  /** Where reports and results go: standard output, unless a command took it for its data. */
  get reportStreams(): Streams {
    return this.#stdoutTaken ? { stdout: this.streams.stderr, stderr: this.streams.stderr } : this.streams;
  }

  /** The Output for a command, honouring --json, --progress and --debug wherever they were given. */
  output(command: Command): Output {
    const o = command.optsWithGlobals<{ json?: boolean; progress?: ProgressMode; debug?: boolean }>();
    const options: GlobalOptions = { json: o.json ?? false, progress: o.progress ?? "auto", debug: o.debug ?? false };
    return new Output(options, this.reportStreams);
  }
}

export type RegisterCommand = (program: Command, cli: Cli) => void;

/**
 * Every leapp command: a command line it cannot use is one usage error (exit 2), never a help
 * screen on stderr — `leapp storage` without a command included.
 */
class LeappCommand extends Command {
  override createCommand(name?: string): Command {
    return new LeappCommand(name);
  }

  override help(context?: { error: boolean } | ((text: string) => string)): never {
    if (typeof context === "object" && context.error) {
      const names = this.commands.map((c) => c.name());
      this.error(`choose a command: ${names.join(", ")}`, { code: "leapp.missingCommand", exitCode: ExitCode.usage });
    }
    return super.help(context as Parameters<Command["help"]>[0]);
  }
}

/** `leapp storage info`: the command as the user types it. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

export function buildProgram(cli: Cli): Command {
  const program = new LeappCommand("leapp")
    .description("Move legacy workloads off their virtual machines: inspect guests, read VM metadata, convert disks.")
    .version(pkg.version, "-V, --version", "print the leapp version")
    .option("--json", "print exactly one JSON document on stdout")
    .addOption(
      new Option("--progress <mode>", "progress display: a bar on a TTY, JSON lines on stderr, or none")
        .choices(["auto", "tty", "json", "none"])
        .default("auto"),
    )
    .option("--debug", "show stack traces of errors");
  program.addHelpText(
    "after",
    `
Exit codes:
  0   success
  1   the answer is "no" (e.g. 'storage compare': images differ)
  2   usage error
  3   the input cannot be used (typed error, printed as one line; with --json as {"error": …})
  70  internal error (a bug: rerun with --debug and report it)
  130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: unfinished outputs are removed`,
  );
  program.hook("preAction", (_root, action) => {
    cli.command = action;
  });
  for (const register of commands) register(program, cli);
  // Every command writes through the CLI's streams, shows the global options in its --help, and
  // leaves usage errors to run(), which prints them as one line naming the command's --help.
  const configure = (command: Command): void => {
    command
      .exitOverride()
      .configureHelp({ showGlobalOptions: true })
      .configureOutput({
        writeOut: (s) => cli.streams.stdout.write(s),
        writeErr: (s) => cli.streams.stderr.write(s),
        outputError: () => {
          cli.command = command;
        },
      });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return program;
}

/**
 * Runs the CLI and returns its exit code; never calls process.exit, so it is testable in-process.
 * `signal` interrupts the running command (cli.ts aborts it on SIGINT/SIGTERM: exit 130/143).
 */
export async function run(argv: readonly string[], streams: Streams = process, signal?: AbortSignal): Promise<number> {
  const cli = new Cli(streams, signal);
  const program = buildProgram(cli);
  const wantsJson = argv.includes("--json");
  const debug = argv.includes("--debug");
  const usage = (message: string): number => {
    const command = commandPath(cli.command ?? program);
    // commander puts its spelling suggestion on a line of its own: keep it on ours.
    const text = message.replace(/^error: /, "").replace(/\n\(Did you mean (.*)\)$/, "; did you mean $1").trim();
    if (wantsJson) cli.reportStreams.stdout.write(JSON.stringify({ error: { code: "LEAPP_USAGE", message: text, command } }) + "\n");
    else streams.stderr.write(`${escapeControl(command)}: ${escapeControl(text)} (run '${escapeControl(command)} --help' for usage)\n`);
    return ExitCode.usage;
  };
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return cli.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end parsing through an exception too; they are successes.
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help" || err.exitCode === 0) return ExitCode.ok;
      return usage(err.message);
    }
    if (signal?.aborted && signal.reason instanceof Interrupted && (err === signal.reason || (err as { name?: unknown } | null)?.name === "AbortError")) {
      const reason = signal.reason;
      const message = cli.interruptNote ? `interrupted; ${cli.interruptNote} (${reason.signal})` : `interrupted by ${reason.signal}`;
      if (wantsJson) cli.reportStreams.stdout.write(JSON.stringify({ error: { code: reason.code, message } }) + "\n");
      else streams.stderr.write(`leapp: ${message}\n`);
      return reason.exitCode as ExitCode;
    }
    if (err instanceof UsageError) return usage(err.message);
    const report = describeError(err);
    // JSON escapes control characters itself; the text line spells them out.
    if (wantsJson) cli.reportStreams.stdout.write(JSON.stringify({ error: { code: report.code, message: report.message, package: report.package } }) + "\n");
    else streams.stderr.write(`leapp: ${escapeControl(report.message)}${report.code && report.exitCode !== ExitCode.internal ? ` [${escapeControl(report.code)}]` : ""}\n`);
    if (debug && err instanceof Error && err.stack) streams.stderr.write(err.stack + "\n");
    return report.exitCode;
  }
}

export { UsageError };
