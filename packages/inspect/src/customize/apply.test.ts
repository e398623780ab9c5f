// Each operation on small guests held by the in-memory STAND-IN filesystem (see
// memory-guest-test-support.ts): semantics as virt-customize's options, reports, refusals. The same
// operations on real images, judged by fsck and the kernel, are in customize.int.test.ts.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync, linkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import { applyOperations } from "./apply.js";
import { sha512Crypt } from "./crypt.js";
import { centos6, debian12, memoryGuest, text, type GuestSpec } from "./memory-guest-test-support.js";
import type { CustomizeOperation } from "./operations.js";

const host = mkdtempSync(join(tmpdir(), "leapp-customize-unit-"));
afterAll(() => rmSync(host, { recursive: true, force: true }));

async function run(spec: GuestSpec, operations: CustomizeOperation[], options: { dryRun?: boolean } = {}) {
  const { guest, filesystems } = await memoryGuest(spec);
  const result = await applyOperations(guest, operations, options);
  return { guest, filesystems, result, read: async (p: string) => text(await guest.readFile(p)) };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InspectError) return err.code;
    throw err;
  }
  return "succeeded";
}

const withVar: GuestSpec = { ...centos6, mounts: { "/var": "/dev/sda3" } };

describe("file operations", () => {
  it("write creates or replaces, through symlinks, keeping an existing file's mode", async () => {
    const { read, guest, result } = await run({ ...centos6, links: { ...centos6.links, "/etc/motd-link": "motd" } }, [
      { op: "write", path: "/etc/motd", content: "hello\n" },
      { op: "write", path: "/etc/motd-link", content: "through the link\n" },
      { op: "write", path: "/etc/shadow", content: "root:*:1::::::\n" },
    ]);
    expect(await read("/etc/motd")).toBe("through the link\n");
    expect((await guest.lstat("/etc/motd-link")).type).toBe("symlink");
    expect((await guest.stat("/etc/shadow")).mode).toBe(0);
    expect(result.operations.map((o) => [o.op, o.path, o.filesystem])).toEqual([
      ["write", "/etc/motd", "/dev/sda1"],
      ["write", "/etc/motd-link", "/dev/sda1"],
      ["write", "/etc/shadow", "/dev/sda1"],
    ]);
  });

  it("append-line adds a missing final newline, keeps CRLF files CRLF, creates missing files", async () => {
    const { read } = await run({ ...centos6, files: { ...centos6.files, "/etc/a": "no newline", "/etc/crlf": "one\r\ntwo\r\n", "/etc/empty": "" } }, [
      { op: "append-line", path: "/etc/a", line: "next" },
      { op: "append-line", path: "/etc/crlf", line: "three" },
      { op: "append-line", path: "/etc/empty", line: "first" },
      { op: "append-line", path: "/etc/new", line: "made" },
    ]);
    expect(await read("/etc/a")).toBe("no newline\nnext\n");
    expect(await read("/etc/crlf")).toBe("one\r\ntwo\r\nthree\r\n");
    expect(await read("/etc/empty")).toBe("first\n");
    expect(await read("/etc/new")).toBe("made\n");
    await expect(run(centos6, [{ op: "append-line", path: "/etc/x", line: "a\nb" }])).rejects.toMatchObject({ code: "INSPECT_INVALID" });
  });

  it("mkdir is mkdir -p; touch creates or updates times; truncate empties", async () => {
    const { guest } = await run(centos6, [
      { op: "mkdir", path: "/opt/app/conf.d" },
      { op: "mkdir", path: "/opt/app" },
      { op: "touch", path: "/opt/app/flag" },
      { op: "truncate", path: "/etc/hosts" },
    ]);
    expect((await guest.stat("/opt/app/conf.d")).type).toBe("directory");
    expect((await guest.stat("/opt/app/flag")).size).toBe(0);
    expect((await guest.stat("/etc/hosts")).size).toBe(0);
    expect(await code(run(centos6, [{ op: "mkdir", path: "/etc/hosts/x" }]))).toBe("INSPECT_NOT_A_DIRECTORY");
    expect(await code(run(centos6, [{ op: "touch", path: "/etc" }]))).toBe("INSPECT_INVALID");
    expect(await code(run(centos6, [{ op: "truncate", path: "/etc/nothing" }]))).toBe("INSPECT_NOT_FOUND");
  });

  it("delete is rm -rf of a glob's matches; nothing matched is no error", async () => {
    const spec: GuestSpec = { ...centos6, files: { ...centos6.files, "/var/log/a.log": "a", "/var/log/b.log": "b", "/var/log/keep.txt": "k", "/var/log/.hidden.log": "h", "/var/log/sub/x": "x" } };
    const { guest, result } = await run(spec, [
      { op: "delete", path: "/var/log/*.log" },
      { op: "delete", path: "/var/log/sub" },
      { op: "delete", path: "/nothing/here*" },
    ]);
    expect((await guest.readdir("/var/log")).sort()).toEqual([".hidden.log", "keep.txt"]);
    expect(result.operations[0]!.targets.map((t) => t.path)).toEqual(["/var/log/a.log", "/var/log/b.log"]);
    expect(result.operations[2]!.targets).toEqual([]);
  });

  it("delete refuses / and mountpoints (and what holds one) before removing anything", async () => {
    for (const path of ["/", "/var", "/etc/..", "/etc/."]) {
      const { guest } = await memoryGuest(withVar);
      expect(await code(applyOperations(guest, [{ op: "delete", path }])), path).toMatch(/INSPECT_INVALID/);
      expect(await guest.exists("/etc/hosts")).toBe(true);
    }
    const { guest } = await memoryGuest({ ...withVar, mounts: { "/srv/data": "/dev/sdb1" } });
    await guest.writeFile("/srv/data/file", new Uint8Array(1));
    expect(await code(applyOperations(guest, [{ op: "delete", path: "/srv" }]))).toBe("INSPECT_INVALID");
    expect(await guest.exists("/srv/data/file")).toBe(true);
  });

  it("move renames, moves into an existing directory, and crosses filesystems by copy and delete", async () => {
    const spec: GuestSpec = { ...withVar, files: { ...withVar.files, "/etc/app/a.conf": { content: "A", mode: 0o600, uid: 500, gid: 500 }, "/etc/app/sub/b": "B" }, links: { ...withVar.links, "/etc/app/l": "a.conf" } };
    const { guest, filesystems, result } = await run(spec, [
      { op: "move", from: "/etc/hosts", to: "/etc/hosts.orig" },
      { op: "move", from: "/etc/hosts.orig", to: "/root" },
      { op: "move", from: "/etc/app", to: "/var/app" },
    ]);
    expect(await guest.exists("/root/hosts.orig")).toBe(true);
    expect(await guest.exists("/etc/app")).toBe(false);
    const moved = await guest.lstat("/var/app/a.conf");
    expect([moved.mode, moved.uid, moved.gid]).toEqual([0o600, 500, 500]);
    expect(await guest.readlink("/var/app/l")).toBe("a.conf");
    expect(text(await filesystems.get("/var")!.readFile("/app/sub/b"))).toBe("B");
    expect(result.operations[2]!.targets.map((t) => [t.path, t.filesystem])).toEqual([
      ["/var/app", "/dev/sda3"],
      ["/etc/app", "/dev/sda1"],
    ]);
  });

  it("link is ln -sf: replaces files and links, goes into directories, refuses to replace one", async () => {
    const { guest } = await run(centos6, [
      { op: "link", target: "/usr/share/zoneinfo/UTC", links: ["/etc/localtime", "/root", "/etc/tz"] },
      { op: "link", target: "../x", links: ["/etc/hosts"] },
    ]);
    expect(await guest.readlink("/etc/localtime")).toBe("/usr/share/zoneinfo/UTC");
    expect(await guest.readlink("/root/UTC")).toBe("/usr/share/zoneinfo/UTC");
    expect(await guest.readlink("/etc/tz")).toBe("/usr/share/zoneinfo/UTC");
    expect(await guest.readlink("/etc/hosts")).toBe("../x");
    const { guest: g2 } = await memoryGuest(centos6);
    await g2.mkdir("/root/UTC");
    expect(await code(applyOperations(g2, [{ op: "link", target: "/usr/share/zoneinfo/UTC", links: ["/root"] }]))).toBe("INSPECT_IS_A_DIRECTORY");
  });

  it("chmod and chown follow links; bad modes and ids are refused before anything runs", async () => {
    const { guest } = await run(centos6, [
      { op: "chmod", mode: 0o4750, path: "/etc/hosts" },
      { op: "chown", uid: 500, gid: 4_000_000_000, path: "/etc/hosts" },
    ]);
    const st = await guest.stat("/etc/hosts");
    expect([st.mode, st.uid, st.gid]).toEqual([0o4750, 500, 4_000_000_000]);
    const { guest: g2 } = await memoryGuest(centos6);
    for (const bad of [{ op: "chmod", mode: 0o10000, path: "/etc/hosts" }, { op: "chown", uid: -1, gid: 0, path: "/etc/hosts" }, { op: "write", path: "relative", content: "" }] as CustomizeOperation[]) {
      expect(await code(applyOperations(g2, [{ op: "write", path: "/etc/first", content: "x" }, bad]))).toMatch(/INSPECT_INVALID/);
    }
    expect(await g2.exists("/etc/first")).toBe(false);
  });

  it("edit substitutes line by line, in place, and refuses what is not a file", async () => {
    const { read, guest } = await run({ ...centos6, files: { ...centos6.files, "/etc/ssh/sshd_config": { content: "#PermitRootLogin yes\nPort 22\nPort 22\n", mode: 0o600 } } }, [
      { op: "edit", path: "/etc/ssh/sshd_config", expression: "s/^#?PermitRootLogin .*$/PermitRootLogin no/" },
      { op: "edit", path: "/etc/ssh/sshd_config", expression: "s|22|2222|g" },
    ]);
    expect(await read("/etc/ssh/sshd_config")).toBe("PermitRootLogin no\nPort 2222\nPort 2222\n");
    expect((await guest.stat("/etc/ssh/sshd_config")).mode).toBe(0o600);
    expect(await code(run(centos6, [{ op: "edit", path: "/etc", expression: "s/a/b/" }]))).toBe("INSPECT_INVALID");
    expect(await code(run(centos6, [{ op: "edit", path: "/etc/hosts", expression: "y/a/b/" }]))).toBe("INSPECT_INVALID");
  });
});

describe("host files", () => {
  it("upload copies content, mode and owner, into a directory under the host name", async () => {
    const file = join(host, "tool.sh");
    writeFileSync(file, "#!/bin/sh\necho hi\n");
    chmodSync(file, 0o750);
    const { guest, read } = await run(centos6, [
      { op: "upload", hostFile: file, path: "/root" },
      { op: "upload", hostFile: file, path: "/etc/renamed.sh" },
    ]);
    expect(await read("/root/tool.sh")).toBe("#!/bin/sh\necho hi\n");
    expect((await guest.stat("/etc/renamed.sh")).mode).toBe(0o750);
    expect(await code(run(centos6, [{ op: "upload", hostFile: join(host, "missing"), path: "/root" }]))).toBe("INSPECT_NOT_FOUND");
  });

  it("copy-in copies a tree as tar would: modes, links, hard links, times; merges into existing directories", async () => {
    const tree = join(host, "site");
    mkdirSync(join(tree, "conf"), { recursive: true });
    writeFileSync(join(tree, "conf", "app.conf"), "x=1\n");
    writeFileSync(join(tree, "big.bin"), Buffer.alloc(3 * 1024 * 1024 + 5, 7));
    linkSync(join(tree, "big.bin"), join(tree, "big-again.bin"));
    symlinkSync("conf/app.conf", join(tree, "current"));
    chmodSync(join(tree, "conf"), 0o750);
    const events: number[] = [];
    const { guest } = await memoryGuest(centos6);
    await guest.mkdir("/srv");
    await guest.mkdir("/srv/site");
    await guest.writeFile("/srv/site/kept", new Uint8Array(1));
    await applyOperations(guest, [{ op: "copy-in", hostPath: tree, guestDir: "/srv" }], { onProgress: (e) => e.phase === "copy-in" && events.push(e.done) });
    expect((await guest.readdir("/srv/site")).sort()).toEqual(["big-again.bin", "big.bin", "conf", "current", "kept"]);
    expect((await guest.stat("/srv/site/conf")).mode).toBe(0o750);
    expect(await guest.readlink("/srv/site/current")).toBe("conf/app.conf");
    const [a, b] = [await guest.lstat("/srv/site/big.bin"), await guest.lstat("/srv/site/big-again.bin")];
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
    expect(Buffer.from(await guest.readFile("/srv/site/big.bin")).equals(Buffer.alloc(3 * 1024 * 1024 + 5, 7))).toBe(true);
    expect(events.at(-1)).toBe(3 * 1024 * 1024 + 5 + 4);
    expect(await code(applyOperations(guest, [{ op: "copy-in", hostPath: tree, guestDir: "/nonexistent" }]))).toBe("INSPECT_NOT_FOUND");
  });

  it("stops a long copy-in when the signal aborts, with the signal's reason", async () => {
    const tree = join(host, "many");
    mkdirSync(tree);
    for (let i = 0; i < 50; i++) writeFileSync(join(tree, `f${i}`), `${i}`);
    const controller = new AbortController();
    const { guest } = await memoryGuest(centos6);
    const reason = new Error("stop");
    const done = applyOperations(guest, [{ op: "copy-in", hostPath: tree, guestDir: "/root" }], {
      signal: controller.signal,
      onProgress: (e) => e.phase === "copy-in" && e.done > 10 && controller.abort(reason),
    });
    await expect(done).rejects.toBe(reason);
  });
});

describe("system operations", () => {
  it("hostname on RHEL 6: HOSTNAME in /etc/sysconfig/network, nothing else made", async () => {
    const { read, guest, result } = await run(centos6, [{ op: "hostname", hostname: "db02.example.com" }]);
    expect(await read("/etc/sysconfig/network")).toBe("NETWORKING=yes\nHOSTNAME=db02.example.com\n");
    expect(await guest.exists("/etc/hostname")).toBe(false);
    expect(result.operations[0]!.targets.map((t) => t.path)).toEqual(["/etc/sysconfig/network"]);
  });

  it("hostname on Debian: /etc/hostname, and the old name replaced in /etc/hosts", async () => {
    const { read } = await run(debian12, [{ op: "hostname", hostname: "web.example.net" }]);
    expect(await read("/etc/hostname")).toBe("web.example.net\n");
    expect(await read("/etc/hosts")).toBe("127.0.0.1\tlocalhost\n127.0.1.1\told-name.example.org web.example.net\n# old-name in a comment\n::1 localhost ip6-localhost\n");
  });

  it("hostname on RHEL 7+: /etc/hostname and PRETTY_HOSTNAME", async () => {
    const el7: GuestSpec = { files: { "/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n", "/etc/hostname": "old\n", "/etc/machine-info": "PRETTY_HOSTNAME=old\nDEPLOYMENT=x\n" } };
    const { read } = await run(el7, [{ op: "hostname", hostname: "new7" }]);
    expect(await read("/etc/hostname")).toBe("new7\n");
    expect(await read("/etc/machine-info")).toBe("DEPLOYMENT=x\nPRETTY_HOSTNAME=new7\n");
    await expect(run(el7, [{ op: "hostname", hostname: "bad name\n" }])).rejects.toMatchObject({ code: "INSPECT_INVALID" });
  });

  it("timezone: /etc/localtime links to the zone, plus /etc/sysconfig/clock (RHEL 6) or /etc/timezone (Debian)", async () => {
    const el6 = await run(centos6, [{ op: "timezone", timezone: "Europe/London" }]);
    expect(await el6.guest.readlink("/etc/localtime")).toBe("/usr/share/zoneinfo/Europe/London");
    expect(await el6.read("/etc/sysconfig/clock")).toBe('ZONE="Europe/London"\n');
    const deb = await run(debian12, [{ op: "timezone", timezone: "Europe/Paris" }]);
    expect(await deb.read("/etc/timezone")).toBe("Europe/Paris\n");
    expect(await deb.read("/etc/localtime")).toBe("TZif2 paris");
    expect(await code(run(centos6, [{ op: "timezone", timezone: "Mars/Olympus" }]))).toBe("INSPECT_NOT_FOUND");
    expect(await code(run(centos6, [{ op: "timezone", timezone: "../../etc/shadow" }]))).toBe("INSPECT_INVALID");
  });

  it("root-password: a SHA-512 crypt hash in root's shadow entry, the file's mode and owner kept; disabled is *", async () => {
    const { read, guest } = await run(debian12, [{ op: "root-password", password: "s3cret:pw" }]);
    const entry = (await read("/etc/shadow")).split("\n")[0]!.split(":");
    expect(entry[0]).toBe("root");
    const salt = entry[1]!.split("$")[2]!;
    expect(entry[1]).toBe(sha512Crypt("s3cret:pw", salt));
    expect(entry.slice(2).join(":")).toBe("19000:0:99999:7:::");
    const st = await guest.stat("/etc/shadow");
    expect([st.mode, st.gid]).toEqual([0o640, 42]);
    const off = await run(centos6, [{ op: "root-password", password: null }]);
    expect(await off.read("/etc/shadow")).toBe("root:*:17000:0:99999:7:::\nadmin:!!:17000:0:99999:7:::\n");
  });

  it("ssh-inject: ~/.ssh (0700) and authorized_keys (0600) owned by the user, the key appended once", async () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEx admin@laptop";
    const { guest, read, result } = await run(centos6, [
      { op: "ssh-inject", user: "admin", key: `${key}\n` },
      { op: "ssh-inject", user: "admin", key },
    ]);
    expect(await read("/home/admin/.ssh/authorized_keys")).toBe(`${key}\n`);
    const dir = await guest.stat("/home/admin/.ssh");
    const file = await guest.stat("/home/admin/.ssh/authorized_keys");
    expect([dir.mode, dir.uid, dir.gid, file.mode, file.uid]).toEqual([0o700, 500, 500, 0o600, 500]);
    expect(result.operations[0]!.path).toBe("/home/admin/.ssh/authorized_keys");
    expect(await code(run(centos6, [{ op: "ssh-inject", user: "nobody", key }]))).toBe("INSPECT_NOT_FOUND");
  });

  it("asks an SELinux guest to relabel at next boot", async () => {
    const selinux: GuestSpec = { ...centos6, files: { ...centos6.files, "/usr/sbin/load_policy": "ELF", "/etc/selinux/config": "SELINUX=enforcing\n" } };
    const { guest, result } = await run(selinux, [{ op: "touch", path: "/etc/x" }]);
    expect(await guest.exists("/.autorelabel")).toBe(true);
    expect(result.operations.at(-1)!.op).toBe("selinux-relabel");
    const without = await run(centos6, [{ op: "touch", path: "/etc/x" }]);
    expect(await without.guest.exists("/.autorelabel")).toBe(false);
  });
});

describe("dry run", () => {
  it("reports every operation's filesystem, changes nothing, and sees past directories yet to be made", async () => {
    const { guest, result } = await run(withVar, [
      { op: "mkdir", path: "/var/lib/app" },
      { op: "write", path: "/var/lib/app/conf", content: "x" },
      { op: "hostname", hostname: "new" },
      { op: "delete", path: "/etc/hosts" },
    ], { dryRun: true });
    expect(result.operations.map((o) => [o.op, o.path, o.filesystem, o.mountpoint])).toEqual([
      ["mkdir", "/var/lib/app", "/dev/sda3", "/var"],
      ["write", "/var/lib/app/conf", "/dev/sda3", "/var"],
      ["hostname", "/etc/sysconfig/network", "/dev/sda1", "/"],
      ["delete", "/etc/hosts", "/dev/sda1", "/"],
    ]);
    expect(await guest.exists("/var/lib")).toBe(false);
    expect(await guest.exists("/etc/hosts")).toBe(true);
    expect(text(await guest.readFile("/etc/sysconfig/network"))).toContain("web01");
  });
});
