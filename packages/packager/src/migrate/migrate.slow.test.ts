// The proof on a real guest: the debian-12 zoo guest's disk image (systemd, Apache, OpenSSH)
// migrated to this machine as a container host reached over SSH — streamed into podman load,
// started with no command — boots its own systemd, Apache answers on the mapped port with the
// guest's page; a second migration with forceCreate replaces it on the same ports, and removes
// the image its name moved away from.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildZooGuest, eventually, localPage, startContainerHost, type TestContainerHost, type ZooGuest } from "@leapp/zoo";
import { migrateMachine, type MigrationResult } from "./migrate.js";

let host: TestContainerHost;
let zoo: ZooGuest;
const name = `leapp-slow-deb12-${process.pid}`;
const reference = `leapp-slow-deb12:${process.pid}`;
/** Images loaded here: the second migration takes the reference, so the first one's keeps only its ID. */
const images: string[] = [];

beforeAll(async () => {
  zoo = await buildZooGuest("debian-12", "qcow2");
  host = await startContainerHost();
});

afterAll(async () => {
  host.podman(["rm", "-f", "-t", "0", name], { allowFailure: true });
  for (const image of [...images, `localhost/${reference}`]) host.podman(["rmi", "-f", image], { allowFailure: true });
  await host?.stop();
});

describe("migrate-machine: the debian-12 guest's disk image onto a container host over SSH", () => {
  let first: MigrationResult;

  it("streams, loads and starts it: systemd boots, Apache serves the guest's page on the mapped port", async () => {
    const phases: string[] = [];
    let streamed = 0;
    first = await migrateMachine(zoo.disks, {
      target: host.url(),
      ssh: { identity: host.identity, knownHosts: host.knownHosts },
      name,
      reference,
      onProgress: (e) => {
        phases.push(e.phase);
        if (e.phase === "stream") streamed = e.done;
      },
    });
    expect(first.container).toBe(name);
    expect(first.image).toBe(`localhost/${reference}`);
    expect(first.runtime).toMatchObject({ name: "podman", ociRuntime: "runc" });
    expect(first.runSpec.init).toBe("systemd");
    const web = first.portMap.find((m) => m.source === 80)!;
    const ssh = first.portMap.find((m) => m.source === 22)!;
    expect(web).toMatchObject({ service: "apache2", protocol: "tcp" });
    expect(ssh.target).toBeGreaterThanOrEqual(9022);
    expect(streamed).toBe(first.bytes);
    expect([...new Set(phases)]).toEqual(["connect", "check", "inspect", "scan", "stream", "load", "start"]);
    const t = first.timings;
    expect(t.total).toBeGreaterThanOrEqual(t.connect + t.check + t.inspect + t.scan + t.stream + t.load + t.start);
    console.log(`migrated debian-12 (${first.files} files, ${(first.bytes / 2 ** 20).toFixed(0)} MiB) in ${t.total} ms:`, JSON.stringify(t));

    // The runtime's own view: no ulimit or runtime flags added by leapp, the ports published.
    const inspected = JSON.parse(host.podman(["container", "inspect", name]))[0] as { Config: { Cmd: string[] | null }; HostConfig: { PortBindings: Record<string, { HostPort: string }[]> } };
    expect(inspected.HostConfig.PortBindings["80/tcp"]![0]!.HostPort).toBe(String(web.target));
    expect(inspected.HostConfig.PortBindings["22/tcp"]![0]!.HostPort).toBe(String(ssh.target));

    const body = await eventually(() => localPage(web.target), 90_000, "Apache answering on the mapped port");
    expect(body).toBe(readFileSync(join(zoo.rootTree, "var/www/html/index.html"), "utf8"));
    const state = await eventually(() => {
      const s = host.podman(["exec", name, "systemctl", "is-system-running"], { allowFailure: true }).trim();
      return s === "" || s === "starting" || s === "initializing" ? undefined : s;
    }, 90_000, "systemd finishing its boot");
    expect(["running", "degraded"]).toContain(state);
    expect(host.podman(["exec", name, "systemctl", "is-active", "apache2", "ssh"]).split("\n").filter(Boolean)).toEqual(["active", "active"]);
  });

  it("with forceCreate, replaces the container of that name on the same ports, and the image the name left", async () => {
    const before = JSON.parse(host.podman(["container", "inspect", name]))[0] as { Id: string; Image: string };
    images.push(before.Image);
    // Another image under the same name (the machine changed since: here, its docs left out).
    const second = await migrateMachine(zoo.disks, { target: host.url(), ssh: { identity: host.identity, knownHosts: host.knownHosts }, name, reference, forceCreate: true, exclude: ["/usr/share/doc"] });
    expect(second.replaces).toBe(true);
    // The first image lost its name to the second, and its container is gone: nothing holds it.
    expect(second.removedImage).toBe(before.Image);
    expect(host.podman(["image", "inspect", "--format", "{{.Id}}", before.Image], { allowFailure: true }).trim()).toBe("");
    expect(JSON.parse(host.podman(["container", "inspect", name]))[0].Image).not.toBe(before.Image);
    // The old container's ports were its own: the new one takes them again.
    expect(second.portMap).toEqual(first.portMap);
    expect(second.containerId).not.toBe(before.Id);
    expect(host.podman(["ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.ID}}"]).trim().split("\n")).toHaveLength(1);
    const web = second.portMap.find((m) => m.source === 80)!;
    expect(await eventually(() => localPage(web.target), 90_000, "Apache answering again")).toBe(readFileSync(join(zoo.rootTree, "var/www/html/index.html"), "utf8"));
  });
});
