// The built `leapp` binary, run as users run it: a separate node process, real exit codes.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  it("loads only what the command needs: no inspect, ssh2, yaml or progress bar to convert a disk", async () => {
    // A module hook (off-thread in Node 20) writes down every module the process resolves.
    const dir = mkdtempSync(join(tmpdir(), "leapp-loads-"));
    try {
      const log = join(dir, "resolved.txt");
      writeFileSync(
        join(dir, "hooks.mjs"),
        `import { appendFileSync } from "node:fs";
         export async function resolve(specifier, context, next) {
           const result = await next(specifier, context);
           appendFileSync(${JSON.stringify(log)}, result.url + "\\n");
           return result;
         }`,
      );
      writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module"; register("./hooks.mjs", import.meta.url);`);
      const image = join(dir, "disk.raw");
      writeFileSync(image, Buffer.alloc(1 << 20, 1));
      const loaded = async (...args: string[]) => {
        writeFileSync(log, "");
        await exec(process.execPath, ["--import", join(dir, "register.mjs"), cli, ...args]);
        return readFileSync(log, "utf8");
      };
      const heavy = [/\/ssh2\//, /\/yaml\//, /\/tar-stream\//, /\/cli-progress\//, /\/sql\.js\//, /@snyk/, /\/inspect\/dist\//, /\/libvirt-xml\/dist\//];
      const version = await loaded("--version");
      for (const pattern of [...heavy, /\/storage\/dist\//]) expect(version, String(pattern)).not.toMatch(pattern);
      const convert = await loaded("storage", "convert", "-O", "qcow2", image, join(dir, "disk.qcow2"));
      expect(convert).toMatch(/\/storage\/dist\/index\.js/);
      for (const pattern of heavy) expect(convert, String(pattern)).not.toMatch(pattern);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
