// Extended attributes of inodes the kernel has so far recorded only in its log: a copy of the
// mounted filesystem, read with the log replayed in memory, shows each inode's attributes as the
// live mount does (short-form and extent-list attribute forks logged with the inode, and the empty
// attribute fork the kernel gives every new inode), and so does the clean image after unmount.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fileDevice, run } from "../../block/volumes-test-support.js";
import { openXfs, type XfsFilesystem } from "./xfs.js";

const tools = ["mkfs.xfs", "xfs_db", "xfs_repair", "mount", "umount", "setfattr", "getfattr"];
const missing = tools.filter((tool) => spawnSync("sh", ["-c", `PATH="$PATH:/usr/sbin:/sbin" command -v ${tool}`]).status !== 0);

/** name → hex value of every attribute of `path`, as the kernel lists them. */
function kernelAttrs(path: string): Map<string, string> {
  const dump = execFileSync("getfattr", ["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", path], { encoding: "latin1" });
  const lines = dump.split("\n").filter((line) => line.includes("=0x"));
  return new Map(lines.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=0x") + 3)]));
}

async function readerAttrs(fs: XfsFilesystem, path: string): Promise<Map<string, string>> {
  return new Map([...(await fs.xattrs(path))].map(([name, value]) => [name, Buffer.from(value).toString("hex")]));
}

describe.skipIf(missing.length > 0)(`XFS attributes through log replay${missing.length ? ` (missing ${missing.join(", ")})` : ""}`, () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-xfs-log-attrs-"));
  const mountpoint = join(work, "mnt");
  mkdirSync(mountpoint);
  afterAll(() => {
    spawnSync("umount", [mountpoint]);
    rmSync(work, { recursive: true, force: true });
  });

  it("a copy taken while mounted reads every inode's attributes as the live mount shows them", async () => {
    const image = join(work, "xfs.img");
    const copy = join(work, "dirty.img");
    run("truncate", ["-s", "300M", image]); // the smallest mkfs.xfs makes without test-only overrides
    run("mkfs.xfs", ["-q", "-f", image]);
    run("mount", ["-o", "loop", image, mountpoint]);
    const names = ["plain-dir", "plain-file", "short", "leaf"];
    let expected: Map<string, Map<string, string>>;
    try {
      mkdirSync(join(mountpoint, "plain-dir"));
      writeFileSync(join(mountpoint, "plain-file"), "no attributes\n");
      writeFileSync(join(mountpoint, "short"), "short-form\n");
      execFileSync("setfattr", ["-n", "user.a", "-v", "one", join(mountpoint, "short")]);
      execFileSync("setfattr", ["-n", "trusted.t", "-v", "two", join(mountpoint, "short")]);
      writeFileSync(join(mountpoint, "leaf"), "a leaf block\n");
      for (let i = 0; i < 12; i++) execFileSync("setfattr", ["-n", `user.leaf-${i}`, "-v", `0x${Buffer.alloc(40 + i, i).toString("hex")}`, join(mountpoint, "leaf")]);
      expected = new Map(names.map((name) => [name, kernelAttrs(join(mountpoint, name))]));
      run("sync", []);
      run("cp", ["--sparse=always", image, copy]);
    } finally {
      run("umount", [mountpoint]);
    }
    expect(expected.get("short")!.size).toBe(2);
    expect(expected.get("leaf")!.size).toBe(12);
    const repair = spawnSync("xfs_repair", ["-n", "-f", copy], { encoding: "utf8" });
    expect(`${repair.stdout}${repair.stderr}`).toMatch(/valuable metadata changes in a log/);
    // The forms the kernel chose: an attribute fork that holds nothing yet, short-form, a leaf.
    const core = (name: string) => run("xfs_db", ["-r", "-c", `path /${name}`, "-c", "p core.forkoff core.aformat core.naextents", image]);
    expect(core("plain-dir")).toMatch(/forkoff = [1-9][\s\S]*aformat = 2 \(extents\)[\s\S]*naextents = 0/);
    expect(core("short")).toContain("local");
    expect(core("leaf")).toMatch(/naextents = 1/);

    for (const [label, path, replayed] of [
      ["copy of the mounted filesystem", copy, true],
      ["image after unmount", image, false],
    ] as const) {
      const device = fileDevice(path);
      const fs = (await openXfs(device)) as XfsFilesystem;
      expect(fs.replayedLog, label).toBe(replayed);
      for (const name of names) expect(await readerAttrs(fs, `/${name}`), `${label}: /${name}`).toEqual(expected.get(name));
      await device.close();
    }
  });
});
