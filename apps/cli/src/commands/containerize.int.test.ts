// `leapp containerize` in-process on the sample guest's tree as a root directory and as a qcow2
// disk image: one JSON document with the run spec, progress as JSON lines, the archive loadable
// by podman, typed errors for what cannot be done.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../errors.js";
import { leapp } from "../test-streams.js";
import type { ContainerizeJson } from "./containerize.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const sample = join(repoRoot, "samples", "el6-xen", "root");
const work = mkdtempSync(join(tmpdir(), "leapp-cli-containerize-"));
let qcow2: string;

beforeAll(() => {
  const raw = join(work, "disk.raw");
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", sample, raw, "32M"], { stdio: "pipe" });
  qcow2 = join(work, "disk.qcow2");
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
});
afterAll(() => {
  execFileSync("podman", ["rmi", "-f", "localhost/leapp-cli-test/web01:v1"], { stdio: "ignore" });
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
});
