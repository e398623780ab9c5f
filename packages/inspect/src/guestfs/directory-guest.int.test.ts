// The directory source on a live tree: a python3 loop swaps the guest's /etc for links to the
// host's files while the guest is read — one call at a time and in bulk (`list`, `readFiles`) —
// and no host file may ever be read; every GuestStat field against stat(1), the bulk listing
// against the calls per name, xattrs set by setfattr (security.capability too), holes from
// SEEK_DATA, and the addon that reads them must have been built (a build without it fails here).
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync, openSync, closeSync, ftruncateSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { InspectError } from "../errors.js";
import { openDirectoryGuest } from "./directory-guest.js";
import { hostAddon } from "./host-addon.js";

const work = mkdtempSync(join(tmpdir(), "leapp-dirguest-int-"));
const hostSecret = "HOST-SECRET-FILE";
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the hostfs addon", () => {
  it("was built with the package (CI fails here when it was not)", () => {
    expect(hostAddon().why).toBe("");
    expect(hostAddon().addon).not.toBeNull();
  });
});

// Both resolvers: the kernel's (openat2 through the addon) and our descriptor walk (without it).
describe.each([
  ["the kernel resolving in the tree (openat2)", "1"],
  ["the descriptor walk (no addon)", "0"],
])("openDirectoryGuest while the tree changes under it: %s", (_name, native) => {
  let flipper: ChildProcess | undefined;
  afterAll(() => {
    flipper?.kill("SIGKILL");
    vi.unstubAllEnvs();
  });

  it("never reads a host file, whatever /etc is swapped for, and fails only with typed errors", async () => {
    vi.stubEnv("LEAPP_INSPECT_NATIVE", native);
    const base = join(work, `race-${native}`);
    const root = join(base, "root");
    mkdirSync(join(base, "hostetc"), { recursive: true });
    writeFileSync(join(base, "hostetc", "secret"), hostSecret);
    writeFileSync(join(base, "hostetc", "host-only-name"), hostSecret);
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc", "secret"), "guest");
    // Two links a hostile container could put there: the host directory by absolute and by relative path.
    symlinkSync(join(base, "hostetc"), join(root, "etc.abs"));
    symlinkSync("../hostetc", join(root, "etc.rel"));
    // os.rename swaps the names in a tight loop: /etc is now the guest's directory, now a link
    // to the host's directory, now briefly absent.
    const script = `
import os, sys
os.chdir(sys.argv[1])
while True:
    for link in ("etc.abs", "etc.rel"):
        os.rename("etc", "etc.dir"); os.rename(link, "etc"); os.rename("etc", link); os.rename("etc.dir", "etc")
`;
    flipper = spawn("python3", ["-c", script, root], { stdio: "ignore" });
    const guest = await openDirectoryGuest(root);
    const seen = new Map<string, number>();
    const note = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);
    const deadline = Date.now() + 2500;
    let rounds = 0;
    while (Date.now() < deadline || rounds < 200) {
      rounds++;
      const bulk =
        native === "1"
          ? [
              guest.list!("/etc", { xattrs: true }).then((entries) => entries.map((e) => e.name)),
              (async () => {
                const buffer = new Uint8Array(64);
                const [got] = await guest.readFiles!([{ path: "/etc/secret", buffer }]);
                if (typeof got !== "number") throw got;
                return buffer.subarray(0, got);
              })(),
            ]
          : [];
      const results = await Promise.allSettled([guest.readFile("/etc/secret"), guest.readdir("/etc"), guest.stat("/etc/secret"), guest.lstat("/etc"), ...(native === "1" ? [guest.xattrs("/etc/secret")] : []), ...bulk]);
      for (const r of results) {
        if (r.status === "rejected") {
          if (!(r.reason instanceof InspectError)) throw r.reason;
          note(r.reason.code);
          continue;
        }
        const v = r.value;
        if (v instanceof Uint8Array) {
          expect(new TextDecoder().decode(v)).toBe("guest");
          note("read guest");
        } else if (Array.isArray(v)) {
          expect(v).not.toContain("host-only-name");
          note("listed");
        } else if (v instanceof Map) note("xattrs");
        else {
          expect(v.size === 5 || v.type === "symlink" || v.type === "directory").toBe(true);
          note(`stat ${v.type}`);
        }
      }
    }
    flipper.kill("SIGKILL");
    await guest.close();
    // The loop did race: the guest's file was read, and /etc was seen as a link at times.
    expect(seen.get("read guest")).toBeGreaterThan(0);
    expect(seen.get("stat symlink") ?? 0).toBeGreaterThan(0);
    for (const code of seen.keys()) expect(["read guest", "listed", "xattrs", "stat file", "stat directory", "stat symlink", "INSPECT_NOT_FOUND", "INSPECT_CHANGED", "INSPECT_NOT_A_DIRECTORY"]).toContain(code);
  }, 30_000);
});

describe("openDirectoryGuest: what a stat, xattrs and a file's ranges hold", () => {
  let root: string;
  beforeAll(() => {
    root = join(work, "attrs");
    mkdirSync(join(root, "bin"), { recursive: true });
    writeFileSync(join(root, "bin", "ping"), "binary");
    linkSync(join(root, "bin", "ping"), join(root, "bin", "ping-hardlink"));
    execFileSync("setfattr", ["-n", "security.capability", "-v", "0x0100000200200000000000000000000000000000", join(root, "bin", "ping")]);
    execFileSync("setfattr", ["-n", "user.note", "-v", "guest value", join(root, "bin", "ping")]);
    symlinkSync("ping", join(root, "bin", "link"));
    execFileSync("mknod", [join(root, "null"), "c", "1", "3"]);
    execFileSync("touch", ["-h", "-d", "2021-03-04 05:06:07.123456789 UTC", join(root, "bin", "link")]);
    // 8 MiB with data at 4 MiB only: SEEK_DATA finds it.
    const fd = openSync(join(root, "sparse"), "w");
    ftruncateSync(fd, 8 << 20);
    writeSync(fd, Buffer.alloc(65536, 7), 0, 65536, 4 << 20);
    closeSync(fd);
  });

  /** stat(1)'s view of a path, without following links. */
  function statOf(path: string) {
    const [ino, nlink, dev, major, minor, atime, mtime, ctime, mode, uid, gid, size] = execFileSync("stat", ["-c", "%i %h %d %t %T %.9X %.9Y %.9Z %a %u %g %s", path], { encoding: "utf8" }).trim().split(" ");
    const ns = (s: string) => BigInt(s.replace(".", ""));
    return { ino: Number(ino), nlink: Number(nlink), dev: Number(dev), rdevMajor: parseInt(major!, 16), rdevMinor: parseInt(minor!, 16), atimeNs: ns(atime!), mtimeNs: ns(mtime!), ctimeNs: ns(ctime!), mode: parseInt(mode!, 8), uid: Number(uid), gid: Number(gid), size: Number(size) };
  }

  it("fills every GuestStat field as stat(1) prints it: inode, links, devices, nanoseconds", async () => {
    const guest = await openDirectoryGuest(root);
    for (const path of ["/bin/ping", "/bin/ping-hardlink", "/bin/link", "/null", "/bin", "/"]) {
      const st = await guest.lstat(path);
      expect(st, path).toMatchObject(statOf(join(root, path)));
    }
    expect((await guest.lstat("/bin/ping")).ino).toBe((await guest.lstat("/bin/ping-hardlink")).ino);
    expect((await guest.lstat("/bin/ping")).nlink).toBe(2);
    expect(await guest.lstat("/null")).toMatchObject({ type: "chardev", rdevMajor: 1, rdevMinor: 3 });
    expect((await guest.lstat("/bin/link")).mtimeNs).toBe(1614834367123456789n);
    await guest.close();
  });

  it("lists a directory in one call exactly as lstat, readlink and xattrs tell each name", async () => {
    const guest = await openDirectoryGuest(root);
    for (const dir of ["/", "/bin"]) {
      const listed = await guest.list!(dir, { xattrs: true });
      expect(listed.map((e) => e.name).sort()).toEqual((await guest.readdir(dir)).sort());
      for (const entry of listed) {
        const path = `${dir === "/" ? "" : dir}/${entry.name}`;
        expect(entry.error, path).toBeUndefined();
        // Reading a link's target updates its atime: that one field may have moved on since.
        const { atimeNs: _listed, ...listed } = entry.stat!;
        const { atimeNs: _now, ...now } = await guest.lstat(path);
        expect(listed, path).toEqual(now);
        const { atimeNs: _stat, ...stat } = statOf(join(root, path));
        expect(listed, path).toMatchObject(stat);
        expect(entry.linkTarget, path).toEqual(entry.stat!.type === "symlink" ? await guest.readlink(path) : undefined);
        const xattrs = await guest.xattrs(path);
        expect(entry.xattrs ?? new Map(), path).toEqual(xattrs);
      }
    }
    expect((await guest.list!("/bin")).every((e) => e.xattrs === undefined)).toBe(true);
    await expect(guest.list!("/bin/ping")).rejects.toMatchObject({ code: "INSPECT_NOT_A_DIRECTORY" });
    await expect(guest.list!("/missing")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    await guest.close();
    await expect(guest.list!("/")).rejects.toMatchObject({ code: "INSPECT_CLOSED" });
  });

  it("reads many files in one call, each up to its buffer, a bad one never spoiling the rest", async () => {
    const guest = await openDirectoryGuest(root);
    const buffers = [new Uint8Array(6), new Uint8Array(3), new Uint8Array(20), new Uint8Array(4), new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)];
    const paths = ["/bin/ping", "/bin/ping", "/bin/link", "/bin", "/null", "/missing", "/bin/../../bin/ping"];
    const results = await guest.readFiles!(paths.map((path, i) => ({ path, buffer: buffers[i]! })));
    expect(results.slice(0, 3)).toEqual([6, 3, 6]);
    expect(new TextDecoder().decode(buffers[0])).toBe("binary");
    expect(new TextDecoder().decode(buffers[1])).toBe("bin");
    expect(new TextDecoder().decode(buffers[2]!.subarray(0, 6))).toBe("binary"); // the link followed, in the guest
    expect(results[3]).toMatchObject({ code: "INSPECT_IS_A_DIRECTORY" });
    expect(results[4]).toMatchObject({ code: "INSPECT_UNSUPPORTED" }); // a device is never opened
    expect(results[5]).toMatchObject({ code: "INSPECT_NOT_FOUND" });
    expect(results[6]).toBe(4); // `..` stops at the guest's /
    // Closing the guest while a batch is on the pool leaves the batch its own descriptor.
    const pending = guest.readFiles!([{ path: "/bin/ping", buffer: new Uint8Array(6) }]);
    await guest.close();
    expect(await pending).toEqual([6]);
    await expect(guest.readFiles!([{ path: "/bin/ping", buffer: new Uint8Array(6) }])).rejects.toMatchObject({ code: "INSPECT_CLOSED" });
  });

  it("reads xattrs of the file itself, never of a link's target", async () => {
    const guest = await openDirectoryGuest(root);
    const attrs = await guest.xattrs("/bin/ping");
    expect([...attrs.keys()].sort()).toEqual(["security.capability", "user.note"]);
    expect(Buffer.from(attrs.get("security.capability")!).toString("hex")).toBe("0100000200200000000000000000000000000000");
    expect(new TextDecoder().decode(attrs.get("user.note"))).toBe("guest value");
    expect(await guest.xattrs("/bin/link")).toEqual(new Map());
    expect(await guest.xattrs("/bin")).toEqual(new Map());
    await expect(guest.xattrs("/missing")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    await guest.close();
  });

  it("says clearly that xattrs need the addon when it is switched off", async () => {
    vi.stubEnv("LEAPP_INSPECT_NATIVE", "0");
    try {
      const guest = await openDirectoryGuest(root);
      await expect(guest.xattrs("/bin/ping")).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED", message: expect.stringContaining("LEAPP_INSPECT_NATIVE=0") });
      await guest.close();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("maps a sparse file's data with SEEK_DATA and streams it", async () => {
    const guest = await openDirectoryGuest(root);
    const file = await guest.openFile("/sparse");
    const ranges = [];
    for await (const r of file.dataRanges()) ranges.push(r);
    expect(ranges).toEqual([{ offset: 4 << 20, length: 65536 }]);
    const buf = new Uint8Array(16);
    expect(await file.read(buf, (4 << 20) - 8)).toBe(16);
    expect([...buf]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7]);
    expect(await file.read(new Uint8Array(10), (8 << 20) - 4)).toBe(4);
    await file.close();
    await expect(file.read(buf, 0)).rejects.toMatchObject({ code: "INSPECT_CLOSED" });
    await expect(guest.openFile("/null")).rejects.toMatchObject({ code: "INSPECT_UNSUPPORTED" });
    await expect(guest.openFile("/bin")).rejects.toMatchObject({ code: "INSPECT_IS_A_DIRECTORY" });
    expect(new TextDecoder().decode(await (async () => {
      const f = await guest.openFile("/bin/link");
      const b = new Uint8Array(f.size);
      await f.read(b, 0);
      await f.close();
      return b;
    })())).toBe("binary");
    await guest.close();
  });
});
