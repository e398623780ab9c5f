// `leapp check-target`, `migrate-machine` and `destroy-container` in-process against this machine
// as a container host: a real sshd on 127.0.0.1 (its own host key; its sessions get their own
// CONTAINERS_CONF) in front of the real podman. The source is the sample guest's tree, whose
// binaries are placeholders: it loads but cannot start, so these tests see the checks, the port
// map, the refusals and the clean-up; migrate.slow.test.ts migrates a live machine that runs.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetCheck } from "@leapp/packager";
import { startContainerHost, type TestContainerHost } from "@leapp/zoo";
import { ExitCode } from "../errors.js";
import { leapp } from "../test-streams.js";
import type { MigrateJson } from "./migrate.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const sample = join(repoRoot, "samples", "el6-xen", "root");
const work = mkdtempSync(join(tmpdir(), "leapp-cli-migrate-"));
const tag = String(process.pid);
const occupied = `leapp-cli-occupied-${tag}`;
const emptyImage = `localhost/leapp-cli-empty:${tag}`;
let host: TestContainerHost;

const keys = () => ["--identity", host.identity, "--known-hosts", host.knownHosts];

beforeAll(async () => {
  host = await startContainerHost();
  mkdirSync(join(work, "empty"));
  execFileSync("tar", ["-cf", join(work, "empty.tar"), "-C", join(work, "empty"), "."]);
  host.podman(["import", "--quiet", join(work, "empty.tar"), emptyImage]);
  host.podman(["create", "--name", occupied, emptyImage, "/nothing"]);
}, 120_000);

afterAll(async () => {
  host.podman(["rm", "-f", occupied], { allowFailure: true });
  for (const ref of [emptyImage, `localhost/leapp-cli-el6-${tag}:latest`]) host.podman(["rmi", "-f", ref], { allowFailure: true });
  await host?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("leapp check-target", () => {
  it("says the host is ready, with its runtime, containers and ports in use", async () => {
    const r = await leapp("check-target", host.url(), ...keys());
    expect(r.code, r.err).toBe(ExitCode.ok);
    expect(r.out).toContain(`target:        ${host.url()} (host key ${host.fingerprint})`);
    expect(r.out).toMatch(/^runtime: +podman \d+\.\d+\.\d+ with runc/m);
    expect(r.out).toMatch(new RegExp(`^  ${occupied} +created +${emptyImage.replace(/[.]/g, "\\.")}$`, "m"));
    expect(r.out).toMatch(new RegExp(`^ports in use:  tcp .*\\b${host.port}\\b`, "m"));
    expect(r.out.trimEnd().endsWith("ready for a migration")).toBe(true);
  });

  it("answers no (exit 1) when the name is taken; --json is one document", async () => {
    const r = await leapp("--json", "check-target", host.url(), ...keys(), "--name", occupied);
    expect(r.code).toBe(ExitCode.negative);
    const j = JSON.parse(r.out) as TargetCheck;
    expect(j).toMatchObject({ target: host.url(), hostKey: host.fingerprint, nameFree: false, problems: [`a container named ${occupied} is already there`] });
    expect(r.err).toBe("");
  });

  it("a wrong host key is a typed error (exit 3), before anything is sent", async () => {
    const r = await leapp("check-target", host.url(), "--identity", host.identity, "--known-hosts", host.wrongKnownHosts);
    expect(r.code).toBe(ExitCode.input);
    expect(r.err).toMatch(/^leapp: the host key of 127\.0\.0\.1:\d+ \(SHA256:.*\) does not match .*\[INSPECT_SSH_HOST_KEY\]\n$/);
  });
});

describe("leapp migrate-machine", () => {
  it("--print-port-map prints the map and changes nothing", async () => {
    const name = `leapp-cli-el6-${tag}`;
    const r = await leapp("--json", "migrate-machine", sample, "-t", host.url(), ...keys(), "--name", name, "--print-port-map", "--no-tcp-port", "22", "--tcp-port", "3306");
    expect(r.code, r.out).toBe(ExitCode.ok);
    const j = JSON.parse(r.out) as MigrateJson;
    expect(j).toMatchObject({ container: name, image: `${name}:latest`, target: host.url(), replaces: false });
    expect(j.runtime.name).toBe("podman");
    expect(j.portMap.map((m) => m.source)).toEqual(expect.arrayContaining([80, 3306]));
    expect(j.portMap.some((m) => m.source === 22)).toBe(false);
    expect(host.podman(["images", "-q", `localhost/${name}:latest`]).trim()).toBe("");

    const text = await leapp("migrate-machine", sample, "-t", host.url(), ...keys(), "--name", name, "--print-port-map");
    expect(text.code).toBe(ExitCode.ok);
    // 22 goes to 9022, or the next free port above it on this shared machine.
    const ssh = (await leapp("--json", "migrate-machine", sample, "-t", host.url(), ...keys(), "--name", name, "--print-port-map")).out;
    const to22 = (JSON.parse(ssh) as MigrateJson).portMap.find((m) => m.source === 22)!;
    expect(to22).toMatchObject({ wanted: 9022, service: "sshd" });
    expect(text.out).toMatch(new RegExp(`^ +${to22.target} → 22/tcp +sshd — ${to22.target === 9022 ? "moved by default: the host's own sshd keeps 22" : "9022 is in use there"}$`, "m"));
    expect(text.out).toMatch(/^ +\d+ → 80\/tcp +httpd/m);
  });

  it("refuses a taken name without --force-create (exit 3, its code)", async () => {
    const r = await leapp("--json", "migrate-machine", sample, "-t", host.url(), ...keys(), "--name", occupied);
    expect(r.code).toBe(ExitCode.input);
    expect(JSON.parse(r.out).error).toMatchObject({ code: "PACKAGER_NAME_TAKEN", package: "@leapp/packager" });
  });

  it("a mistyped port is a usage error before anything connects", async () => {
    const r = await leapp("migrate-machine", sample, "-t", host.url(), ...keys(), "--tcp-port", "80:http");
    expect(r.code).toBe(ExitCode.usage);
    expect(r.err).toMatch(/^leapp migrate-machine: 80:http is not a port mapping; write TARGET:SOURCE \(8080:80\) or SOURCE \(80\) \(run 'leapp migrate-machine --help' for usage\)\n$/);
    const none = await leapp("migrate-machine", sample, "-t", host.url(), ...keys(), "--no-tcp-port", "8080:80");
    expect(none.code).toBe(ExitCode.usage);
  });

  it("a guest that cannot start: exit 3 with the runtime's words, progress as JSON lines, nothing left on the host", async () => {
    const name = `leapp-cli-el6-${tag}`;
    const r = await leapp("migrate-machine", sample, "-t", host.url(), ...keys(), "--name", name, "--progress=json");
    expect(r.code).toBe(ExitCode.input);
    const lines = r.err.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^leapp: podman run failed on ssh:\/\/root@127\.0\.0\.1:\d+ .* \[PACKAGER_TARGET_FAILED\]$/);
    const events = lines.slice(0, -1).map((l) => JSON.parse(l) as { event: string; task: string; done: number; total: number });
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.task === "migrate-machine")).toBe(true);
    // Every byte went, and the run still failed: the stream ends with the error, as convert's does.
    expect(events.at(-1)).toMatchObject({ event: "error", error: { code: "PACKAGER_TARGET_FAILED" } });
    const last = events.filter((e) => e.event === "progress").at(-1)!;
    expect(last.done).toBe(last.total);
    expect(host.podman(["ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.Names}}"]).trim()).toBe("");
    expect(host.podman(["images", "-q", `localhost/${name}:latest`]).trim()).toBe("");
  });
});

describe("leapp destroy-container", () => {
  it("stops and removes a container (and its image with --remove-image); a missing one is nothing to do", async () => {
    const gone = `leapp-cli-gone-${tag}`;
    host.podman(["create", "--name", gone, emptyImage, "/nothing"]);
    const r = await leapp("destroy-container", host.url(), gone, ...keys(), "--timeout", "5");
    expect(r.code, r.err).toBe(ExitCode.ok);
    expect(r.out).toBe(`stopped and removed ${gone} on ${host.url()}\n`);
    const again = await leapp("--json", "destroy-container", host.url(), gone, ...keys());
    expect(again.code).toBe(ExitCode.ok);
    expect(JSON.parse(again.out)).toEqual({ target: host.url(), container: gone, removed: false });
    // The empty image is still used by the occupying container: kept.
    host.podman(["create", "--name", gone, emptyImage, "/nothing"]);
    const withImage = await leapp("--json", "destroy-container", host.url(), gone, ...keys(), "--remove-image");
    expect(JSON.parse(withImage.out)).toEqual({ target: host.url(), container: gone, removed: true, image: emptyImage, imageRemoved: false });
    const bad = await leapp("destroy-container", host.url(), gone, ...keys(), "--timeout", "soon");
    expect(bad.code).toBe(ExitCode.usage);
  });
});
