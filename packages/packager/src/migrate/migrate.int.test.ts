// The container host as a migration meets it: a real sshd on 127.0.0.1 (its own host key and
// config; its sessions get their own CONTAINERS_CONF) in front of the real podman. The source is
// the el6-xen zoo guest's tree, whose binaries are placeholders: it loads, but its init cannot
// start — which is how a failed start is seen to leave nothing behind. Runs that boot a real
// guest are in migrate.slow.test.ts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InspectError } from "@leapp/inspect";
import { buildZooGuest, startContainerHost, type TestContainerHost } from "@leapp/zoo";
import { PackagerError } from "../errors.js";
import { connectTarget, ContainerHost } from "./container-host.js";
import { migrateMachine, planMigration } from "./migrate.js";
import { checkTarget, destroyContainer } from "./target.js";

let host: TestContainerHost;
let tree: string;
const tag = `${process.pid}`;
const occupied = `leapp-int-occupied-${tag}`;
const emptyImage = `localhost/leapp-int-empty:${tag}`;
const listeners: Server[] = [];
/** Images a test left without a name, removed at the end. */
const leftImages: string[] = [];

const target = () => ({ target: host.url(), ssh: { identity: host.identity, knownHosts: host.knownHosts } });

async function listen(port = 0): Promise<number> {
  const s = createServer();
  listeners.push(s);
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, "0.0.0.0", () => resolve((s.address() as { port: number }).port));
  });
}

const imageThere = (ref: string) => host.podman(["images", "-q", ref]).trim() !== "";
const imageId = (ref: string) => host.podman(["image", "inspect", "--format", "{{.Id}}", ref]).trim();
const imageIdThere = (id: string) => host.podman(["image", "inspect", "--format", "{{.Id}}", id], { allowFailure: true }).trim() === id;

/** Imports a one-file image under `reference` (taking the name from an image that had it); its ID. */
function importImage(reference: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "leapp-int-image-"));
  mkdirSync(join(dir, "root"));
  writeFileSync(join(dir, "root", "content"), content);
  execFileSync("tar", ["-cf", join(dir, "image.tar"), "-C", join(dir, "root"), "."]);
  host.podman(["import", "--quiet", join(dir, "image.tar"), reference]);
  return imageId(reference);
}
const containerThere = (name: string) => host.podman(["ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.Names}}"]).trim() === name;

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

beforeAll(async () => {
  host = await startContainerHost();
  tree = (await buildZooGuest("el6-xen", "raw")).rootTree;
  // A container that holds a name and a published port, made from an image of one empty directory.
  const empty = mkdtempSync(join(tmpdir(), "leapp-int-empty-"));
  mkdirSync(join(empty, "root"));
  execFileSync("tar", ["-cf", join(empty, "image.tar"), "-C", join(empty, "root"), "."]);
  host.podman(["import", "--quiet", join(empty, "image.tar"), emptyImage]);
}, 120_000);

afterAll(async () => {
  for (const s of listeners) s.close();
  host.podman(["rm", "-f", occupied], { allowFailure: true });
  for (const name of [`leapp-int-user-${tag}`, `leapp-int-el6r-${tag}`]) host.podman(["rm", "-f", name], { allowFailure: true });
  for (const ref of [emptyImage, `localhost/leapp-int-el6:${tag}`, `localhost/leapp-int-abort:${tag}`, `localhost/leapp-int-replaced:${tag}`, `localhost/leapp-int-el6r:${tag}`, ...leftImages]) host.podman(["rmi", "-f", ref], { allowFailure: true });
  await host?.stop();
});

describe("check-target", () => {
  it("finds the runtime working, the containers and the ports in use", async () => {
    const hostPort = await listen();
    host.podman(["create", "--name", occupied, "-p", `127.0.0.1:${hostPort + 1}:80`, emptyImage, "/nothing"]);
    const check = await checkTarget({ ...target(), name: occupied });
    expect(check.target).toBe(host.url());
    expect(check.hostKey).toBe(host.fingerprint);
    expect(check.installed).toContain("podman");
    expect(check.runtime).toMatchObject({ name: "podman", rootless: false, ociRuntime: "runc" });
    expect(check.runtime!.version).toMatch(/^\d+\.\d+/);
    expect(check.architecture).toBe(process.arch === "x64" ? "x86_64" : check.architecture);
    const found = check.containers.find((c) => c.name === occupied);
    expect(found).toMatchObject({ image: emptyImage, state: "created", ports: [{ hostPort: hostPort + 1, containerPort: 80, protocol: "tcp" }] });
    // Our listener and the sshd itself (listening sockets), the created container's published port.
    expect(check.takenPorts.tcp).toEqual(expect.arrayContaining([hostPort, host.port, hostPort + 1]));
    expect(check.nameFree).toBe(false);
    expect(check.problems).toEqual([`a container named ${occupied} is already there`]);
    expect((await checkTarget({ ...target(), name: `leapp-int-free-${tag}` })).problems).toEqual([]);
  });

  it("reports a runtime that is not there, or does not work, as a problem, not a failure", async () => {
    // No docker daemon runs here (a docker client may be installed, or none).
    const check = await checkTarget({ ...target(), runtime: "docker" });
    expect(check.runtime).toBeUndefined();
    expect(check.problems).toHaveLength(1);
    expect(check.problems[0]).toMatch(/^docker is not installed \(not on the PATH of SSH sessions\)$|^docker is installed on ssh:\S+ but does not work \(docker info: .*daemon.*\); fix it there/);
  });
});

describe("migrate-machine refuses before changing anything", () => {
  it("a wrong host key: refused before any credential or byte is sent, nothing loaded", async () => {
    const before = host.log().length;
    const err = await rejection(migrateMachine([tree], { target: host.url(), ssh: { identity: host.identity, knownHosts: host.wrongKnownHosts }, name: `leapp-int-el6-${tag}`, reference: `leapp-int-el6:${tag}` }));
    expect(err).toBeInstanceOf(InspectError);
    expect(err.code).toBe("INSPECT_SSH_HOST_KEY");
    expect(err.message).toContain(host.fingerprint);
    // sshd never saw an authentication attempt on that connection.
    expect(host.log().slice(before)).not.toMatch(/Accepted|Failed publickey|userauth/i);
    expect(imageThere(`localhost/leapp-int-el6:${tag}`)).toBe(false);
  });

  it("a pinned fingerprint that does not match: the same", async () => {
    const err = await rejection(checkTarget({ target: host.url(), ssh: { identity: host.identity, fingerprint: "SHA256:" + "A".repeat(43) } }));
    expect(err.code).toBe("INSPECT_SSH_HOST_KEY");
  });

  it("a container name already taken, without --force-create: refused, nothing loaded", async () => {
    host.podman(["create", "--name", occupied, emptyImage, "/nothing"], { allowFailure: true });
    const err = await rejection(migrateMachine([tree], { ...target(), name: occupied, reference: `leapp-int-el6:${tag}` }));
    expect(err).toBeInstanceOf(PackagerError);
    expect(err.code).toBe("PACKAGER_NAME_TAKEN");
    expect(err.message).toMatch(/--force-create/);
    expect(imageThere(`localhost/leapp-int-el6:${tag}`)).toBe(false);
    expect(containerThere(occupied)).toBe(true);
  });

  it("a runtime that is not installed or not working", async () => {
    const err = await rejection(migrateMachine([tree], { ...target(), runtime: "docker", name: `leapp-int-el6-${tag}` }));
    expect(err.code).toBe("PACKAGER_NO_RUNTIME");
  });
});

describe("the port map against the target's ports in use (--print-port-map)", () => {
  it("keeps free numbers, moves past a port something listens on, refuses a taken requested port", async () => {
    const held = await listen();
    const plan = await planMigration([tree], { ...target(), name: `leapp-int-plan-${tag}`, tcpPorts: [{ source: held }, { source: 3306, target: held + 1000 }], noTcpPorts: [25] });
    expect(plan.container).toBe(`leapp-int-plan-${tag}`);
    expect(plan.image).toBe(`leapp-int-plan-${tag}:latest`);
    expect(plan.replaces).toBe(false);
    const byPort = new Map(plan.portMap.map((m) => [m.source, m]));
    // The source port `held` is in use on the target: the next free one above it.
    expect(byPort.get(held)!.target).toBeGreaterThan(held);
    expect(byPort.get(held)!.why).toBe("next-free");
    expect(byPort.get(3306)).toMatchObject({ target: held + 1000, why: "requested" });
    expect(byPort.has(25)).toBe(false);
    // The el6 guest's httpd is configured for 80.
    expect(byPort.get(80)?.service).toBe("httpd");

    const err = await rejection(planMigration([tree], { ...target(), tcpPorts: [{ source: 80, target: held }] }));
    expect(err.code).toBe("PACKAGER_PORT_TAKEN");
    expect(err.message).toContain(`target port ${held}`);
    expect(imageThere(`localhost/leapp-int-plan-${tag}:latest`)).toBe(false);
  });
});

describe("migrate-machine undoes what it did", () => {
  it("an init that cannot start: the error says so, and the container and the image it loaded are removed", async () => {
    const name = `leapp-int-el6-${tag}`;
    const phases: string[] = [];
    const err = await rejection(migrateMachine([tree], { ...target(), name, reference: `leapp-int-el6:${tag}`, onProgress: (e) => phases.push(e.phase) }));
    expect(err).toBeInstanceOf(PackagerError);
    expect(err.code).toBe("PACKAGER_TARGET_FAILED");
    expect(err.message).toMatch(/podman run failed on ssh:\/\/root@127\.0\.0\.1:\d+ .*\/sbin\/init/);
    // It got as far as loading and starting.
    expect([...new Set(phases)]).toEqual(["connect", "check", "inspect", "scan", "stream", "load", "start"]);
    expect(containerThere(name)).toBe(false);
    expect(imageThere(`localhost/leapp-int-el6:${tag}`)).toBe(false);
  });

  it("an abort while the image streams: rejects with the signal's reason, nothing loaded", async () => {
    const controller = new AbortController();
    const reason = new Error("stopped by the test");
    let streamed = 0;
    const err = await rejection(
      migrateMachine([tree], {
        ...target(),
        name: `leapp-int-abort-${tag}`,
        reference: `leapp-int-abort:${tag}`,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.phase === "stream" && e.done > 0 && !controller.signal.aborted) {
            streamed = e.done;
            controller.abort(reason);
          }
        },
      }),
    );
    expect(err).toBe(reason);
    expect(streamed).toBeGreaterThan(0);
    expect(imageThere(`localhost/leapp-int-abort:${tag}`)).toBe(false);
    expect(containerThere(`leapp-int-abort-${tag}`)).toBe(false);
  });
});

describe("replacing a container: its old image", () => {
  it("an image left without a name that no container uses is removed; one still named, or used, stays", async () => {
    const reference = `localhost/leapp-int-replaced:${tag}`;
    const user = `leapp-int-user-${tag}`;
    const older = importImage(reference, "older");
    const newer = importImage(reference, "newer"); // takes the name: the older one has none left
    leftImages.push(older);
    const { ssh } = await connectTarget(target());
    try {
      const h = new ContainerHost(ssh, "podman", host.url());
      expect(await h.imageId(reference)).toBe(newer);
      expect(await h.imageId(`localhost/leapp-int-nothing:${tag}`)).toBeUndefined();
      host.podman(["create", "--name", user, older, "/nothing"]);
      expect(await h.containerImageId(user)).toBe(older);
      expect(await h.containerImageId(`leapp-int-nobody-${tag}`)).toBeUndefined();
      // Used by a container (not even running): stays.
      expect(await h.removeUnnamedImage(older)).toBe(false);
      expect(imageIdThere(older)).toBe(true);
      host.podman(["rm", user]);
      // Still named: stays.
      expect(await h.removeUnnamedImage(newer)).toBe(false);
      expect(imageIdThere(newer)).toBe(true);
      expect(await h.removeUnnamedImage(older)).toBe(true);
      expect(imageIdThere(older)).toBe(false);
      expect(await h.removeUnnamedImage(older)).toBe(false);
    } finally {
      await ssh.close();
    }
  });

  it("a replacement that cannot start: the replaced container is gone, its image stays to go back to", async () => {
    const name = `leapp-int-el6r-${tag}`;
    const reference = `localhost/leapp-int-el6r:${tag}`;
    const older = importImage(reference, "the machine before");
    leftImages.push(older);
    host.podman(["create", "--name", name, reference, "/nothing"]);
    const err = await rejection(migrateMachine([tree], { ...target(), name, reference, forceCreate: true }));
    expect(err.code).toBe("PACKAGER_TARGET_FAILED");
    expect(containerThere(name)).toBe(false);
    // The name went to the loaded image (the reference was there before, so it stays), and the
    // old image, now without a name, is still there.
    expect(imageId(reference)).not.toBe(older);
    expect(imageIdThere(older)).toBe(true);
  });
});

describe("destroy-container", () => {
  it("stops and removes a container, and says when there is none", async () => {
    host.podman(["create", "--name", occupied, emptyImage, "/nothing"], { allowFailure: true });
    expect(await destroyContainer({ ...target(), name: occupied })).toEqual({ target: host.url(), container: occupied, removed: true });
    expect(containerThere(occupied)).toBe(false);
    expect(await destroyContainer({ ...target(), name: occupied })).toEqual({ target: host.url(), container: occupied, removed: false });
  });
});
