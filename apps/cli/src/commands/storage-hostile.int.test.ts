// Hostile images against the built `leapp` command, run as an attacker would have an admin run
// it: images that name host files (through ../, absolute paths, symlinks, data files, vmdk
// parents and extents, a qcow2 header a guest wrote into its own disk), FIFOs and devices where a
// file should be, loops. Every command must exit 3 with one line on stderr, in bounded time and
// memory, print nothing of the host files, and leave the case's directory exactly as it was.
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createQcow2 } from "@leapp/storage";

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
/** The content of the host files no command may ever print or copy. */
const SECRET = "LEAPP-HOST-SECRET-6f1d";
const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), "leapp-hostile-"));
const outside = join(work, "outside");
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  maxRssMiB: number;
}

/** Runs the built CLI in `cwd`, killed after 20 s; reports its exit code, output, time and peak RSS. */
function leapp(cwd: string, args: string[]): Promise<Run> {
  const rusage = join(work, `rusage-${process.hrtime.bigint()}`);
  const hook = `data:text/javascript,import{writeFileSync}from'node:fs';process.on('exit',()=>writeFileSync(process.env.LEAPP_TEST_RUSAGE,String(process.resourceUsage().maxRSS)))`;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", hook, cli, ...args], { cwd, env: { ...process.env, LEAPP_TEST_RUSAGE: rusage }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      let maxRssMiB = Infinity;
      try {
        maxRssMiB = Number(readFileSync(rusage, "utf8")) / 1024;
      } catch {
        // killed before exiting: the time check fails it
      }
      resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - started) / 1e9, maxRssMiB });
    });
  });
}

/** Every entry of a directory with what it is and, for regular files, a hash of its content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = lstatSync(path);
    out[name] = stat.isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : `${stat.mode.toString(8)} ${stat.rdev}`;
  }
  return out;
}

/** Puts `name` (at most the length of the name there now) into a qcow2 image's data-file header extension. */
function setDataFileName(image: string, name: string): void {
  const bytes = readFileSync(image);
  const at = bytes.indexOf(Buffer.from([0x44, 0x41, 0x54, 0x41])); // "DATA": the extension's type
  const length = bytes.readUInt32BE(at + 4);
  if (Buffer.byteLength(name) > length) throw new Error(`${name} is longer than the ${length} bytes there`);
  bytes.writeUInt32BE(Buffer.byteLength(name), at + 4);
  bytes.fill(0, at + 8, at + 8 + length);
  bytes.write(name, at + 8);
  writeFileSync(image, bytes);
}

interface Case {
  name: string;
  /** Builds the image in `dir` and returns its file name. */
  build(dir: string): Promise<string>;
  /** The error code `storage convert` must give. */
  code: string;
  /** Commands besides the usual (convert, info, overlay). */
  more?: (image: string) => string[][];
}

const qcow2Over = (backingFile: string, backingFormat?: "raw" | "qcow2" | "vmdk") => async (dir: string) => {
  await createQcow2(join(dir, "disk.qcow2"), { size: 4 * MiB, backingFile, ...(backingFormat ? { backingFormat } : {}) });
  return "disk.qcow2";
};

const withDataFile = (name: string, prepare?: (dir: string) => void) => async (dir: string) => {
  const data = join(dir, "data-".padEnd(60, "x") + ".raw");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${data},data_file_raw=on`, join(dir, "disk.qcow2"), "4M"]);
  rmSync(data);
  setDataFileName(join(dir, "disk.qcow2"), name);
  prepare?.(dir);
  return "disk.qcow2";
};

const vmdkDescriptor = (lines: string[], prepare?: (dir: string) => void) => async (dir: string) => {
  writeFileSync(join(dir, "disk.vmdk"), ["# Disk DescriptorFile", "version=1", "CID=12345678", "parentCID=ffffffff", 'createType="monolithicFlat"', ...lines, ""].join("\n"));
  prepare?.(dir);
  return "disk.vmdk";
};

const cases: Case[] = [
  { name: "a qcow2 backing file climbing out to /etc/passwd (raw)", build: qcow2Over("../../../../../../../../etc/passwd", "raw"), code: "STORAGE_PATH_ESCAPE" },
  { name: "the same without a backing format", build: qcow2Over("../../../../../../../../etc/passwd"), code: "STORAGE_PATH_ESCAPE" },
  {
    name: "an absolute backing file: another VM's disk",
    build: qcow2Over(join(outside, "secret.raw"), "raw"),
    code: "STORAGE_PATH_ESCAPE",
    more: (image) => [["inspect", image], ["storage", "compare", image, image], ["storage", "convert", "-c", "-O", "qcow2", image, "out.qcow2"]],
  },
  { name: "an absolute backing file to another VM's qcow2, format unrecorded", build: qcow2Over(join(outside, "secret.qcow2")), code: "STORAGE_PATH_ESCAPE" },
  {
    name: "a sibling symlink pointing out",
    build: async (dir) => (symlinkSync(join(outside, "secret.raw"), join(dir, "base.raw")), qcow2Over("base.raw", "raw")(dir)),
    code: "STORAGE_PATH_ESCAPE",
  },
  {
    name: "a symlinked directory leading out",
    build: async (dir) => (symlinkSync(outside, join(dir, "sub")), qcow2Over("sub/secret.raw", "raw")(dir)),
    code: "STORAGE_PATH_ESCAPE",
  },
  { name: "a backing file that is a FIFO", build: async (dir) => (execFileSync("mkfifo", [join(dir, "base.raw")]), qcow2Over("base.raw", "raw")(dir)), code: "STORAGE_NOT_A_FILE" },
  {
    name: "a backing file that is a character device (/dev/zero's node)",
    build: async (dir) => (execFileSync("mknod", [join(dir, "base.raw"), "c", "1", "5"]), qcow2Over("base.raw", "raw")(dir)),
    code: "STORAGE_NOT_A_FILE",
  },
  {
    name: "a backing file that is a block device node",
    build: async (dir) => (execFileSync("mknod", [join(dir, "base.raw"), "b", "7", "0"]), qcow2Over("base.raw", "raw")(dir)),
    code: "STORAGE_NOT_A_FILE",
  },
  {
    name: "a backing file without format that is a qcow2 naming a host file (never probed)",
    build: async (dir) => {
      await createQcow2(join(dir, "inner.qcow2"), { size: 4 * MiB, backingFile: join(outside, "secret.raw"), backingFormat: "raw" });
      return qcow2Over("inner.qcow2")(dir);
    },
    code: "STORAGE_BACKING_FORMAT",
  },
  {
    name: "a backing file recorded as vmdk that is really a qcow2",
    build: async (dir) => {
      await createQcow2(join(dir, "inner.qcow2"), { size: 4 * MiB });
      return qcow2Over("inner.qcow2", "vmdk")(dir);
    },
    code: "STORAGE_FORMAT_MISMATCH",
  },
  {
    name: "a raw disk whose guest wrote a qcow2 header naming a host file into its sector 0",
    build: async (dir) => {
      await createQcow2(join(dir, "guest.img"), { size: 4 * MiB, backingFile: join(outside, "secret.raw"), backingFormat: "raw" });
      execFileSync("truncate", ["-s", "8M", join(dir, "guest.img")]);
      return "guest.img";
    },
    code: "STORAGE_PATH_ESCAPE",
  },
  { name: "an external data file climbing out", build: withDataFile("../outside/secret.raw"), code: "STORAGE_PATH_ESCAPE" },
  { name: "an absolute external data file", build: withDataFile("/etc/passwd"), code: "STORAGE_PATH_ESCAPE" },
  { name: "an external data file that is a FIFO", build: withDataFile("fifo", (dir) => execFileSync("mkfifo", [join(dir, "fifo")])), code: "STORAGE_NOT_A_FILE" },
  {
    name: "an external data file behind a sibling symlink",
    build: withDataFile("data.raw", (dir) => symlinkSync(join(outside, "secret.raw"), join(dir, "data.raw"))),
    code: "STORAGE_PATH_ESCAPE",
  },
  {
    name: "a vmdk whose parentFileNameHint is absolute",
    build: vmdkDescriptor([`parentFileNameHint="${join(outside, "secret.vmdk")}"`, 'RW 8192 SPARSE "disk-s001.vmdk"'], (dir) =>
      execFileSync("qemu-img", ["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicSparse", join(dir, "disk-s001.vmdk"), "4M"]),
    ),
    code: "STORAGE_PATH_ESCAPE",
  },
  {
    name: "a vmdk whose parentFileNameHint climbs out",
    build: vmdkDescriptor(['parentFileNameHint="../outside/secret.vmdk"', 'RW 8192 SPARSE "disk-s001.vmdk"'], (dir) =>
      execFileSync("qemu-img", ["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicSparse", join(dir, "disk-s001.vmdk"), "4M"]),
    ),
    code: "STORAGE_PATH_ESCAPE",
  },
  { name: "a vmdk whose flat extent is a FIFO (an unpacked OVA)", build: vmdkDescriptor(['RW 8192 FLAT "disk-flat.vmdk" 0'], (dir) => execFileSync("mkfifo", [join(dir, "disk-flat.vmdk")])), code: "STORAGE_NOT_A_FILE" },
  { name: "a vmdk whose extent is /dev/zero", build: vmdkDescriptor(['RW 8192 FLAT "/dev/zero" 0']), code: "STORAGE_PATH_ESCAPE" },
  { name: "an image that is a FIFO", build: async (dir) => (execFileSync("mkfifo", [join(dir, "disk.qcow2")]), "disk.qcow2"), code: "STORAGE_NOT_A_FILE" },
  { name: "an image that is a character device", build: async (dir) => (execFileSync("mknod", [join(dir, "disk.raw"), "c", "1", "5"]), "disk.raw"), code: "STORAGE_NOT_A_FILE" },
  {
    name: "a backing chain that loops",
    build: async (dir) => {
      await createQcow2(join(dir, "b.qcow2"), { size: 4 * MiB, backingFile: "disk.qcow2", backingFormat: "qcow2" });
      return qcow2Over("b.qcow2", "qcow2")(dir);
    },
    code: "STORAGE_BACKING_LOOP",
  },
  {
    name: "a backing chain 100 images deep",
    build: async (dir) => {
      await createQcow2(join(dir, "0.qcow2"), { size: 4 * MiB });
      for (let i = 1; i < 100; i++) await createQcow2(join(dir, `${i}.qcow2`), { size: 4 * MiB, backingFile: `${i - 1}.qcow2`, backingFormat: "qcow2" });
      return qcow2Over("99.qcow2", "qcow2")(dir);
    },
    code: "STORAGE_BACKING_DEPTH",
  },
  { name: "a json: backing file", build: qcow2Over('json:{"file.driver":"file","file.filename":"/etc/passwd"}', "raw"), code: "STORAGE_UNSUPPORTED" },
  { name: "an nbd:// backing file", build: qcow2Over("nbd://127.0.0.1:10809/disk", "raw"), code: "STORAGE_UNSUPPORTED" },
  { name: "a missing backing file", build: qcow2Over("gone.raw", "raw"), code: "STORAGE_BACKING_MISSING" },
];

beforeAll(() => {
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.raw"), Buffer.alloc(MiB, `${SECRET} hostname=other-vm\n`));
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", join(outside, "secret.raw"), join(outside, "secret.qcow2")]);
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "vmdk", join(outside, "secret.raw"), join(outside, "secret.vmdk")]);
});

/** Exit 3 and one line on stderr — or, under --json, nothing on stderr and one JSON document saying why. */
function expectRefused(r: Run, what: string, json: boolean, code?: string): void {
  expect(r.code, `${what}: exit code (stderr: ${r.stderr})`).toBe(3);
  if (json) {
    expect(r.stderr, what).toBe("");
    const doc = JSON.parse(r.stdout) as { error?: { code: string }; backing?: { problem: { code: string } | null }[] };
    expect(doc.error?.code ?? doc.backing?.find((b) => b.problem)?.problem?.code, what).toMatch(/^STORAGE_/);
  } else {
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines, `${what}: one line on stderr`).toHaveLength(1);
    expect(lines[0], what).toMatch(/^leapp: .+ \[[A-Z_]+\]$/);
    if (code) expect(lines[0], what).toContain(`[${code}]`);
  }
  const output = r.stdout + r.stderr;
  expect(output, `${what}: host data`).not.toContain(SECRET);
  expect(output, `${what}: host data`).not.toMatch(/root:x?:0:0/);
  expect(output, `${what}: stack trace`).not.toMatch(/^\s+at /m);
  expect(r.seconds, `${what}: time`).toBeLessThan(10);
  expect(r.maxRssMiB, `${what}: peak RSS`).toBeLessThan(200);
}

describe("leapp storage on hostile images", () => {
  it.each(cases)("$name: exit 3, one line, nothing read, nothing written", async ({ name, build, code, more }) => {
    const dir = join(work, name.replace(/\W+/g, "-").slice(0, 60));
    mkdirSync(dir);
    const image = await build(dir);
    const before = snapshot(dir);
    const outsideBefore = snapshot(outside);
    // Every command opens images through the same code: one of each kind of output is enough.
    const commands = [
      ["storage", "convert", "-O", "qcow2", image, "out.qcow2"],
      ["storage", "info", image],
      ["--json", "storage", "info", image],
      ["storage", "overlay", image, "overlay.qcow2"],
      ...(more?.(image) ?? []),
    ];
    const runs = await Promise.all(commands.map((args) => leapp(dir, args)));
    runs.forEach((r, i) => expectRefused(r, `${name}: leapp ${commands[i]!.join(" ")}`, commands[i]![0] === "--json", i === 0 ? code : undefined));
    expect(snapshot(dir), "the case's directory").toEqual(before);
    expect(snapshot(outside), "the host files").toEqual(outsideBefore);
  });

  it("converts that guest's raw disk as raw when told -f raw: its bytes, never the host file", async () => {
    const dir = join(work, "guest-raw");
    mkdirSync(dir);
    const image = await cases.find((c) => c.name.startsWith("a raw disk whose guest"))!.build(dir);
    const r = await leapp(dir, ["storage", "convert", "-f", "raw", image, "copy.raw"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "copy.raw")).equals(readFileSync(join(dir, image)))).toBe(true);
    await promisify(execFile)("qemu-img", ["compare", "-f", "raw", "-F", "raw", join(dir, image), join(dir, "copy.raw")]);
  });

  it("opens a backing file outside the image's directory when that directory is trusted (--backing-dir)", async () => {
    const dir = join(work, "trusted");
    mkdirSync(dir);
    await qcow2Over(join(outside, "secret.raw"), "raw")(dir);
    const info = await leapp(dir, ["--json", "storage", "info", "--backing-dir", outside, "disk.qcow2"]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ backing: [{ path: join(outside, "secret.raw"), format: "raw", problem: null }] });
    const refused = await leapp(dir, ["--json", "storage", "info", "disk.qcow2"]);
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.stdout)).toMatchObject({ backing: [{ path: join(outside, "secret.raw"), problem: { code: "STORAGE_PATH_ESCAPE" } }] });
  });
});
