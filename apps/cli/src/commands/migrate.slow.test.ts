// The live migration, end to end: the debian-vmware zoo guest (Debian 12 as VMware left it:
// open-vm-tools, a pvscsi/vmxnet3-only initramfs, lighttpd and sshd) booted under QEMU TCG on
// the hardware it knows (pvscsi disk, vmxnet3 NIC with its MAC; user networking forwards
// 127.0.0.1 ports to its ssh and http), and this machine as the container host behind a real
// sshd. `leapp migrate-machine ssh://…` reads the running machine over SSH and streams it into
// podman there; the guest's page then answers on the target's mapped port. One boot.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFilesystem, scanDisks } from "@leapp/inspect";
import { connectSsh } from "@leapp/inspect/ssh";
import { createOverlay, openDisk } from "@leapp/storage";
import { bootableFacts, buildZooGuest, eventually, freeLocalPort, knownHostsLine, localPage, startContainerHost, type TestContainerHost, type ZooGuest } from "@leapp/zoo";
import { ExitCode } from "../errors.js";
import { leapp } from "../test-streams.js";
import type { MigrateJson } from "./migrate.js";

const facts = bootableFacts["debian-vmware"];
const work = mkdtempSync(join(tmpdir(), "leapp-cli-live-"));
const name = `leapp-live-vmw-${process.pid}`;
/** QEMU puts the vmxnet3 NIC in PCI slot 16: the guest names it ens16 (VMware's slot gave ens192). */
const nicSlot = 16;
let zoo: ZooGuest;
let host: TestContainerHost;
let qemu: ChildProcess | undefined;
let sshPort = 0;
let httpPort = 0;
const guestKey = join(work, "guest_key");
const guestKnownHosts = join(work, "guest_known_hosts");

/**
 * The guest's disk as a qcow2 overlay (the zoo's image stays as built) with what this boot needs,
 * written by leapp's own ext4 writer: our key for root, and the static address on the NIC name
 * QEMU's slot gives (the guest's own config names VMware's ens192).
 */
async function prepareOverlay(): Promise<string> {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", guestKey]);
  const overlay = join(work, "live.qcow2");
  await createOverlay(zoo.disks[0]!, overlay, { absoluteBacking: true });
  const disk = await openDisk(overlay, { writable: true, trustedBackingDirs: [dirname(zoo.disks[0]!)] });
  try {
    const volume = (await scanDisks([disk])).find((v) => v.device === "/dev/sda1")!;
    const fs = await openFilesystem(volume, { writable: true });
    await fs.writeFile("/root/.ssh/authorized_keys", readFileSync(`${guestKey}.pub`), { mode: 0o600 });
    const nic = `ens${nicSlot}`;
    await fs.writeFile("/etc/network/interfaces.d/qemu-slot", new TextEncoder().encode(`allow-hotplug ${nic}\niface ${nic} inet static\n\taddress ${facts.address}/24\n\tgateway 10.0.2.2\n`));
    await fs.close();
  } finally {
    await disk.close();
  }
  return overlay;
}

beforeAll(async () => {
  zoo = await buildZooGuest("debian-vmware");
  host = await startContainerHost();
  const overlay = await prepareOverlay();
  sshPort = await freeLocalPort();
  httpPort = await freeLocalPort();
  // The guest's own host key, from its tree: the source is checked as strictly as the target.
  writeFileSync(guestKnownHosts, knownHostsLine(sshPort, join(zoo.rootTree, "etc/ssh/ssh_host_ed25519_key.pub")));
  qemu = spawn(
    "qemu-system-x86_64",
    [
      ...["-machine", "pc,accel=tcg", "-m", "1024", "-smp", "2", "-display", "none", "-serial", "none", "-monitor", "none", "-no-reboot"],
      ...["-drive", `file=${overlay},format=qcow2,if=none,id=d0`, "-device", "pvscsi,id=scsi0", "-device", "scsi-hd,drive=d0,bus=scsi0.0"],
      ...["-netdev", `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22,hostfwd=tcp:127.0.0.1:${httpPort}-:80`, "-device", `vmxnet3,netdev=n0,mac=${facts.mac},addr=${nicSlot.toString(16)}`],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let qemuErr = "";
  qemu.stderr!.on("data", (d: Buffer) => (qemuErr = (qemuErr + d.toString()).slice(-4000)));
  // Up when its sshd lets our key in (TCG boots it in well under a minute on a quiet machine).
  await eventually(
    async () => {
      if (qemu!.exitCode !== null) throw new Error(`QEMU exited (${qemu!.exitCode}): ${qemuErr}`);
      const c = await connectSsh(`ssh://root@127.0.0.1:${sshPort}`, { identity: guestKey, knownHosts: guestKnownHosts, connectTimeoutMs: 10_000 });
      await c.close();
      return true;
    },
    300_000,
    "the live guest's sshd letting us in",
  );
}, 900_000);

afterAll(async () => {
  if (qemu && qemu.exitCode === null) qemu.kill("SIGKILL");
  host?.podman(["rm", "-f", "-t", "0", name], { allowFailure: true });
  host?.podman(["rmi", "-f", `localhost/${name}:latest`], { allowFailure: true });
  await host?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("leapp migrate-machine ssh://… (a live VMware guest) -t ssh://… (this machine's podman)", () => {
  const source = () => `ssh://root@127.0.0.1:${sshPort}`;
  const keys = () => ["--identity", host.identity, "--known-hosts", host.knownHosts, "--source-identity", guestKey, "--source-known-hosts", guestKnownHosts];
  let migrated: MigrateJson;

  it("the live machine serves its page before", async () => {
    expect(await eventually(() => localPage(httpPort), 120_000, "the live guest's lighttpd")).toBe(facts.page);
  });

  it("refuses a container host whose key does not match, before anything is sent or read", async () => {
    const r = await leapp("migrate-machine", source(), "-t", host.url(), "--identity", host.identity, "--known-hosts", host.wrongKnownHosts, "--source-identity", guestKey, "--source-known-hosts", guestKnownHosts, "--name", name);
    expect(r.code).toBe(ExitCode.input);
    expect(r.err).toMatch(/\[INSPECT_SSH_HOST_KEY\]\n$/);
    expect(host.podman(["images", "-q", `localhost/${name}:latest`]).trim()).toBe("");
  });

  it("moves it: streamed into podman over SSH, started with its own systemd, its page on the target's mapped port", async () => {
    const r = await leapp("--json", "--progress=json", "migrate-machine", source(), "-t", host.url(), ...keys(), "--name", name);
    expect(r.code, r.out + r.err.slice(-2000)).toBe(ExitCode.ok);
    migrated = JSON.parse(r.out) as MigrateJson;
    expect(migrated).toMatchObject({ container: name, image: `localhost/${name}:latest`, target: host.url() });
    const web = migrated.portMap.find((m) => m.source === 80)!;
    const ssh = migrated.portMap.find((m) => m.source === 22)!;
    expect(web).toMatchObject({ protocol: "tcp", service: "lighttpd" });
    expect(ssh).toMatchObject({ protocol: "tcp", wanted: 9022 });
    const progress = r.err.trim().split("\n").map((l) => JSON.parse(l) as { event: string; done: number; total: number });
    expect(progress.at(-1)).toMatchObject({ event: "end", done: migrated.bytes, total: migrated.bytes });
    console.log(`live migration of debian-vmware (${migrated.files} files, ${(migrated.bytes! / 2 ** 20).toFixed(0)} MiB): ${JSON.stringify(migrated.timings)}`);

    expect(await eventually(() => localPage(web.target), 120_000, "the migrated lighttpd on the target")).toBe(facts.page);
    expect(host.podman(["exec", name, "cat", "/proc/1/comm"]).trim()).toBe("systemd");
    const active = await eventually(async () => {
      const s = host.podman(["exec", name, "systemctl", "is-active", "lighttpd", "ssh"], { allowFailure: true }).split("\n").filter(Boolean);
      return s.length === 2 && s.every((x) => x === "active") ? s : undefined;
    }, 120_000, "lighttpd and ssh active in the container");
    expect(active).toEqual(["active", "active"]);
    // VMware's agent cannot run in a container: masked, not failing.
    // (`systemctl is-enabled` answers "masked" with a failing exit status; `show` reports it and succeeds.)
    expect(host.podman(["exec", name, "systemctl", "show", "-p", "UnitFileState", "--value", "open-vm-tools.service"]).trim()).toBe("masked");
  });

  it("refuses the same name again without --force-create", async () => {
    const r = await leapp("--json", "migrate-machine", source(), "-t", host.url(), ...keys(), "--name", name);
    expect(r.code).toBe(ExitCode.input);
    expect(JSON.parse(r.out).error.code).toBe("PACKAGER_NAME_TAKEN");
  });

  it("destroy-container stops it with its own stop signal and removes it and its image", async () => {
    const r = await leapp("--json", "destroy-container", host.url(), name, "--identity", host.identity, "--known-hosts", host.knownHosts, "--remove-image");
    expect(r.code, r.err).toBe(ExitCode.ok);
    expect(JSON.parse(r.out)).toEqual({ target: host.url(), container: name, removed: true, image: `localhost/${name}:latest`, imageRemoved: true });
    expect(host.podman(["ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.Names}}"]).trim()).toBe("");
  });
});
