// A file output on a filesystem that fills up (a 1 MiB tmpfs mounted here): the writes behind
// the writer fail with the host's ENOSPC on a later call, abort leaves nothing behind, and the
// target is never created. A descriptor output into a real pipe (a FIFO read by another
// process): every byte arrives in order, blocking or not, and a reader that goes away is an
// error, not a hang.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { descriptorOutput, fileOutput, type ArchiveOutput } from "./output.js";
import { fifoReader, scratchDir } from "./testing.js";

const mnt = join(scratchDir(), "small");
beforeAll(() => {
  mkdirSync(mnt);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
});
afterAll(() => execFileSync("umount", [mnt]));

/** Writes `chunk` `times` times and commits: the error that stopped it (undefined when none did). */
async function writeUntilFailure(out: ArchiveOutput, chunk: Uint8Array, times: number): Promise<unknown> {
  try {
    for (let i = 0; i < times; i++) await out.write(chunk);
    await out.commit();
    return undefined;
  } catch (err) {
    return err;
  }
}

it("reports a write that failed behind the writer, and abort leaves nothing", async () => {
  const target = join(mnt, "image.tar");
  const out = await fileOutput(target);
  const failed = await writeUntilFailure(out, new Uint8Array(256 * 1024).fill(7), 16);
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

for (const nonBlocking of [false, true]) {
  it(`streams every chunk in order into a ${nonBlocking ? "non-blocking" : "blocking"} pipe whose reader is slower`, async () => {
    // The reader starts late, so the 64 KiB pipe is full and the writes wait (or get EAGAIN).
    const { fd, exited } = await fifoReader("sleep 0.3; sha256sum", { nonBlocking });
    const expected = createHash("sha256");
    const out = descriptorOutput(fd);
    for (let i = 0; i < 64; i++) {
      const chunk = new Uint8Array(200_000 + i).fill(i);
      chunk[0] = 255 - i;
      expected.update(chunk);
      await out.write(chunk);
    }
    await out.commit();
    expect(out.position).toBe(64 * 200_000 + (63 * 64) / 2);
    closeSync(fd);
    expect((await exited).stdout.split(" ")[0]).toBe(expected.digest("hex"));
  });
}

it("fails with EPIPE when the pipe's reader goes away, and ends", async () => {
  const { fd, exited } = await fifoReader("head -c 1000 > /dev/null");
  const out = descriptorOutput(fd);
  const failed = await writeUntilFailure(out, new Uint8Array(1 << 20), 64);
  expect(failed).toMatchObject({ code: "EPIPE" });
  await out.abort();
  closeSync(fd);
  await exited;
});
