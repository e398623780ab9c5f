// The directory source against a hostile tree made here: links that point outside the root,
// loops, files where directories should be. Nothing may be read from the host outside the tree.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDirectoryGuest } from "./directory-guest.js";
import { InspectError } from "../errors.js";
import type { GuestFS } from "./guestfs.js";

let base: string;
let root: string;
let guest: GuestFS;
const hostSecret = "HOST-ONLY-SECRET";

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof InspectError) return err.code;
    throw err;
  }
}

const text = async (path: string) => new TextDecoder().decode(await guest.readFile(path));

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "leapp-dirguest-"));
  root = join(base, "root");
  // Files beside the root, on the host: no guest path may reach them.
  writeFileSync(join(base, "outside.txt"), hostSecret);
  mkdirSync(join(base, "etc"), { recursive: true });
  writeFileSync(join(base, "etc", "shadow"), hostSecret);
  mkdirSync(join(root, "etc", "sub"), { recursive: true });
  mkdirSync(join(root, "usr", "bin"), { recursive: true });
  writeFileSync(join(root, "etc", "shadow"), "guest-shadow");
  writeFileSync(join(root, "etc", "hostname"), "guest-host\n");
  writeFileSync(join(root, "usr", "bin", "tool"), "tool");
  symlinkSync("usr/bin", join(root, "bin"));
  symlinkSync("/etc/shadow", join(root, "etc", "abs-link")); // guest's /etc/shadow
  symlinkSync("../../../../../../etc/shadow", join(root, "etc", "sub", "climb")); // .. stops at /
  symlinkSync("../../outside.txt", join(root, "etc", "escape")); // would be the host's file
  symlinkSync(join(base, "outside.txt"), join(root, "etc", "host-abs")); // a host path, inside the guest it is nothing
  symlinkSync("loop-b", join(root, "etc", "loop-a"));
  symlinkSync("loop-a", join(root, "etc", "loop-b"));
  symlinkSync("self", join(root, "etc", "self"));
  symlinkSync("/", join(root, "etc", "rootlink"));
  symlinkSync("../..", join(root, "etc", "updir"));
  guest = await openDirectoryGuest(root);
});
afterAll(async () => {
  await guest?.close();
  rmSync(base, { recursive: true, force: true });
});

describe("openDirectoryGuest", () => {
  it("resolves absolute links to the guest's root, not the host's", async () => {
    expect(await text("/etc/abs-link")).toBe("guest-shadow");
    expect(await text("/etc/rootlink/etc/shadow")).toBe("guest-shadow");
  });

  it("stops .. at the guest's /", async () => {
    expect(await text("/etc/sub/climb")).toBe("guest-shadow");
    expect(await text("/../../../etc/shadow")).toBe("guest-shadow");
    expect(await text("/etc/updir/etc/updir/etc/hostname")).toBe("guest-host\n");
    expect(await code(guest.readFile("/etc/escape"))).toBe("INSPECT_NOT_FOUND");
  });

  it("never reads a host path a link names", async () => {
    expect(await code(guest.readFile("/etc/host-abs"))).toBe("INSPECT_NOT_FOUND");
    expect(await guest.exists("/etc/host-abs")).toBe(false);
    expect(await guest.readlink("/etc/host-abs")).toBe(join(base, "outside.txt"));
  });

  it("lists and reads in bulk inside the guest only", async () => {
    const etc = new Map((await guest.list!("/etc")).map((e) => [e.name, e]));
    expect(etc.get("escape")?.linkTarget).toBe("../../outside.txt");
    expect(etc.get("host-abs")?.linkTarget).toBe(join(base, "outside.txt"));
    expect(etc.get("shadow")?.stat?.size).toBe("guest-shadow".length);
    expect((await guest.list!("/etc/rootlink")).map((e) => e.name).sort()).toEqual(["bin", "etc", "usr"]);
    expect((await guest.list!("/etc/updir/etc/updir")).map((e) => e.name).sort()).toEqual(["bin", "etc", "usr"]);
    expect(await code(guest.list!("/etc/loop-a"))).toBe("INSPECT_SYMLINK_LOOP");
    const buffers = [new Uint8Array(64), new Uint8Array(64), new Uint8Array(64), new Uint8Array(64)];
    const read = await guest.readFiles!(["/etc/escape", "/etc/host-abs", "/etc/sub/climb", "/etc/\0x"].map((path, i) => ({ path, buffer: buffers[i]! })));
    expect(read.map((r) => (typeof r === "number" ? r : r.code))).toEqual(["INSPECT_NOT_FOUND", "INSPECT_NOT_FOUND", "guest-shadow".length, "INSPECT_NOT_FOUND"]);
    expect(new TextDecoder().decode(buffers[2]!.subarray(0, 12))).toBe("guest-shadow");
  });

  it("follows directory links (usr-merged /bin)", async () => {
    expect(await text("/bin/tool")).toBe("tool");
    expect((await guest.lstat("/bin")).type).toBe("symlink");
    expect((await guest.stat("/bin")).type).toBe("directory");
    expect(await guest.readdir("/bin")).toEqual(["tool"]);
  });

  it("reports symlink loops as INSPECT_SYMLINK_LOOP", async () => {
    expect(await code(guest.readFile("/etc/loop-a"))).toBe("INSPECT_SYMLINK_LOOP");
    expect(await code(guest.stat("/etc/self"))).toBe("INSPECT_SYMLINK_LOOP");
    expect(await code(guest.readdir("/etc/loop-b/x"))).toBe("INSPECT_SYMLINK_LOOP");
    expect(await guest.exists("/etc/self")).toBe(false);
    expect((await guest.lstat("/etc/self")).type).toBe("symlink");
  });

  it("types the other errors", async () => {
    expect(await code(guest.readFile("/etc/hostname/x"))).toBe("INSPECT_NOT_A_DIRECTORY");
    expect(await code(guest.readFile("/etc"))).toBe("INSPECT_IS_A_DIRECTORY");
    expect(await code(guest.readFile("/nope"))).toBe("INSPECT_NOT_FOUND");
    expect(await code(guest.readFile("/etc/shadow", { maxBytes: 3 }))).toBe("INSPECT_TOO_LARGE");
    expect(await code(guest.readFile("/etc/\0x"))).toBe("INSPECT_NOT_FOUND");
    expect(await code(guest.readFile("/" + "a/".repeat(3000)))).toBe("INSPECT_NOT_FOUND");
  });

  it("refuses to work after close", async () => {
    const g = await openDirectoryGuest(root);
    await g.close();
    expect(await code(g.readFile("/etc/hostname"))).toBe("INSPECT_CLOSED");
  });

  it("refuses a source that is not a directory", async () => {
    expect(await code(openDirectoryGuest(join(base, "outside.txt")))).toBe("INSPECT_NOT_A_DIRECTORY");
    expect(await code(openDirectoryGuest(join(base, "missing")))).toBe("INSPECT_NOT_FOUND");
  });
});
