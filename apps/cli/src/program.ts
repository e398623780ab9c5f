import { Command, CommanderError, Option } from "commander";
import pkg from "../package.json" with { type: "json" };
import { describeError, ExitCode, UsageError } from "./errors.js";
import { Output, type GlobalOptions, type ProgressMode, type Streams } from "./output.js";
import { commands } from "./commands/index.js";
import { Interrupted } from "./signals.js";

/** What every subcommand gets: its Output (from the global flags) and a way to set a "negative" exit. */
export class Cli {
  exitCode: ExitCode = ExitCode.ok;
  /** What an interrupted command removed, for the "interrupted; …" line (set by commands that write). */
  interruptNote: string | undefined;
  constructor(
    readonly streams: Streams,
    /** Aborted by SIGINT/SIGTERM (see signals.ts); every long call gets it. */
    readonly signal?: AbortSignal,
  ) {}

  /** The Output for a command, honouring --json, --progress and --debug wherever they were given. */
  output(command: Command): Output {
    const o = command.optsWithGlobals<{ json?: boolean; progress?: ProgressMode; debug?: boolean }>();
    const options: GlobalOptions = { json: o.json ?? false, progress: o.progress ?? "auto", debug: o.debug ?? false };
    return new Output(options, this.streams);
  }
}

export type RegisterCommand = (program: Command, cli: Cli) => void;

export function buildProgram(cli: Cli): Command {
  const program = new Command("leapp")
    .description("Move legacy workloads off their virtual machines: inspect guests, read VM metadata, convert disks.")
    .version(pkg.version, "-V, --version", "print the leapp version")
    .option("--json", "print exactly one JSON document on stdout")
    .addOption(
      new Option("--progress <mode>", "progress display: a bar on a TTY, JSON lines on stderr, or none")
        .choices(["auto", "tty", "json", "none"])
        .default("auto"),
    )
    .option("--debug", "show stack traces of errors")
    .showHelpAfterError("(run 'leapp --help' for usage)")
    .configureOutput({
      writeOut: (s) => cli.streams.stdout.write(s),
      writeErr: (s) => cli.streams.stderr.write(s),
    })
    .exitOverride();
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
  for (const register of commands) register(program, cli);
  // Subcommands inherit the output configuration and usage-error behaviour.
  for (const sub of program.commands) configureTree(sub, program);
  return program;
}

function configureTree(command: Command, root: Command): void {
  command.exitOverride().configureOutput(root.configureOutput()).showHelpAfterError(`(run '${command.name()} --help' for usage)`);
  for (const sub of command.commands) configureTree(sub, root);
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
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return cli.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end parsing through an exception too; they are successes.
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return ExitCode.ok;
      if (err.exitCode === 0) return ExitCode.ok;
      if (wantsJson) streams.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + "\n");
      return ExitCode.usage;
    }
    if (signal?.aborted && signal.reason instanceof Interrupted && (err === signal.reason || (err as { name?: unknown } | null)?.name === "AbortError")) {
      const reason = signal.reason;
      const message = cli.interruptNote ? `interrupted; ${cli.interruptNote} (${reason.signal})` : `interrupted by ${reason.signal}`;
      if (wantsJson) streams.stdout.write(JSON.stringify({ error: { code: reason.code, message } }) + "\n");
      else streams.stderr.write(`leapp: ${message}\n`);
      return reason.exitCode as ExitCode;
    }
    const report = describeError(err);
    if (wantsJson) streams.stdout.write(JSON.stringify({ error: { code: report.code, message: report.message, package: report.package } }) + "\n");
    else streams.stderr.write(`leapp: ${report.message}${report.code && report.exitCode !== ExitCode.internal ? ` [${report.code}]` : ""}\n`);
    if (debug && err instanceof Error && err.stack) streams.stderr.write(err.stack + "\n");
    return report.exitCode;
  }
}

export { UsageError };
