// The proof: the debian-12 zoo guest (debootstrap: systemd, apache2, sshd) containerized from its
// disk image and from its root tree, loaded into podman and run with no command. The guest's own
// systemd boots its enabled services: Apache answers on the mapped port with the guest's page,
// `systemctl is-system-running` says `running`, and `podman stop` ends it with systemd's signal.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openGuest } from "@leapp/inspect";
import { buildDebianSysvTree, buildZooGuest, debianSysvPage, eventually, freeLocalPort, type ZooGuest } from "@leapp/zoo";
import { containerize } from "./containerize.js";
import { scratchDir, tool } from "./testing.js";

/** podman here: runc (crun does not work on this kernel) and the limits systemd wants. */
const runFlags = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"];
const cleanup: string[][] = [];
let zoo: ZooGuest;
let dir: string;



beforeAll(async () => {
  zoo = await buildZooGuest("debian-12", "qcow2");
  dir = scratchDir();
});

afterAll(() => {
  for (const args of cleanup.reverse()) {
    try {
      tool("podman", args);
    } catch {
      // already gone
    }
  }
});

describe("a containerized debian-12 guest runs its own systemd and services in podman", () => {
  const page = () => readFileSync(join(zoo.rootTree, "var/www/html/index.html"), "utf8");

  for (const from of ["disk image", "root tree"] as const) {
    it(`from its ${from}`, async () => {
      const sources = from === "disk image" ? zoo.disks : [zoo.rootTree];
      const tag = from === "disk image" ? "image" : "tree";
      const reference = `leapp-test/deb12-${tag}:v1`;
      const archive = join(dir, `${tag}.tar`);
      const guest = await openGuest(sources);
      let spec;
      try {
        spec = (await containerize(guest, archive, { reference })).runSpec;
      } finally {
        await guest.close();
      }
      expect(spec.init).toBe("systemd");
      expect(spec.command).toEqual(["/sbin/init"]);
      expect(spec.exposedPorts.map((p) => `${p.service} ${p.port}`)).toEqual(["ssh 22", "apache2 80"]);
      expect(spec.prunedServices.map((s) => s.name)).toEqual(["networking"]);

      tool("podman", ["load", "-i", archive]);
      cleanup.push(["rmi", "-f", `localhost/${reference}`]);
      const port = await freeLocalPort();
      const name = `leapp-deb12-${tag}-${process.pid}`;
      tool("podman", ["run", "-d", "--name", name, ...runFlags, "-p", `127.0.0.1:${port}:80`, `localhost/${reference}`]);
      cleanup.push(["rm", "-f", name]);

      const body = await eventually(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/`);
        return r.ok ? await r.text() : undefined;
      }, 60_000, "apache answering");
      expect(body).toBe(page());
      const state = await eventually(() => {
        const s = tool("podman", ["exec", name, "systemctl", "is-system-running"], { allowFailure: true }).toString().trim();
        return s === "starting" || s === "initializing" ? undefined : s;
      }, 60_000, "systemd finishing its boot");
      const failed = tool("podman", ["exec", name, "systemctl", "--failed", "--no-legend", "--plain"], { allowFailure: true }).toString().trim();
      expect({ state, failed }).toEqual({ state: "running", failed: "" });
      expect(tool("podman", ["exec", name, "systemctl", "is-active", "apache2", "ssh"]).toString().split("\n").filter(Boolean)).toEqual(["active", "active"]);

      // SIGRTMIN+3 makes systemd shut the guest down cleanly, well before podman's 10 s kill.
      const started = Date.now();
      tool("podman", ["stop", "-t", "30", name]);
      expect(Date.now() - started).toBeLessThan(25_000);
    });
  }
});

describe("a SysV guest (the CentOS 6 path) boots its runlevel in podman", () => {
  it("from a debootstrap tree with sysvinit: rcS without an emergency stop, Apache in runlevel 2, SIGPWR halts", async () => {
    const tree = await buildDebianSysvTree();
    const reference = "leapp-test/deb12-sysv:v1";
    const archive = join(dir, "sysv.tar");
    const guest = await openGuest([tree]);
    let spec;
    try {
      spec = (await containerize(guest, archive, { reference })).runSpec;
    } finally {
      await guest.close();
    }
    expect(spec.init).toBe("sysv");
    expect(spec.command).toEqual(["/sbin/init"]);
    expect(spec.stopSignal).toBe("SIGPWR");
    expect(spec.adaptations.map((a) => `${a.action} ${a.path}`)).toEqual(expect.arrayContaining(["replace /etc/fstab", "replace /etc/inittab", "replace /etc/network/interfaces"]));
    expect(spec.prunedServices.map((s) => s.name)).toContain("networking");

    tool("podman", ["load", "-i", archive]);
    cleanup.push(["rmi", "-f", `localhost/${reference}`]);
    const port = await freeLocalPort();
    const name = `leapp-deb12-sysv-${process.pid}`;
    expect(spec.runOptions.map((o) => o.option)).toEqual(["--cap-add=SYS_BOOT"]);
    tool("podman", ["run", "-d", "--name", name, ...runFlags, ...spec.runOptions.map((o) => o.option), "-p", `127.0.0.1:${port}:80`, `localhost/${reference}`]);
    cleanup.push(["rm", "-f", name]);
    const body = await eventually(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/`);
      return r.ok ? await r.text() : undefined;
    }, 60_000, "apache answering");
    expect(body).toBe(debianSysvPage);
    // The guest's init is PID 1 and reached its default runlevel.
    expect(tool("podman", ["exec", name, "cat", "/proc/1/comm"]).toString().trim()).toBe("init");
    expect(tool("podman", ["exec", name, "runlevel"]).toString().trim()).toMatch(/ 2$/);
    const started = Date.now();
    tool("podman", ["stop", "-t", "30", name]);
    expect(Date.now() - started).toBeLessThan(25_000);
  });
});
