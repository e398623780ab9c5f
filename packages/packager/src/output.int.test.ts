// A file output on a filesystem that fills up (a 1 MiB tmpfs mounted here): the writes behind
// the writer fail with the host's ENOSPC on a later call, abort leaves nothing behind, and the
// target is never created.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { fileOutput } from "./output.js";
import { scratchDir } from "./testing.js";

const mnt = join(scratchDir(), "small");
beforeAll(() => {
  mkdirSync(mnt);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
});
afterAll(() => execFileSync("umount", [mnt]));

it("reports a write that failed behind the writer, and abort leaves nothing", async () => {
  const target = join(mnt, "image.tar");
  const out = await fileOutput(target);
  const chunk = new Uint8Array(256 * 1024).fill(7);
  const failed = await (async () => {
    for (let i = 0; i < 16; i++) await out.write(chunk);
    await out.commit();
  })().catch((err: unknown) => err);
  expect(failed).toMatchObject({ code: "ENOSPC" });
  await out.abort();
  expect(readdirSync(mnt)).toEqual([]);
  expect(existsSync(target)).toBe(false);
});

it("writes every chunk where it belongs, patches included", async () => {
  const target = join(mnt, "small.tar");
  const out = await fileOutput(target);
  for (let i = 0; i < 8; i++) await out.write(new Uint8Array(10_000).fill(i));
  await out.patch(10_000, new Uint8Array([42]));
  await out.commit();
  const bytes = readFileSync(target);
  expect(bytes.length).toBe(80_000);
  expect([bytes[0], bytes[10_000], bytes[10_001], bytes[79_999]]).toEqual([0, 42, 1, 7]);
});
