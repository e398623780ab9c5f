// The conventions every `leapp` command keeps, checked on every command the program registers
// (so a command added later is held to them without a test of its own): its --help shows the
// global --json and --progress, and every wrong command line is exit 2 with one line naming the
// command's own --help — or, with --json, one JSON document.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { ExitCode } from "./errors.js";
import { buildProgram, Cli, commandPath } from "./program.js";
import { captureStreams, leapp } from "./test-streams.js";

function allCommands(): { path: string[]; command: Command }[] {
  const program = buildProgram(new Cli(captureStreams()));
  const found: { path: string[]; command: Command }[] = [];
  const walk = (command: Command, path: string[]): void => {
    for (const sub of command.commands) {
      found.push({ path: [...path, sub.name()], command: sub });
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(program, []);
  return found;
}

const commands = allCommands();
const leaves = commands.filter((c) => c.command.commands.length === 0);
const groups = commands.filter((c) => c.command.commands.length > 0);

/** The mandatory options of a command, given a value: what a command line needs besides arguments. */
function mandatory(command: Command): string[] {
  return command.options.filter((o) => o.mandatory).flatMap((o) => [o.long!, "x"]);
}

/** One line: `leapp storage info: WHAT (run 'leapp storage info --help' for usage)`. */
function expectUsageLine(err: string, path: string[], what: RegExp): void {
  const name = ["leapp", ...path].join(" ");
  expect(err.split("\n")).toHaveLength(2);
  expect(err.endsWith(`(run '${name} --help' for usage)\n`), err).toBe(true);
  expect(err.startsWith(`${name}: `), err).toBe(true);
  expect(err).toMatch(what);
}

describe("every leapp command", () => {
  it("finds the commands", () => {
    expect(leaves.map((c) => c.path.join(" "))).toEqual(expect.arrayContaining(["source", "inspect", "storage info", "storage convert", "net"]));
    expect(commandPath(commands.find((c) => c.path.join(" ") === "storage info")!.command)).toBe("leapp storage info");
  });

  it.each(commands.map((c) => [c.path.join(" "), c] as const))("%s: --help shows --json and --progress", async (_name, c) => {
    const r = await leapp(...c.path, "--help");
    expect(r.code).toBe(ExitCode.ok);
    expect(r.out).toContain(`Usage: leapp ${c.path.join(" ")}`);
    expect(r.out).toMatch(/--json\s/);
    expect(r.out).toMatch(/--progress <mode>/);
  });

  it.each(commands.map((c) => [c.path.join(" "), c] as const))("%s: an unknown option is exit 2 on one line", async (_name, c) => {
    const r = await leapp(...c.path, ...mandatory(c.command), "--no-such-option");
    expect(r.code).toBe(ExitCode.usage);
    expect(r.out).toBe("");
    expectUsageLine(r.err, c.path, /unknown option '--no-such-option'|choose a command/);
  });

  it.each(leaves.filter((c) => c.command.registeredArguments.some((a) => a.required)).map((c) => [c.path.join(" "), c] as const))(
    "%s: a missing argument is exit 2 on one line",
    async (_name, c) => {
      const r = await leapp(...c.path, ...mandatory(c.command));
      expect(r.code).toBe(ExitCode.usage);
      expectUsageLine(r.err, c.path, /missing required argument/);
    },
  );

  it.each(leaves.filter((c) => c.command.options.some((o) => o.mandatory)).map((c) => [c.path.join(" "), c] as const))(
    "%s: a missing required option is exit 2 on one line",
    async (_name, c) => {
      const args = c.command.registeredArguments.map((a) => (a.required ? "x" : undefined)).filter((a) => a !== undefined);
      const r = await leapp(...c.path, ...args);
      expect(r.code).toBe(ExitCode.usage);
      expectUsageLine(r.err, c.path, /required option .* not specified/);
    },
  );

  it.each(leaves.filter((c) => !c.command.registeredArguments.some((a) => a.variadic)).map((c) => [c.path.join(" "), c] as const))(
    "%s: an extra argument is exit 2 on one line",
    async (_name, c) => {
      const args = c.command.registeredArguments.map(() => "x");
      const r = await leapp(...c.path, ...mandatory(c.command), ...args, "one-too-many");
      expect(r.code).toBe(ExitCode.usage);
      expectUsageLine(r.err, c.path, /too many arguments/);
    },
  );

  it.each(groups.map((c) => [c.path.join(" "), c] as const))("%s: no command or an unknown one is exit 2 on one line", async (_name, c) => {
    const none = await leapp(...c.path);
    expect(none.code).toBe(ExitCode.usage);
    expectUsageLine(none.err, c.path, new RegExp(`choose a command: ${c.command.commands.map((s) => s.name()).join(", ")}`));
    const unknown = await leapp(...c.path, "no-such-command");
    expect(unknown.code).toBe(ExitCode.usage);
    expectUsageLine(unknown.err, c.path, /unknown command 'no-such-command'/);
  });

  it.each(leaves.map((c) => [c.path.join(" "), c] as const))("%s: with --json a usage error is one JSON document", async (_name, c) => {
    const r = await leapp("--json", ...c.path, ...mandatory(c.command), "--no-such-option");
    expect(r.code).toBe(ExitCode.usage);
    expect(r.err).toBe("");
    expect(JSON.parse(r.out)).toEqual({ error: { code: "LEAPP_USAGE", message: "unknown option '--no-such-option'", command: ["leapp", ...c.path].join(" ") } });
  });
});

describe("errors of every command", () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-errors-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  // A path a guest or a careless script could hand over: a newline and an ESC sequence in it.
  const hostile = join(work, "no such\nleapp: forged line \x1b[31m");

  it.each(leaves.map((c) => [c.path.join(" "), c] as const))("%s: an input that is not there is one escaped line, exit 3, no stack", async (_name, c) => {
    const args = c.command.registeredArguments.map((a, i) => `${hostile}-${i}`);
    const options = c.command.options.filter((o) => o.mandatory).flatMap((o) => [o.long!, join(work, "out")]);
    const r = await leapp(...c.path, ...options, ...args);
    expect(r.code, r.err).toBe(ExitCode.input);
    expect(r.err.split("\n")).toHaveLength(2);
    expect(r.err).toMatch(/^leapp: .*no such\\nleapp: forged line \\x1b\[31m.*\[[A-Z_]+\]\n$/);
    expect(r.err).not.toContain("\x1b");
    expect(r.err).not.toMatch(/^\s+at /m);
    const json = await leapp("--json", ...c.path, ...options, ...args);
    expect(JSON.parse(json.out).error.message).toContain("no such\nleapp: forged line \x1b[31m");
  });
});

describe("usage errors found by a command itself", () => {
  it("name the command's --help too", async () => {
    const r = await leapp("inspect", "disk.img", "--xml", "--json");
    expect(r.code).toBe(ExitCode.usage);
    expect(JSON.parse(r.out)).toMatchObject({ error: { code: "LEAPP_USAGE", command: "leapp inspect" } });
    const text = await leapp("inspect", "disk.img", "--identity", "key");
    expect(text.code).toBe(ExitCode.usage);
    expectUsageLine(text.err, ["inspect"], /apply to ssh:\/\/ sources only/);
  });

  it("a misspelling gets commander's suggestion on the same line", async () => {
    const option = await leapp("storage", "info", "--jsn", "x");
    expect(option.err).toBe("leapp storage info: unknown option '--jsn'; did you mean --json? (run 'leapp storage info --help' for usage)\n");
    const command = await leapp("storag", "info");
    expect(command.err).toBe("leapp: unknown command 'storag'; did you mean storage? (run 'leapp --help' for usage)\n");
  });

  it("an invalid choice names the option and the choices", async () => {
    const r = await leapp("storage", "convert", "-O", "vmdk", "a", "b");
    expect(r.code).toBe(ExitCode.usage);
    expectUsageLine(r.err, ["storage", "convert"], /argument 'vmdk' is invalid\. Allowed choices are raw, qcow2/);
  });
});
