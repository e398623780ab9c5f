// A live host over SSH: a real OpenSSH sshd started here on 127.0.0.1 (free port, own config, own
// host key, own authorized key) serving a copy of a zoo guest's root tree. The report must match
// the offline image's, plus the live-only facts; a wrong host key must stop the connection.
import { execFileSync } from "node:child_process";
import { cpSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildZooGuest, startSshd, type TestSshd, type ZooGuest } from "@leapp/zoo";
import { openDirectoryGuest } from "./directory-guest.js";
import { InspectError } from "../errors.js";
import { openImageGuest } from "./image-guest.js";
import { inspect } from "../os/inspect.js";
import { sha256Fingerprint } from "./known-hosts.js";
import type { InspectionReport } from "../report/report.js";
import { openSshGuest } from "./ssh-guest.js";
import { connectSsh } from "./ssh-client.js";
import type { GuestFS, GuestStat } from "./guestfs.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ssh-"));
let sshd: TestSshd;
let port = 0;
let zoo: ZooGuest;
let tree: string;
const url = () => sshd.url();
let identity: string;
let knownHosts: string;
/** The server's key files (host_key, other_host_key and their .pub) sit beside the client's key. */
const keyFile = (name: string) => join(dirname(identity), name);

/** The key blob (as the SSH protocol sends it) of an OpenSSH public key file. */
function publicKeyBlob(pubFile: string): Buffer {
  return Buffer.from(readFileSync(pubFile, "utf8").trim().split(/\s+/)[1] as string, "base64");
}

beforeAll(async () => {
  zoo = await buildZooGuest("el6-xen", "raw");
  tree = join(work, "guest-root");
  cpSync(zoo.rootTree, tree, { recursive: true, verbatimSymlinks: true });
  sshd = await startSshd();
  ({ port, identity, knownHosts } = sshd);
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
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

  it("walks the tree as the directory source does: every stat field, link target and xattr", async () => {
    // What packaging a live machine needs beyond inspection: a device node, hard links, file capabilities.
    execFileSync("mknod", [join(tree, "dev-null"), "c", "1", "3"]);
    writeFileSync(join(tree, "usr-capable"), "x");
    linkSync(join(tree, "usr-capable"), join(tree, "usr-capable-link"));
    execFileSync("setfattr", ["-n", "security.capability", "-v", "0x0100000200200000000000000000000000000000", join(tree, "usr-capable")]);
    execFileSync("setfattr", ["-h", "-n", "trusted.note", "-v", "on a link", join(tree, "etc", "rc3.d")]);
    for (const sudo of [false, "always"] as const) {
      const live = await openSshGuest(url(), { identity, knownHosts, root: tree, sudo });
      const local = await openDirectoryGuest(tree);
      const walk = async (guest: GuestFS, dir: string, out: Map<string, unknown>) => {
        for (const name of (await guest.readdir(dir)).sort()) {
          const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
          const { atimeNs: _atime, ...st } = await guest.lstat(path);
          out.set(path, { st, target: st.type === "symlink" ? await guest.readlink(path) : undefined, xattrs: await guest.xattrs(path) });
          if (st.type === "directory") await walk(guest, path, out);
        }
        return out;
      };
      const remote = await walk(live, "/", new Map());
      const here = await walk(local, "/", new Map());
      expect(remote.size).toBeGreaterThan(50);
      expect(remote).toEqual(here);
      expect((remote.get("/dev-null") as { st: GuestStat }).st).toMatchObject({ type: "chardev", rdevMajor: 1, rdevMinor: 3 });
      expect((remote.get("/usr-capable") as { st: GuestStat }).st.nlink).toBe(2);
      expect(Buffer.from((remote.get("/usr-capable") as { xattrs: Map<string, Uint8Array> }).xattrs.get("security.capability")!).toString("hex")).toBe("0100000200200000000000000000000000000000");
      expect((remote.get("/etc/rc3.d") as { xattrs: Map<string, Uint8Array> }).xattrs.get("trusted.note")).toEqual(new TextEncoder().encode("on a link"));
      await live.close();
      await local.close();
    }
  });

  it("streams files through SFTP and through sudo, the same bytes at any offset", async () => {
    execFileSync("mkfifo", [join(tree, "fifo")]);
    const viaSftp = await openSshGuest(url(), { identity, knownHosts, root: tree });
    const viaSudo = await openSshGuest(url(), { identity, knownHosts, root: tree, sudo: "always" });
    const path = "/var/lib/rpm/Packages";
    const whole = await viaSftp.readFile(path);
    for (const guest of [viaSftp, viaSudo]) {
      const file = await guest.openFile(path);
      expect(file.size).toBe(whole.length);
      for (const [offset, length] of [[0, 10], [4093, 9000], [whole.length - 5, 100]] as const) {
        const buffer = new Uint8Array(length);
        const n = await file.read(buffer, offset);
        expect(n).toBe(Math.min(length, whole.length - offset));
        expect(buffer.subarray(0, n)).toEqual(whole.subarray(offset, offset + n));
      }
      const ranges = [];
      for await (const r of file.dataRanges()) ranges.push(r);
      expect(ranges).toEqual([{ offset: 0, length: whole.length }]);
      await file.close();
      await expect(guest.openFile("/etc")).rejects.toMatchObject({ code: "INSPECT_IS_A_DIRECTORY" });
      // A FIFO nobody writes: refused from its type, never opened (SFTP's open would wait forever).
      await expect(guest.readFile("/fifo")).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
    }
    await viaSftp.close();
    await viaSudo.close();
  });

  it("connectSsh: commands with streamed input and their exit codes, atomic SFTP writes", async () => {
    const ssh = await connectSsh(url(), { identity, knownHosts });
    async function* pieces() {
      for (let i = 0; i < 64; i++) yield new Uint8Array(64 * 1024).fill(i);
    }
    const counted = await ssh.exec("wc -c", { stdin: pieces() });
    expect(counted).toMatchObject({ exitCode: 0, stderr: "" });
    expect(new TextDecoder().decode(counted.stdout).trim()).toBe(String(64 * 64 * 1024));
    expect(await ssh.exec("echo oops >&2; exit 7")).toMatchObject({ exitCode: 7, stderr: "oops\n" });
    const streamed: Uint8Array[] = [];
    await ssh.exec("head -c 300000 /dev/zero", { onStdout: (c) => void streamed.push(c) });
    expect(streamed.reduce((n, c) => n + c.length, 0)).toBe(300000);
    await expect(ssh.exec("head -c 2000 /dev/zero", { maxOutputBytes: 1000 })).rejects.toMatchObject({ code: "INSPECT_TOO_LARGE" });
    const sftp = await ssh.sftp();
    const target = join(work, "uploaded.bin");
    await sftp.writeFile(target, pieces());
    expect(readFileSync(target).length).toBe(64 * 64 * 1024);
    const controller = new AbortController();
    async function* thenAbort() {
      yield new Uint8Array(10);
      controller.abort(new Error("stop"));
      yield new Uint8Array(10);
    }
    await expect(sftp.writeFile(join(work, "aborted.bin"), thenAbort(), { signal: controller.signal })).rejects.toThrow("stop");
    expect(readdirSync(work).filter((n) => n.includes("aborted") || n.includes(".partial-"))).toEqual([]);
    await sftp.close();
    await ssh.close();
    await expect(ssh.exec("true")).rejects.toMatchObject({ code: "INSPECT_CLOSED" });
  });

  it("accepts a pinned SHA256 fingerprint of the right key", async () => {
    const fingerprint = sha256Fingerprint(publicKeyBlob(keyFile("host_key.pub")));
    const guest = await openSshGuest(url(), { identity, fingerprint, root: tree });
    expect(new TextDecoder().decode(await guest.readFile("/etc/sysconfig/network"))).toContain("HOSTNAME=");
    // Links resolve in guest space even over SFTP: /etc/rc3.d -> rc.d/rc3.d.
    expect((await guest.readdir("/etc/rc3.d")).length).toBeGreaterThan(0);
    await guest.close();
  });

  it("refuses a wrong host key: known_hosts mismatch, wrong fingerprint, unknown host", async () => {
    const other = readFileSync(keyFile("other_host_key.pub"), "utf8").trim().split(/\s+/);
    const wrongKnownHosts = join(work, "known_hosts_wrong");
    writeFileSync(wrongKnownHosts, `[127.0.0.1]:${port} ${other[0]} ${other[1]}\n`);
    expect(await code(openSshGuest(url(), { identity, knownHosts: wrongKnownHosts, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
    const wrongFingerprint = sha256Fingerprint(publicKeyBlob(keyFile("other_host_key.pub")));
    expect(await code(openSshGuest(url(), { identity, fingerprint: wrongFingerprint, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
    const empty = join(work, "known_hosts_empty");
    writeFileSync(empty, "");
    expect(await code(openSshGuest(url(), { identity, knownHosts: empty, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
    expect(await code(openSshGuest(url(), { identity, root: tree }))).toBe("INSPECT_SSH_HOST_KEY");
  });

  it("reports a refused key as INSPECT_SSH", async () => {
    expect(await code(openSshGuest(url(), { identity: keyFile("other_host_key"), knownHosts, root: tree }))).toBe("INSPECT_SSH");
  });
});
