// `leapp containerize` in-process on the sample guest's tree as a root directory and as a qcow2
// disk image: one JSON document with the run spec, progress as JSON lines, the archive loadable
// by podman, typed errors for what cannot be done.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../errors.js";
import { interruptAtProgress, leapp } from "../test-streams.js";
import type { ContainerizeJson } from "./containerize.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const sample = join(repoRoot, "samples", "el6-xen", "root");
const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "leapp-cli-containerize-"));
let qcow2: string;

beforeAll(() => {
  const raw = join(work, "disk.raw");
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", sample, raw, "32M"], { stdio: "pipe" });
  qcow2 = join(work, "disk.qcow2");
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
});
afterAll(() => {
  execFileSync("podman", ["rmi", "-f", "localhost/leapp-cli-test/web01:v1", "localhost/leapp-cli-test/piped:v1"], { stdio: "ignore" });
  rmSync(work, { recursive: true, force: true });
});

describe("leapp containerize", () => {
  it("--json prints the run spec and the archive's digests; --progress=json streams byte counts", async () => {
    const output = join(work, "web01.tar");
    const r = await leapp("containerize", qcow2, "-o", output, "--name", "leapp-cli-test/web01:v1", "--json", "--progress=json");
    expect(r.code).toBe(ExitCode.ok);
    const j = JSON.parse(r.out) as ContainerizeJson;
    expect(j.reference).toBe("leapp-cli-test/web01:v1");
    expect(j.runSpec.command).toEqual(["/sbin/init"]);
    expect(j.runSpec.exposedPorts.map((p) => p.port)).toContain(80);
    expect(j.layers).toHaveLength(2);
    const events = r.err.trim().split("\n").map((l) => JSON.parse(l) as { event: string; done: number; total: number });
    expect(events.at(-1)).toMatchObject({ event: "end" });
    expect(events.at(-1)!.done).toBe(events.at(-1)!.total);
    expect(execFileSync("podman", ["load", "-i", output], { stdio: ["ignore", "pipe", "pipe"] }).toString()).toContain("leapp-cli-test/web01:v1");
  });

  it("prints how to run it, and an oci-archive from a root directory", async () => {
    const output = join(work, "web01.oci.tar");
    const r = await leapp("containerize", sample, "-o", output, "--format", "oci-archive", "--compress", "gzip", "--exclude", "/var/www");
    expect(r.code).toBe(ExitCode.ok);
    expect(r.out).toContain("command:   /sbin/init (sysv, stop signal SIGPWR)");
    expect(r.out).toMatch(/run it: +podman load -i .*web01\.oci\.tar && podman run -d .*-p 8080:80/);
    expect(JSON.parse(execFileSync("skopeo", ["inspect", `oci-archive:${output}`]).toString()).Labels["io.leapp.source.kind"]).toBe("directory");
  });

  it("refuses to overwrite, and leaves nothing behind on a bad source", async () => {
    const output = join(work, "web01.tar");
    const exists = await leapp("containerize", qcow2, "-o", output);
    expect(exists.code).toBe(ExitCode.input);
    expect(exists.err).toContain("PACKAGER_TARGET_EXISTS");
    const bad = await leapp("containerize", join(work, "missing.img"), "-o", join(work, "never.tar"));
    expect(bad.code).toBe(ExitCode.input);
    expect(existsSync(join(work, "never.tar"))).toBe(false);
    expect(readdirSync(work).filter((n) => n.includes(".tmp-"))).toEqual([]);
    const usage = await leapp("containerize", qcow2);
    expect(usage.code).toBe(ExitCode.usage);
  });

  it("SIGTERM while it streams: exit 143, the unfinished archive removed, the progress stream ended by an error", async () => {
    const dir = join(work, "interrupted");
    mkdirSync(dir);
    const output = join(dir, "web01.tar");
    const r = await interruptAtProgress("SIGTERM", "containerize", qcow2, "-o", output);
    expect(r.code, r.lines.join("\n")).toBe(143);
    expect(readdirSync(dir)).toEqual([]);
    expect(r.lines.at(-1)).toBe(`leapp: interrupted; removed the unfinished ${output} (SIGTERM)`);
    expect(r.events.at(-1)).toMatchObject({ event: "error", error: { code: "LEAPP_INTERRUPTED" } });
  });
});

// `-o -` needs the process's own standard output: the built CLI, run as a command.
describe("leapp containerize -o - (standard output)", () => {
  it("pipes the archive into podman load, its report on standard error", () => {
    const report = join(work, "piped.json");
    const r = spawnSync("bash", ["-o", "pipefail", "-c", `node "${cli}" containerize "${qcow2}" -o - --name leapp-cli-test/piped:v1 --json 2>"${report}" | podman load`], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("leapp-cli-test/piped:v1");
    const j = JSON.parse(readFileSync(report, "utf8")) as ContainerizeJson;
    expect(j).toMatchObject({ output: "-", format: "docker-archive", reference: "leapp-cli-test/piped:v1" });
    const id = execFileSync("podman", ["image", "inspect", "--format", "{{.Id}}", "localhost/leapp-cli-test/piped:v1"]).toString().trim();
    expect(`sha256:${id}`).toBe(j.configDigest);
  });

  it("refuses a terminal, and says so when the reader stops early (a broken pipe)", () => {
    // `script` gives the command a pseudo-terminal as its standard output.
    const tty = spawnSync("script", ["-qec", `node "${cli}" containerize "${sample}" -o -`, "/dev/null"], { encoding: "utf8" });
    expect(tty.status).toBe(ExitCode.usage);
    expect(tty.stdout).toContain("-o - writes the archive to standard output, which is a terminal");
    // The archive (about 150 KiB) outgrows the pipe's buffer: the write after head has gone fails.
    const err = join(work, "epipe.txt");
    const cut = spawnSync("bash", ["-c", `node "${cli}" containerize "${qcow2}" -o - 2>"${err}" | head -c 1000 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: "utf8" });
    expect(cut.stdout.trim()).toBe(String(ExitCode.input));
    expect(readFileSync(err, "utf8")).toMatch(/^leapp: the command reading the output stopped before its end \(a broken pipe\)/);
  });
});
