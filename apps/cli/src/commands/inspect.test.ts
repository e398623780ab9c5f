// `leapp inspect` in-process on the project's sample guest tree (samples/el6-xen/root).
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { InspectionReport } from "@leapp/inspect";
import { ExitCode } from "../errors.js";
import { run } from "../program.js";
import { captureStreams } from "../test-streams.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const sample = join(repoRoot, "samples", "el6-xen", "root");

describe("leapp inspect", () => {
  it("prints readable text by default", async () => {
    const io = captureStreams();
    expect(await run(["inspect", sample], io)).toBe(ExitCode.ok);
    const out = io.out();
    expect(out).toContain("os:            linux centos 6.10 (CentOS release 6.10 (Final))");
    expect(out).toContain("osinfo:        centos6.10");
    expect(out).toContain("hostname:      web01.example.com");
    expect(out).toMatch(/2\.6\.32-754\.35\.1\.el6\.x86_64 \[default\]/);
    expect(out).toContain("services:      crond httpd mysqld network sshd");
    expect(out).toMatch(/xen\s+xenblk/);
  });

  it("prints exactly one JSON document with --json: the reports of every OS found", async () => {
    const io = captureStreams();
    expect(await run(["inspect", sample, "--json"], io)).toBe(ExitCode.ok);
    const reports = JSON.parse(io.out()) as InspectionReport[];
    expect(reports).toHaveLength(1);
    const report = reports[0]!;
    expect(report.os.distro).toBe("centos");
    expect(report.source).toEqual({ kind: "directory", location: [sample] });
    expect(io.err()).toBe("");
  });

  it("prints virt-inspector XML with --xml", async () => {
    const io = captureStreams();
    expect(await run(["inspect", sample, "--xml"], io)).toBe(ExitCode.ok);
    expect(io.out()).toMatch(/^<\?xml version="1.0"\?>\n<operatingsystems>/);
    expect(io.out()).toContain("<osinfo>centos6.10</osinfo>");
  });

  it("turns bad input into typed errors and usage errors", async () => {
    let io = captureStreams();
    expect(await run(["inspect", join(repoRoot, "samples"), "--json"], io)).toBe(ExitCode.input);
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: "INSPECT_NO_OS", package: "@leapp/inspect" } });
    io = captureStreams();
    expect(await run(["inspect", sample, "--xml", "--json"], io)).toBe(ExitCode.usage);
    io = captureStreams();
    expect(await run(["inspect", sample, "--identity", "k"], io)).toBe(ExitCode.usage);
    io = captureStreams();
    expect(await run(["inspect", "ssh://u@127.0.0.1:1", "--identity", "/nonexistent"], io)).toBe(ExitCode.input);
    expect(io.err()).toContain("INSPECT_SSH_HOST_KEY");
  });
});
