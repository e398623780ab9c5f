// `leapp storage` run in-process on images made by the real qemu-img.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../program.js";
import { captureStreams } from "../test-streams.js";
import { ExitCode } from "../errors.js";

const qemuImg = async (...args: string[]) => (await promisify(execFile)("qemu-img", args)).stdout;
const work = mkdtempSync(join(tmpdir(), "leapp-cli-storage-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = join(work, "base.raw");
beforeAll(async () => {
  const data = Buffer.alloc(8 * 1024 * 1024);
  data.fill("leapp", 1024 * 1024, 3 * 1024 * 1024);
  writeFileSync(base, data);
});

async function leapp(...argv: string[]) {
  const io = captureStreams();
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe("leapp storage", () => {
  it("info --json prints the documented keys, bytes as numbers, and the backing chain", async () => {
    const overlay = join(work, "info.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay);
    const r = await leapp("storage", "info", overlay, "--json");
    expect(r.code).toBe(ExitCode.ok);
    const info = JSON.parse(r.out) as Record<string, unknown>;
    const qemu = JSON.parse(await qemuImg("info", "--output=json", overlay)) as Record<string, unknown>;
    expect(info).toMatchObject({ format: "qcow2", virtualSize: qemu["virtual-size"], actualSize: qemu["actual-size"], clusterSize: 65536, backing: [{ path: base, format: "raw" }] });
    const text = await leapp("storage", "info", overlay);
    expect(text.out).toContain("file format: qcow2");
    expect(text.out).toContain(`backing 1: ${base} (raw)`);
    expect(text.out).toContain("backing file format: raw");
  });

  it("convert -O qcow2 -c, then convert back to raw; compare says identical", async () => {
    const qcow2 = join(work, "conv.qcow2");
    const r = await leapp("--progress", "json", "storage", "convert", "-O", "qcow2", "-c", base, qcow2);
    expect(r.code, r.err).toBe(ExitCode.ok);
    const events = r.err.trim().split("\n").map((l) => JSON.parse(l) as { event: string; done: number; total: number });
    expect(events.at(-1)).toMatchObject({ event: "end", done: 8 * 1024 * 1024, total: 8 * 1024 * 1024 });
    await qemuImg("check", qcow2);
    const raw = join(work, "conv.raw");
    expect((await leapp("storage", "convert", "-O", "raw", qcow2, raw)).code).toBe(ExitCode.ok);
    await qemuImg("compare", base, raw);
    const same = await leapp("storage", "compare", base, qcow2);
    expect(same).toMatchObject({ code: ExitCode.ok, out: "Images are identical.\n" });
  });

  it("overlay creates a qcow2 on the base; compare finds the first difference and exits 1", async () => {
    const overlay = join(work, "ov.qcow2");
    const r = await leapp("storage", "overlay", base, overlay, "--json");
    expect(r.code).toBe(ExitCode.ok);
    expect(JSON.parse(r.out)).toMatchObject({ backing: [{ path: base, format: "raw" }] });
    await promisify(execFile)("qemu-io", ["-f", "qcow2", "-c", "write -P 0x41 5000000 10", overlay]);
    const diff = await leapp("storage", "compare", base, overlay, "--json");
    expect(diff.code).toBe(ExitCode.negative);
    expect(JSON.parse(diff.out)).toMatchObject({ identical: false, firstDifference: 5000000 });
  });

  it("typed errors exit 3 with the error code; usage errors exit 2", async () => {
    const junk = join(work, "junk.qcow2");
    writeFileSync(junk, Buffer.concat([Buffer.from("QFI\xfb", "latin1"), Buffer.alloc(100)]));
    const r = await leapp("storage", "info", junk, "--json");
    expect(r.code).toBe(ExitCode.input);
    expect(JSON.parse(r.out)).toMatchObject({ error: { package: "@leapp/storage" } });
    expect((await leapp("storage", "convert", "-O", "vhd", base, join(work, "x"))).code).toBe(ExitCode.usage);
    const self = await leapp("storage", "convert", base, base);
    expect(self.code).toBe(ExitCode.input);
    expect(self.err).toContain("STORAGE_SAME_FILE");
    expect(self.err).not.toMatch(/remove it/);
    const other = join(work, "other.raw");
    writeFileSync(other, "x");
    const exists = await leapp("storage", "convert", base, other);
    expect(exists.code).toBe(ExitCode.input);
    expect(exists.err).toContain("STORAGE_TARGET_EXISTS");
  });

  it("convert: raw by default, -f checks the source, a name saying another format gets a warning, --force replaces, --no-sync", async () => {
    const qcow2 = join(work, "flags.qcow2");
    await qemuImg("convert", "-f", "raw", "-O", "qcow2", base, qcow2);
    const out = join(work, "flags.img");
    const r = await leapp("storage", "convert", qcow2, out);
    expect(r.code, r.err).toBe(ExitCode.ok);
    expect(JSON.parse(await qemuImg("info", "--output=json", out))).toMatchObject({ format: "raw" });
    expect(r.err).toBe("");
    const misnamed = await leapp("storage", "convert", qcow2, join(work, "flags-raw.qcow2"));
    expect(misnamed.code).toBe(ExitCode.ok);
    expect(misnamed.err).toMatch(/warning: .*flags-raw\.qcow2 will be a raw image, though its name says qcow2/);
    const mismatch = await leapp("storage", "convert", "-f", "vmdk", qcow2, join(work, "never.raw"));
    expect(mismatch).toMatchObject({ code: ExitCode.input });
    expect(mismatch.err).toContain("[STORAGE_FORMAT_MISMATCH]");
    // -f raw takes the qcow2 file's bytes as they are, as qemu-img -f raw does.
    const asRaw = join(work, "flags-bytes.raw");
    expect((await leapp("storage", "convert", "-f", "raw", qcow2, asRaw)).code).toBe(ExitCode.ok);
    await qemuImg("compare", "-f", "raw", "-F", "raw", qcow2, asRaw);
    expect((await leapp("storage", "convert", "-O", "qcow2", base, out)).code).toBe(ExitCode.input);
    const forced = await leapp("storage", "convert", "-O", "qcow2", "--force", "--no-sync", "-p", base, out);
    expect(forced.code, forced.err).toBe(ExitCode.ok);
    await qemuImg("compare", base, out);
    expect(forced.err).toContain("convert [");
  });

  it("info shows an overlay whose backing file is missing, marked, and exits 3", async () => {
    const orphan = join(work, "orphan.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "gone.raw", "-F", "raw", orphan, "8M");
    const r = await leapp("storage", "info", orphan);
    expect(r.code).toBe(ExitCode.input);
    expect(r.out).toContain("backing file: gone.raw");
    expect(r.out).toMatch(/backing 1: .*gone\.raw \(raw\) NOT OPENED: .*\[STORAGE_BACKING_MISSING\]/);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    const json = await leapp("--json", "storage", "info", orphan);
    expect(JSON.parse(json.out)).toMatchObject({ backingFile: "gone.raw", backing: [{ format: "raw", problem: { code: "STORAGE_BACKING_MISSING" } }] });
  });
});
