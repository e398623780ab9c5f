// The README's example runs verbatim: its first TypeScript block, in a scratch folder where
// guest.qcow2 is the el6-xen zoo guest, writes web01.tar and streams a second image into podman
// (which the example removes again).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { buildZooGuest } from "@leapp/zoo";
import { scratchDir } from "./testing.js";

const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
const here = fileURLToPath(new URL(".", import.meta.url));

afterAll(() => {
  for (const ref of ["localhost/web01:latest", "localhost/web01:streamed"]) execFileSync("podman", ["rmi", "-f", ref], { stdio: "ignore" });
});

it("runs the README's usage example as written", async () => {
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const zoo = await buildZooGuest("el6-xen", "qcow2");
  const dir = scratchDir();
  symlinkSync(zoo.disks[0]!, join(dir, "guest.qcow2"));
  // Beside the sources, so "@leapp/…" resolves as in the workspace.
  const module = join(here, `.readme-example-${process.pid}.ts`);
  writeFileSync(module, code!);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    await import(module);
  } finally {
    process.chdir(cwd);
    execFileSync("rm", ["-f", module]);
  }
  expect(existsSync(join(dir, "web01.tar"))).toBe(true);
  expect(execFileSync("tar", ["-tf", join(dir, "web01.tar")]).toString().split("\n")).toContain("manifest.json");
});
