// The README's example, run verbatim by Node against the built package, on the debian-xen zoo
// guest's disk (named web01.img in the folder it runs in): the plan, then the converted disk.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "@leapp/zoo";

const exec = promisify(execFile);
const pkg = fileURLToPath(new URL("..", import.meta.url));
// Inside the package, so that Node resolves "@leapp/hv-targets" (self-reference) and its dependencies.
const runDir = join(pkg, ".readme-run");
afterAll(() => rmSync(runDir, { recursive: true, force: true }));

describe("README", () => {
  it("its example runs as written: the plan of the Xen guest, then its converted disk and domain", async () => {
    expect(existsSync(join(pkg, "dist/index.js")), "build the package first (pnpm turbo run build)").toBe(true);
    const readme = readFileSync(join(pkg, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBe(1);
    const zoo = await buildZooGuest("debian-xen");
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(runDir);
    symlinkSync(zoo.disks[0]!, join(runDir, "web01.img"));
    writeFileSync(join(runDir, "example.mjs"), blocks[0]!);
    const { stdout, stderr } = await exec(process.execPath, ["example.mjs"], { cwd: runDir, maxBuffer: 64 << 20 });
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^debian 12\.\d+ leaving xen$/m);
    expect(stdout).toMatch(/^edit \/etc\/fstab$/m);
    expect(stdout).toMatch(/^initramfs \/boot\/initrd\.img-/m);
    expect(stdout).toContain(`disk ${join(runDir, "converted", "web01-sda")} (raw)`);
    expect(stdout).toContain(join(runDir, "converted", "web01.xml"));
    expect(readdirSync(join(runDir, "converted")).sort()).toEqual(["web01-sda", "web01.xml"]);
  });
});
