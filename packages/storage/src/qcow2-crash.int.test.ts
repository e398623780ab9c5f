// Crash safety of writes into a qcow2 overlay: a child process writes rounds of data (new L2
// tables, new refcount blocks, copy-on-write of partial clusters) and flushes after each, and is
// killed (SIGKILL, injected by strace) at every metadata sync and at a spread of its writes. After
// each kill, `qemu-img check` must find no corruption (leaked clusters are allowed), every round
// whose flush returned must read back, and every cluster of later rounds must read as either its
// old or its new content — never zeros, never garbage.
//
// The child runs with one libuv thread so that strace's per-thread syscall counts are one
// sequence, and uses the built package (dist), as a separate process must.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { createQcow2 } from "./qcow2-create.js";
import { qemuImg, scratchDir } from "./testing.js";

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const CLUSTER = 4096;
const SIZE = 64 * 1024 * 1024;
const ROUNDS = 3;

/** The writes of round `r`: scattered, some partial clusters, some spanning L2 tables (2 MiB each here). */
function roundWrites(r: number): { at: number; length: number; fill: number }[] {
  const writes = [];
  for (let i = 0; i < 24; i++) {
    const at = ((i * 2_654_435_761 + r * 40_503) % (SIZE - 300_000)) + (i % 3 === 0 ? 1234 : 0);
    writes.push({ at, length: 4096 * (1 + ((i + r) % 17)) + (i % 4 === 0 ? 777 : 0), fill: 0x10 + r * 24 + i });
  }
  return writes;
}

const child = `
import { openDisk } from ${JSON.stringify(dist)};
const rounds = ${JSON.stringify(Array.from({ length: ROUNDS }, (_, r) => roundWrites(r)))};
const disk = await openDisk(process.argv[2], { writable: true, scratch: process.argv[3] === "scratch" });
for (const [r, writes] of rounds.entries()) {
  await Promise.all(writes.map((w) => disk.write(new Uint8Array(w.length).fill(w.fill), w.at)));
  await disk.flush();
  process.stdout.write("flushed " + r + "\\n");
}
await disk.close();
process.stdout.write("closed\\n");
`;

let dir: string;
let base: Buffer;

beforeAll(async () => {
  if (!existsSync(dist)) throw new Error(`${dist} is missing: build @leapp/storage first (pnpm turbo run build)`);
  dir = await scratchDir("leapp-qcow2-crash-");
  base = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 512) base.writeUInt32LE((i * 2_246_822_519) >>> 0, i);
  await writeFile(join(dir, "base.raw"), base);
  await writeFile(join(dir, "child.mjs"), child);
});

/** Runs the child over a fresh overlay under strace, SIGKILLed at the `when`-th call of `syscall` (none: no injection). */
async function crashRun(name: string, inject?: { syscall: string; when: number }, scratch = false): Promise<{ overlay: string; flushed: number; trace: string }> {
  const overlay = join(dir, `${name}.qcow2`);
  await createQcow2(overlay, { size: SIZE, clusterSize: CLUSTER, backingFile: "base.raw", backingFormat: "raw", overwrite: true });
  const trace = join(dir, `${name}.trace`);
  const args = ["-f", "-qq", "-o", trace, "-e", "trace=pwrite64,pwritev,fdatasync,ftruncate"];
  if (inject) args.push("-e", `inject=${inject.syscall}:signal=KILL:when=${inject.when}`);
  args.push(process.execPath, join(dir, "child.mjs"), overlay, ...(scratch ? ["scratch"] : []));
  const stdout = await new Promise<string>((resolve, reject) => {
    const proc = spawn("strace", args, { env: { ...process.env, UV_THREADPOOL_SIZE: "1" }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.on("error", (err) => reject(new Error(`strace could not run (Debian: apt-get install strace): ${err.message}`)));
    proc.on("close", () => resolve(out));
  });
  const flushed = Math.max(-1, ...[...stdout.matchAll(/flushed (\d+)/g)].map((m) => Number(m[1])));
  return { overlay, flushed, trace: await readFile(trace, "utf8") };
}

/** What the disk must read as: rounds up to `flushed` applied; later rounds cluster by cluster old or new. */
async function expectConsistent(overlay: string, flushed: number, what: string): Promise<void> {
  // qemu-img check exits 3 for leaks alone (2 for corruption); its report is on stdout either way.
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile("qemu-img", ["check", "--output=json", overlay], (err, out, stderr) => (err && !out ? reject(new Error(`qemu-img check: ${stderr || err.message}`)) : resolve(out))),
  );
  const report = JSON.parse(stdout) as Record<string, number | undefined>;
  expect(report["check-errors"] ?? 0, `${what}: check errors`).toBe(0);
  expect(report["corruptions"] ?? 0, `${what}: corruptions`).toBe(0);
  const raw = join(dir, "content.raw");
  await qemuImg("convert", "-f", "qcow2", "-O", "raw", overlay, raw);
  const seen = await readFile(raw);
  const committed = Buffer.from(base);
  const later = new Map<number, Buffer[]>(); // cluster → the contents it may have
  for (let r = 0; r < ROUNDS; r++) {
    for (const w of roundWrites(r)) {
      if (r <= flushed) committed.fill(w.fill, w.at, w.at + w.length);
      else {
        for (let c = Math.floor(w.at / CLUSTER); c * CLUSTER < w.at + w.length; c++) later.set(c, []);
      }
    }
  }
  // A later round's cluster may hold its content before the round or after any later write to it.
  const states = Buffer.from(committed);
  const options = (c: number) => later.get(c)!;
  for (const c of later.keys()) options(c).push(Buffer.from(states.subarray(c * CLUSTER, (c + 1) * CLUSTER)));
  for (let r = flushed + 1; r < ROUNDS; r++) {
    for (const w of roundWrites(r)) states.fill(w.fill, w.at, w.at + w.length);
    for (const c of later.keys()) options(c).push(Buffer.from(states.subarray(c * CLUSTER, (c + 1) * CLUSTER)));
  }
  for (let c = 0; c < SIZE / CLUSTER; c++) {
    const got = seen.subarray(c * CLUSTER, (c + 1) * CLUSTER);
    const allowed = later.get(c) ?? [committed.subarray(c * CLUSTER, (c + 1) * CLUSTER)];
    if (!allowed.some((a) => a.equals(got))) expect.fail(`${what}: cluster ${c} (guest offset ${c * CLUSTER}) reads as neither its old nor its new content (rounds flushed: ${flushed + 1})`);
  }
}

describe("qcow2 writes killed at any point", () => {
  it("leave a consistent image whose flushed writes all read back", async () => {
    const clean = await crashRun("clean");
    expect(clean.flushed).toBe(ROUNDS - 1);
    await expectConsistent(clean.overlay, clean.flushed, "no crash");
    const count = (syscall: string) => (clean.trace.match(new RegExp(`\\b${syscall}\\(`, "g")) ?? []).length;
    const syncs = count("fdatasync");
    const writes = count("pwrite64") + count("pwritev");
    // Metadata phases are separated by syncs: at least two per flush.
    expect(syncs).toBeGreaterThanOrEqual(2 * ROUNDS);
    const points: { syscall: string; when: number }[] = [];
    for (let k = 1; k <= syncs; k++) points.push({ syscall: "fdatasync", when: k });
    const pwrites = count("pwrite64");
    for (let k = 1; k <= pwrites; k += Math.max(1, Math.floor(pwrites / 8))) points.push({ syscall: "pwrite64", when: k });
    expect(writes).toBeGreaterThan(20);
    for (const [i, point] of points.entries()) {
      const run = await crashRun(`kill-${i}`, point);
      await expectConsistent(run.overlay, run.flushed, `killed at ${point.syscall} #${point.when}`);
    }
  });

  it("a scratch image (openDisk's scratch) makes the same writes with no sync at all, and reads back the same", async () => {
    const run = await crashRun("scratch", undefined, true);
    expect(run.flushed).toBe(ROUNDS - 1);
    expect(run.trace).not.toMatch(/\bfdatasync\(/);
    expect(run.trace).toMatch(/\bpwrite(64|v)\(/);
    await expectConsistent(run.overlay, run.flushed, "scratch, no crash");
  });
});
