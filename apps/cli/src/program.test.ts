import { describe, expect, it } from "vitest";
import type { Command } from "commander";
import { run, Cli, buildProgram } from "./program.js";
import { describeError, ExitCode, UsageError } from "./errors.js";
import { Output, formatBytes } from "./output.js";
import { captureStreams } from "./test-streams.js";
import pkg from "../package.json" with { type: "json" };

describe("leapp global behaviour", () => {
  it("prints its version", async () => {
    const io = captureStreams();
    expect(await run(["--version"], io)).toBe(ExitCode.ok);
    expect(io.out().trim()).toBe(pkg.version);
  });

  it("prints help with the exit codes", async () => {
    const io = captureStreams();
    expect(await run(["--help"], io)).toBe(ExitCode.ok);
    expect(io.out()).toContain("Usage: leapp");
    expect(io.out()).toContain("--json");
    expect(io.out()).toMatch(/70\s+internal error/);
  });

  it("answers an unknown command with a usage error (exit 2) on one line", async () => {
    const io = captureStreams();
    expect(await run(["no-such-command"], io)).toBe(ExitCode.usage);
    expect(io.err()).toBe("leapp: unknown command 'no-such-command' (run 'leapp --help' for usage)\n");
  });

  it("answers no command at all with a usage error naming the commands", async () => {
    const io = captureStreams();
    expect(await run([], io)).toBe(ExitCode.usage);
    expect(io.err()).toMatch(/^leapp: choose a command: source, inspect, storage, net\b.*\(run 'leapp --help' for usage\)\n$/);
    expect(io.out()).toBe("");
  });

  it("with --json prints one JSON document even for a usage error, with leapp's code", async () => {
    const io = captureStreams();
    expect(await run(["--json", "--bogus-flag"], io)).toBe(ExitCode.usage);
    const doc = JSON.parse(io.out());
    expect(doc.error).toEqual({ code: "LEAPP_USAGE", message: "unknown option '--bogus-flag'", command: "leapp" });
    expect(io.err()).toBe("");
  });

  it("rejects an unknown progress mode", async () => {
    const io = captureStreams();
    expect(await run(["--progress", "sideways", "--help"], io)).toBe(ExitCode.usage);
  });
});

/** A throwaway command group for exercising the conventions every real command follows. */
function withProbeCommand(behaviour: (cmd: Command, cli: Cli) => Promise<void>) {
  return async (argv: string[], io = captureStreams()) => {
    const cli = new Cli(io);
    const program = buildProgram(cli);
    program.command("probe").action(async (_opts, cmd: Command) => behaviour(cmd, cli));
    let code: number;
    try {
      await program.parseAsync(argv, { from: "user" });
      code = cli.exitCode;
    } catch (err) {
      code = describeError(err).exitCode;
    }
    return { code, io };
  };
}

describe("command conventions", () => {
  it("--json prints exactly one document; text mode prints the rendering", async () => {
    const probe = withProbeCommand(async (cmd, cli) => cli.output(cmd).result({ answer: 42 }, (d) => `answer: ${d.answer}`));
    const json = await probe(["--json", "probe"]);
    expect(JSON.parse(json.io.out())).toEqual({ answer: 42 });
    const text = await probe(["probe"]);
    expect(text.io.out()).toBe("answer: 42\n");
  });

  it("--progress=json writes JSON lines on stderr and ends with an end event", async () => {
    const probe = withProbeCommand(async (cmd, cli) => {
      const p = cli.output(cmd).progress("copy");
      p.update(0, 10);
      p.update(10, 10);
      p.finish();
    });
    const { io } = await probe(["--progress=json", "probe"]);
    const events = io.err().trim().split("\n").map((l) => JSON.parse(l));
    expect(events.at(-1)).toEqual({ event: "end", task: "copy", done: 10, total: 10 });
    expect(events.filter((e) => e.event === "progress").at(-1)).toMatchObject({ done: 10, total: 10 });
    expect(io.out()).toBe("");
  });

  it("shows no progress when stderr is not a TTY and none was asked for", async () => {
    const probe = withProbeCommand(async (cmd, cli) => {
      const p = cli.output(cmd).progress("copy");
      p.update(5, 10);
      p.finish();
    });
    const { io } = await probe(["probe"]);
    expect(io.err()).toBe("");
  });

  it("draws a bar on a TTY", async () => {
    const probe = withProbeCommand(async (cmd, cli) => {
      const p = cli.output(cmd).progress("copy");
      p.update(512, 1024);
      p.update(1024, 1024);
      p.finish();
    });
    const { io } = await probe(["probe"], captureStreams({ tty: true }));
    expect(io.err()).toContain("copy [");
    expect(io.err()).toContain("100%");
  });

  it("refuses to print two results", () => {
    const out = new Output({ json: true, progress: "none", debug: false }, captureStreams());
    out.result(1, String);
    expect(() => out.result(2, String)).toThrow(/two results/);
  });
});

describe("errors become one message and a documented exit code", () => {
  it("maps typed leapp errors to exit 3 with their code", async () => {
    const err = Object.assign(new Error("not a disk image"), { code: "STORAGE_UNKNOWN_FORMAT", package: "@leapp/storage" });
    expect(describeError(err)).toMatchObject({ exitCode: ExitCode.input, code: "STORAGE_UNKNOWN_FORMAT", package: "@leapp/storage" });
  });

  it("maps host I/O errors to exit 3 and anything else to 70", () => {
    const enoent = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    expect(describeError(enoent).exitCode).toBe(ExitCode.input);
    expect(describeError(Object.assign(new Error("EPIPE: broken pipe, write"), { code: "EPIPE" }))).toMatchObject({ exitCode: ExitCode.input, code: "EPIPE", message: expect.stringMatching(/^the command reading the output stopped before its end/) });
    expect(describeError(Object.assign(new Error("x"), { code: "EBADF" })).exitCode).toBe(ExitCode.internal);
    expect(describeError(new TypeError("x is undefined")).exitCode).toBe(ExitCode.internal);
    expect(describeError("a string").exitCode).toBe(ExitCode.internal);
    expect(describeError(new UsageError("two sources needed")).exitCode).toBe(ExitCode.usage);
  });

  it("prints no stack trace unless --debug", async () => {
    const failing = withProbeCommand(async () => {
      throw Object.assign(new Error("the image is truncated"), { code: "STORAGE_TRUNCATED", package: "@leapp/storage" });
    });
    expect((await failing(["probe"])).code).toBe(ExitCode.input);
    // Through run(): one line, with the code, and no stack.
    const viaRun = captureStreams();
    const code = await runWith(["boom"], viaRun);
    expect(code).toBe(ExitCode.input);
    expect(viaRun.err()).toBe("leapp: the image is truncated [STORAGE_TRUNCATED]\n");
    const debug = captureStreams();
    await runWith(["--debug", "boom"], debug);
    expect(debug.err()).toMatch(/at .*program\.test\.ts/);
  });

  it("formats byte counts in binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(100 * 1024 ** 3)).toBe("100 GiB");
  });
});

/** run() with one extra failing command registered, to test its error path end to end. */
async function runWith(argv: string[], io: ReturnType<typeof captureStreams>): Promise<number> {
  const { commands } = await import("./commands/index.js");
  const register = (program: Command) =>
    void program.command("boom").action(() => {
      throw Object.assign(new Error("the image is truncated"), { code: "STORAGE_TRUNCATED", package: "@leapp/storage" });
    });
  commands.push(register);
  try {
    return await run(argv, io);
  } finally {
    commands.splice(commands.indexOf(register), 1);
  }
}
