// The CentOS 6 path on the el6-xen zoo guest (a SysV guest as it ran on Xen): its disk image
// becomes an image whose command is its own /sbin/init, with the LeApp prototype's treatment in
// a second layer that GNU tar and podman read. Its binaries are placeholders, so it is loaded,
// inspected and unpacked here, not run (the debian-12 slow test runs a guest).
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, existsSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openImageGuest, type InspectableGuest } from "@leapp/inspect";
import { buildZooGuest, type ZooGuest } from "@leapp/zoo";
import { containerize, type ContainerizeResult } from "./containerize.js";
import { scratchDir, tool } from "./testing.js";

let zoo: ZooGuest;
let guest: InspectableGuest;
let dir: string;
let result: ContainerizeResult;
let archive: string;
const loaded: string[] = [];

beforeAll(async () => {
  zoo = await buildZooGuest("el6-xen", "qcow2");
  guest = await openImageGuest(zoo.disks);
  dir = scratchDir();
  archive = join(dir, "web01.tar");
  result = await containerize(guest, archive, { reference: "leapp-test/el6:v1", exclude: ["/var/www/html/index.php"] });
});

afterAll(async () => {
  await guest?.close();
  for (const ref of loaded) tool("podman", ["rmi", "-f", ref]);
});

describe("containerize a CentOS 6 (SysV) guest from its disk image", () => {
  it("runs the guest's own init with SIGPWR to stop, exposing its services' configured ports", () => {
    const spec = result.runSpec;
    expect(spec.init).toBe("sysv");
    expect(spec.command).toEqual(["/sbin/init"]);
    expect(spec.stopSignal).toBe("SIGPWR");
    expect(spec.exposedPorts.map((p) => `${p.service} ${p.port}/${p.protocol}`)).toEqual(["sshd 22/tcp", "httpd 80/tcp", "mysqld 3306/tcp"]);
    expect(spec.exposedPorts.find((p) => p.service === "httpd")!.evidence).toBe("/etc/httpd/conf/httpd.conf: Listen 80");
    expect(spec.prunedServices.map((s) => s.name)).toEqual(["network"]);
    expect(spec.labels["io.leapp.source.os"]).toBe("centos6.10");
    expect(spec.labels["io.leapp.inspection.digest"]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.excludedMatched.map((r) => r.path)).toEqual(expect.arrayContaining(["/boot", "/lib/modules", "/etc/sysconfig/network-scripts/ifcfg-[!l]*", "/var/www/html/index.php"]));
  });

  it("keeps the guest as it was in the first layer, and puts the changes in the second", () => {
    const out = join(dir, "unpacked");
    mkdirSync(out);
    tool("tar", ["-xf", archive, "-C", out]);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as { Layers: string[]; Config: string }[];
    expect(manifest[0]!.Layers).toEqual(["1/layer.tar", "2/layer.tar"]);
    const root = join(out, "root");
    const changes = join(out, "changes");
    mkdirSync(root);
    mkdirSync(changes);
    tool("tar", ["--numeric-owner", "-xpf", join(out, "1/layer.tar"), "-C", root]);
    tool("tar", ["--numeric-owner", "-xpf", join(out, "2/layer.tar"), "-C", changes]);
    // The first layer is the guest: its own fstab and runlevel links, no kernel, no host network config.
    expect(readFileSync(join(root, "etc/fstab"), "utf8")).toBe(readFileSync(join(zoo.rootTree, "etc/fstab"), "utf8"));
    expect(readlinkSync(join(root, "etc/rc.d/rc3.d/S10network"))).toBe(readlinkSync(join(zoo.rootTree, "etc/rc.d/rc3.d/S10network")));
    expect(existsSync(join(root, "boot/grub/grub.conf")) || existsSync(join(root, "etc/sysconfig/network-scripts/ifcfg-eth0"))).toBe(false);
    expect(existsSync(join(root, "etc/sysconfig/network-scripts/ifcfg-lo"))).toBe(true);
    expect(existsSync(join(root, "var/www/html/index.php"))).toBe(false);
    // The second: whiteouts for the pruned links, a commented fstab, rc.sysinit's markers.
    expect(existsSync(join(changes, "etc/rc.d/rc3.d/.wh.S10network"))).toBe(true);
    expect(readFileSync(join(changes, "etc/fstab"), "utf8")).toMatch(/^#leapp: /m);
    expect(existsSync(join(changes, "fastboot")) && existsSync(join(changes, ".nolvm"))).toBe(true);
  });

  it("loads into podman with the run spec as its config", () => {
    expect(tool("podman", ["load", "-i", archive]).toString()).toContain("leapp-test/el6:v1");
    loaded.push("localhost/leapp-test/el6:v1");
    const config = JSON.parse(tool("podman", ["image", "inspect", "localhost/leapp-test/el6:v1"]).toString())[0].Config as { Cmd: string[]; StopSignal: string; ExposedPorts: Record<string, unknown>; Labels: Record<string, string> };
    expect(config.Cmd).toEqual(["/sbin/init"]);
    expect(config.StopSignal).toBe("SIGPWR");
    expect(Object.keys(config.ExposedPorts).sort()).toEqual(["22/tcp", "3306/tcp", "80/tcp"]);
    expect(config.Labels["io.leapp.source.hostname"]).toBe("web01.example.com");
  });

  it("streams the same image into `podman load` through a pipe", async () => {
    const child = spawn("podman", ["load"], { stdio: ["pipe", "pipe", "ignore"] });
    let said = "";
    child.stdout.on("data", (d: Buffer) => (said += d.toString()));
    const exited = new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    const streamed = await containerize(guest, child.stdin, { reference: "leapp-test/el6-streamed:v1" });
    expect(await exited).toBe(0);
    loaded.push("localhost/leapp-test/el6-streamed:v1");
    expect(said).toContain("leapp-test/el6-streamed:v1");
    expect(streamed.archive.layers[0]!.diffId).not.toBe(result.archive.layers[0]!.diffId); // index.php is in this one
  });

  it("streams the archive zstd-compressed as a whole, which podman load reads too", async () => {
    const child = spawn("podman", ["load"], { stdio: ["pipe", "pipe", "ignore"] });
    let said = "";
    let bytes = 0;
    child.stdout.on("data", (d: Buffer) => (said += d.toString()));
    const counting = new (await import("node:stream")).PassThrough();
    counting.on("data", (d: Buffer) => (bytes += d.length));
    counting.pipe(child.stdin);
    const exited = new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    const streamed = await containerize(guest, counting, { reference: "leapp-test/el6-zstd:v1", compression: "zstd" });
    expect(await exited).toBe(0);
    loaded.push("localhost/leapp-test/el6-zstd:v1");
    expect(said).toContain("leapp-test/el6-zstd:v1");
    expect(bytes).toBeLessThan(streamed.archive.bytes / 2);
  });
});
