// The README's example, run verbatim by Node against the built package, on the debian-xen zoo
// guest's disk (named disk.img in the folder it runs in).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest } from "@leapp/zoo";

const exec = promisify(execFile);
const pkg = fileURLToPath(new URL("..", import.meta.url));
// Inside the package, so that Node resolves "@leapp/guestos" (self-reference) and its dependencies.
const runDir = join(pkg, ".readme-run");
afterAll(() => rmSync(runDir, { recursive: true, force: true }));

describe("README", () => {
  it("its example runs as written and prints the plan and the dry run's diff", async () => {
    expect(existsSync(join(pkg, "dist/index.js")), "build the package first (pnpm turbo run build)").toBe(true);
    const readme = readFileSync(join(pkg, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThan(0);
    const zoo = await buildZooGuest("debian-xen");
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(runDir);
    symlinkSync(zoo.disks[0]!, join(runDir, "disk.img"));
    writeFileSync(join(runDir, "example.mjs"), blocks[0]!);
    const { stdout, stderr } = await exec(process.execPath, ["example.mjs"], { cwd: runDir, maxBuffer: 64 << 20 });
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^\d+\.\d+\.\d+-\d+-amd64 virtio-blk q35$/m);
    expect(stdout).toMatch(/^initramfs \/boot\/initrd\.img-.* — the initramfs-tools initramfs/m);
    expect(stdout).toContain("-/dev/xvda1      /               ext4");
    expect(stdout).toContain("+/dev/vda1      /               ext4");
  });
});
