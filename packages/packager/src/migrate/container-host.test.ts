// The runtime commands as the host's shell receives them, and what is made of the runtime's
// answers, for podman and docker. A fake SSH connection stands in for the host: no docker
// daemon can run on the test machine (podman's real answers are checked in migrate.int.test.ts).
import { describe, expect, it } from "vitest";
import type { SshConnection, SshExecOptions, SshExecResult } from "@leapp/inspect/ssh";
import { architectureRuns, ContainerHost, probeTarget } from "./container-host.js";

function fakeHost(answer: (command: string) => Partial<SshExecResult> & { text?: string }): { ssh: SshConnection; commands: string[] } {
  const commands: string[] = [];
  const ssh = {
    host: "ct01",
    port: 22,
    username: "root",
    hostKeyFingerprint: "SHA256:x",
    closed: false,
    async exec(command: string, _options?: SshExecOptions): Promise<SshExecResult> {
      commands.push(command);
      const a = answer(command);
      return { exitCode: a.exitCode ?? 0, exitSignal: undefined, stdout: a.stdout ?? new TextEncoder().encode(a.text ?? ""), stderr: a.stderr ?? "" };
    },
    sftp: () => Promise.reject(new Error("no SFTP here")),
    close: async () => {},
  } satisfies SshConnection;
  return { ssh, commands };
}

describe("probeTarget", () => {
  it("reads the host in one command run by sh, whatever the login shell", async () => {
    const { ssh, commands } = fakeHost(() => ({ text: "arch=x86_64\nkernel=6.1.0-18-amd64\nuid=1000\npodman=/usr/bin/podman\ndocker=\nunprivileged=1024\n" }));
    expect(await probeTarget(ssh)).toEqual({ architecture: "x86_64", kernel: "6.1.0-18-amd64", uid: 1000, installed: { podman: "/usr/bin/podman" }, unprivilegedPortStart: 1024 });
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(/^sh -c '/);
  });

  it("a host that cannot run sh is unsuitable, with its words", async () => {
    const { ssh } = fakeHost(() => ({ exitCode: 127, text: "", stderr: "sh: not found" }));
    await expect(probeTarget(ssh)).rejects.toMatchObject({ code: "PACKAGER_TARGET_UNSUITABLE", message: expect.stringContaining("sh: not found") });
  });
});

describe("ContainerHost", () => {
  it("quotes every argument for the host's shell", async () => {
    const { ssh, commands } = fakeHost(() => ({ text: "abc123\n" }));
    await new ContainerHost(ssh, "podman", "ssh://root@ct01:22").start("web01", "localhost/web01:latest", ["-p", "8080:80", "--cap-add=SYS_BOOT"]);
    expect(commands).toEqual(["'podman' 'run' '-d' '--name' 'web01' '-p' '8080:80' '--cap-add=SYS_BOOT' 'localhost/web01:latest'"]);
    await new ContainerHost(ssh, "docker", "t").remove("it's");
    expect(commands.slice(1)).toEqual(["'docker' 'stop' '--time' '30' 'it'\\''s'", "'docker' 'rm' '-f' 'it'\\''s'"]);
  });

  it("reads podman's and docker's info", async () => {
    const podman = fakeHost(() => ({ text: JSON.stringify({ host: { arch: "amd64", ociRuntime: { name: "runc" }, security: { rootless: true } }, version: { Version: "4.3.1" } }) }));
    expect(await new ContainerHost(podman.ssh, "podman", "t").info()).toEqual({ name: "podman", version: "4.3.1", rootless: true, ociRuntime: "runc" });
    expect(podman.commands).toEqual(["'podman' 'info' '--format' 'json'"]);
    const docker = fakeHost(() => ({ text: JSON.stringify({ ServerVersion: "24.0.7", DefaultRuntime: "runc", SecurityOptions: ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"] }) }));
    expect(await new ContainerHost(docker.ssh, "docker", "t").info()).toEqual({ name: "docker", version: "24.0.7", rootless: true, ociRuntime: "runc" });
    expect(docker.commands).toEqual(["'docker' 'info' '--format' '{{json .}}'"]);
  });

  it("a runtime whose info fails, or does not print JSON, does not work", async () => {
    const down = fakeHost(() => ({ exitCode: 1, stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" }));
    await expect(new ContainerHost(down.ssh, "docker", "ssh://root@ct01:22").info()).rejects.toMatchObject({ code: "PACKAGER_NO_RUNTIME", message: expect.stringMatching(/docker is installed on ssh:\/\/root@ct01:22 but does not work \(docker info: Cannot connect/) });
    const odd = fakeHost(() => ({ text: "podman version 1.0" }));
    await expect(new ContainerHost(odd.ssh, "podman", "t").info()).rejects.toMatchObject({ code: "PACKAGER_NO_RUNTIME" });
  });

  it("lists containers and the ports they publish, from either runtime's ps", async () => {
    const { ssh } = fakeHost(() => ({ text: "web01\tlocalhost/web01:latest\tRunning\t0.0.0.0:8080->80/tcp, 0.0.0.0:9022->22/tcp\nold\tcentos:6\texited\t\n\n" }));
    expect(await new ContainerHost(ssh, "docker", "t").containers()).toEqual([
      { name: "web01", image: "localhost/web01:latest", state: "running", ports: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }, { hostPort: 9022, containerPort: 22, protocol: "tcp" }] },
      { name: "old", image: "centos:6", state: "exited", ports: [] },
    ]);
  });

  it("counts sockets, containers' ports, and frees those of the container being replaced", async () => {
    const tcp = "  sl  local_address rem_address   st\n   0: 00000000:1F90 00000000:0000 0A x\n   1: 00000000:0016 00000000:0000 0A x\n";
    const udp = "  sl  local_address rem_address   st\n   0: 00000000:0035 00000000:0000 07 x\n";
    const { ssh } = fakeHost(() => ({ text: `${tcp}@@\n${udp}` }));
    const host = new ContainerHost(ssh, "podman", "t");
    const taken = await host.takenPorts([{ name: "a", image: "i", state: "exited", ports: [{ hostPort: 5000, containerPort: 5000, protocol: "tcp" }] }], { freed: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] });
    expect([...taken.tcp].sort((a, b) => a - b)).toEqual([22, 5000]);
    expect([...taken.udp]).toEqual([53]);
  });

  it("names what load loaded, as podman and docker say it", async () => {
    const podman = fakeHost(() => ({ text: "Getting image source signatures\nLoaded image: localhost/web01:latest\n" }));
    expect(await new ContainerHost(podman.ssh, "podman", "t").load((async function* () {})())).toBe("localhost/web01:latest");
    const docker = fakeHost(() => ({ text: "Loaded image: web01:latest\n" }));
    expect(await new ContainerHost(docker.ssh, "docker", "t").load((async function* () {})())).toBe("web01:latest");
    const failed = fakeHost(() => ({ exitCode: 125, stderr: "Error: payload does not match any of the supported image formats:\n * oci: ...\n * docker-archive: unexpected EOF" }));
    await expect(new ContainerHost(failed.ssh, "podman", "ssh://root@ct01:22").load((async function* () {})())).rejects.toMatchObject({ code: "PACKAGER_TARGET_FAILED", message: expect.stringContaining("podman load failed on ssh://root@ct01:22 (exit 125)") });
  });
});

describe("architectureRuns", () => {
  it.each([
    ["x86_64", "x86_64", true],
    ["x86_64", "i686", true],
    ["x86_64", "i386", true],
    ["i686", "x86_64", false],
    ["aarch64", "x86_64", false],
    ["x86_64", "aarch64", false],
    ["aarch64", "aarch64", true],
    ["s390x", undefined, true],
  ] as const)("a %s host runs a %s guest: %s", (host, guest, runs) => {
    expect(architectureRuns(host, guest)).toBe(runs);
  });
});
