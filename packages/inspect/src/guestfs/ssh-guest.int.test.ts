// A live host over SSH: a real OpenSSH sshd started here on 127.0.0.1 (free port, own config, own
// host key, own authorized key) serving a copy of a zoo guest's root tree. The report must match
// the offline image's, plus the live-only facts; a wrong host key must stop the connection.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildZooGuest, type ZooGuest } from "@leapp/zoo";
import { openDirectoryGuest } from "./directory-guest.js";
import { InspectError } from "../errors.js";
import { openImageGuest } from "./image-guest.js";
import { inspect } from "../os/inspect.js";
import { sha256Fingerprint } from "./known-hosts.js";
import type { InspectionReport } from "../report/report.js";
import { openSshGuest } from "./ssh-guest.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ssh-"));
let sshd: ChildProcess | undefined;
let port = 0;
let zoo: ZooGuest;
let tree: string;
const url = () => `ssh://root@127.0.0.1:${port}`;
const identity = join(work, "client_key");
const knownHosts = join(work, "known_hosts");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The key blob (as the SSH protocol sends it) of an OpenSSH public key file. */
function publicKeyBlob(pubFile: string): Buffer {
  return Buffer.from(readFileSync(pubFile, "utf8").trim().split(/\s+/)[1] as string, "base64");
}

beforeAll(async () => {
  zoo = await buildZooGuest("el6-xen", "raw");
  tree = join(work, "guest-root");
  cpSync(zoo.rootTree, tree, { recursive: true, verbatimSymlinks: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(work, "host_key")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(work, "other_host_key")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", identity]);
  writeFileSync(join(work, "authorized_keys"), readFileSync(`${identity}.pub`));
  port = await freePort();
  const config = join(work, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(work, "host_key")}`,
      `PidFile ${join(work, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(work, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );
  const hostPub = readFileSync(join(work, "host_key.pub"), "utf8").trim().split(/\s+/);
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
  // sshd's privilege-separation directory; systemd-tmpfiles makes it at boot, this machine has no systemd.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
  const proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  sshd = proc;
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 15_000);
    proc.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("Server listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${code}: ${log}`));
    });
  });
}, 120_000);

afterAll(() => {
  if (sshd && sshd.exitCode === null) sshd.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    const g = await p;
    await (g as { close?: () => Promise<void> })?.close?.();
    return "ok";
  } catch (err) {
    return err instanceof InspectError ? err.code : String(err);
  }
}

describe("openSshGuest against a real sshd", () => {
  let live: InspectionReport;

  it("inspects the host through SFTP, as the offline image, plus listening ports", async () => {
    const guest = await openSshGuest(url(), { identity, knownHosts, root: tree });
    live = await inspect(guest);
    await guest.close();
    const image = await openImageGuest(zoo.disks);
    const offline = await inspect(image);
    await image.close();
    const dir = await openDirectoryGuest(tree);
    const fromTree = await inspect(dir);
    await dir.close();

    expect(live.source).toEqual({ kind: "ssh", location: [`${url()}${tree}`] });
    // Everything read from the guest's files is what the offline image says.
    const { source: _a, root: _b, mountpoints: _c, filesystems: _d, live: liveFacts, ...liveFiles } = live;
    const { source: _e, root: _f, mountpoints: _g, filesystems: _h, ...imageFiles } = offline;
    expect(liveFiles).toEqual(imageFiles);
    // Without block devices, mountpoints and filesystems are the fstab's, as for the same tree on disk.
    expect(live.mountpoints).toEqual(fromTree.mountpoints);
    expect(live.filesystems).toEqual(fromTree.filesystems);
    // The live-only fact: this very sshd listens on 127.0.0.1:port.
    expect(liveFacts?.listeningPorts).toContainEqual({ protocol: "tcp", address: "127.0.0.1", port });
  });

  it("reads through sudo -n commands the same as through SFTP", async () => {
    // sudo "always" runs one command per lookup: a handful of reads, not a whole inspection.
    const viaSudo = await openSshGuest(url(), { identity, knownHosts, root: tree, sudo: "always" });
    const viaSftp = await openSshGuest(url(), { identity, knownHosts, root: tree, sudo: true });
    for (const path of ["/etc/redhat-release", "/var/lib/rpm/Packages"]) {
      expect(await viaSudo.readFile(path)).toEqual(await viaSftp.readFile(path));
      expect(await viaSudo.stat(path)).toEqual(await viaSftp.stat(path));
    }
    expect((await viaSudo.readdir("/etc/rc3.d")).sort()).toEqual((await viaSftp.readdir("/etc/rc3.d")).sort());
    expect(await viaSudo.readlink("/etc/rc3.d")).toBe(await viaSftp.readlink("/etc/rc3.d"));
    expect((await viaSudo.lstat("/etc/rc3.d")).type).toBe("symlink");
    expect(await viaSudo.exists("/etc/nonexistent")).toBe(false);
    await expect(viaSudo.readFile("/etc/redhat-release", { maxBytes: 4 })).rejects.toSatisfy((e) => e instanceof InspectError && e.code === "INSPECT_TOO_LARGE");
    await viaSudo.close();
    await viaSftp.close();
  });

  it("accepts a pinned SHA256 fingerprint of the right key", async () => {
    const fingerprint = sha256Fingerprint(publicKeyBlob(join(work, "host_key.pub")));
    const guest = await openSshGuest(url(), { identity, fingerprint, root: tree });
    expect(new TextDecoder().decode(await guest.readFile("/etc/sysconfig/network"))).toContain("HOSTNAME=");
    // Links resolve in guest space even over SFTP: /etc/rc3.d -> rc.d/rc3.d.
    expect((await guest.readdir("/etc/rc3.d")).length).toBeGreaterThan(0);
    await guest.close();
  });

  it("refuses a wrong host key: known_hosts mismatch, wrong fingerprint, unknown host", async () => {
    const other = readFileSync(join(work, "other_host_key.pub"), "utf8").trim().split(/\s+/);
    const wrongKnownHosts = join(work, "known_hosts_wrong");
    writeFileSync(wrongKnownHosts, `[127.0.0.1]:${port} ${other[0]} ${other[1]}\n`);
    expect(await code(openSshGuest(url(), { identity, knownHosts: wrongKnownHosts, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
    const wrongFingerprint = sha256Fingerprint(publicKeyBlob(join(work, "other_host_key.pub")));
    expect(await code(openSshGuest(url(), { identity, fingerprint: wrongFingerprint, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
    const empty = join(work, "known_hosts_empty");
    writeFileSync(empty, "");
    expect(await code(openSshGuest(url(), { identity, knownHosts: empty, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
    expect(await code(openSshGuest(url(), { identity, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
  });

  it("reports a refused key as INSPECT_SSH", async () => {
    expect(await code(openSshGuest(url(), { identity: join(work, "other_host_key"), knownHosts, root: tree }))).toBe("INSPECT_SSH");
  });
});
