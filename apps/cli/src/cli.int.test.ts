// The built `leapp` binary, run as users run it: a separate node process, real exit codes.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import pkg from "../package.json" with { type: "json" };

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const exec = promisify(execFile);

async function leapp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("the built leapp command", () => {
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'pnpm build' first`);
  });

  it("answers --version and --help", async () => {
    expect(await leapp("--version")).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await leapp("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: leapp");
  });

  it("exits 2 on a usage error, with one JSON document under --json", async () => {
    const r = await leapp("--json", "--no-such-option");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toHaveProperty("error.code");
  });
});
