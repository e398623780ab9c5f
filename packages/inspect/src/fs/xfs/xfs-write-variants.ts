// Test support: XFS layouts for the write conformance suite, made by the real mkfs.xfs and judged by
// the real xfs_repair (and the kernel where it still mounts the layout).
import { spawnSync } from "node:child_process";
import { run } from "../../block/volumes-test-support.js";
import { typeOfMode } from "../inode-filesystem.js";
import type { FilesystemModel, WritableVariant } from "../writable-conformance.js";
import { xfsDriver } from "./xfs.js";

/** xfs_repair -n must find nothing; its report is the error otherwise. */
export function xfsRepairClean(image: string): void {
  const result = spawnSync("xfs_repair", ["-n", "-f", image], { encoding: "utf8" });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`xfs_repair -n found problems (exit ${result.status}):\n${result.stdout}${result.stderr}`);
}

export function xfsVariant(name: string, options: string[], sizeMiB = 160): WritableVariant {
  const v4 = options.includes("crc=0");
  return {
    name,
    driver: xfsDriver,
    mkfs(image) {
      run("truncate", ["-s", `${sizeMiB}M`, image]);
      // mkfs.xfs refuses filesystems under 300 MiB unless told it runs under a test harness.
      run("env", ["TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1", "mkfs.xfs", "-q", "-f", ...options, image]);
    },
    fsck: xfsRepairClean,
    timeResolutionNs: 1,
    // Linux 6.x kernels built without CONFIG_XFS_SUPPORT_V4 refuse v4: xfs_db reads it back instead.
    kernelMounts: !v4,
    ...(v4 ? { toolReadBack: xfsDbMatchesModel } : {}),
  };
}

export const xfsVariants: WritableVariant[] = [
  xfsVariant("XFS v5 (mkfs defaults: finobt, sparse inodes, reflink, bigtime, inobtcount)", []),
  xfsVariant("XFS v5 with rmapbt", ["-m", "rmapbt=1"]),
  xfsVariant("XFS v5 with rmapbt, 2 KiB blocks and 1 KiB inodes", ["-m", "rmapbt=1", "-b", "size=2048", "-i", "size=1024"]),
  xfsVariant("XFS v5 without finobt and reflink", ["-m", "finobt=0,reflink=0,inobtcount=0,bigtime=0"]),
  xfsVariant("XFS v5 with 1 KiB blocks, 8 KiB directory blocks and 8 small AGs", ["-b", "size=1024", "-n", "size=8192", "-d", "agcount=8"]),
  xfsVariant("XFS v4 with ftype", ["-m", "crc=0", "-n", "ftype=1"]),
  xfsVariant("XFS v4 without ftype, 256-byte inodes, attr1", ["-m", "crc=0", "-n", "ftype=0", "-i", "size=256,attr=1"]),
];


/** Runs an xfs_db script (commands on stdin, `echo @` markers between outputs) read-only. */
function xfsDb(image: string, commands: string[]): Map<string, string> {
  const result = spawnSync("xfs_db", ["-r", image], { input: Buffer.from(`${commands.join("\n")}\n`, "utf8"), encoding: "latin1", maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`xfs_db failed: ${result.stderr}`);
  const out = new Map<string, string>();
  let key = "";
  for (const line of result.stdout.split("\n")) {
    // The marker is the path's UTF-8 bytes (echo ends it with a blank).
    if (line.startsWith("@ ")) key = Buffer.from(line.slice(2).replace(/ $/, ""), "latin1").toString("utf8");
    else out.set(key, `${out.get(key) ?? ""}${line}\n`);
  }
  return out;
}

/**
 * The model as xfs_db reads the image — directories listed from the root inode down (`ls`), every
 * inode's mode, owner, link count and size (`print`) — for layouts the kernel no longer mounts.
 */
export function xfsDbMatchesModel(image: string, model: FilesystemModel): number {
  const root = /rootino = (\d+)/.exec(run("xfs_db", ["-r", "-c", "sb 0", "-c", "p rootino", image]))![1]!;
  const inodeOf = new Map<string, string>([["/", root]]);
  const fail = (path: string, what: string, want: unknown, got: unknown): never => {
    throw new Error(`xfs_db: ${path}: ${what} is ${String(got)}, expected ${String(want)}`);
  };
  for (let level = ["/"]; level.length > 0; ) {
    const listings = xfsDb(image, level.flatMap((dir) => [`echo @ ${dir}`, `inode ${inodeOf.get(dir)}`, "ls"]));
    const next: string[] = [];
    for (const dir of level) {
      const names: string[] = [];
      for (const line of (listings.get(dir) ?? "").split("\n")) {
        const m = /^\s*\d+\s+(\d+)\s+(\S+)\s+0x[0-9a-f]+\s+(\d+)\s(.*)\s\((\w+)\)$/.exec(line);
        if (!m) continue;
        const name = Buffer.from(m[4]!.slice(0, Number(m[3])), "latin1").toString("utf8");
        if (name === "." || name === "..") continue;
        if (m[5] !== "good") fail(dir, `entry ${name}`, "good", m[5]);
        const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
        names.push(name);
        inodeOf.set(path, m[1]!);
        // Without ftype, ls cannot tell types: the inodes' modes are compared below.
        if (model.inodeAt(path)?.type === "directory") next.push(path);
      }
      const want = model.children(dir).map((p) => p.slice(p.lastIndexOf("/") + 1)).sort();
      if (want.join("/") !== names.sort().join("/")) fail(dir, "entries", want.length, names.length);
    }
    level = next;
  }
  const paths = [...model.names.keys()];
  const cores = xfsDb(image, paths.flatMap((p) => [`echo @ ${p}`, `inode ${inodeOf.get(p)}`, "print core.mode core.uid core.gid core.nlinkv2 core.size"]));
  const sameInode = new Map<number, string>();
  for (const path of paths) {
    const expected = model.inodeAt(path)!;
    const core = cores.get(path) ?? "";
    const field = (name: string) => Number(new RegExp(`core\\.${name} = (\\d+)`).exec(core)?.[1]);
    const mode = Number.parseInt(/core\.mode = 0?(\d+)/.exec(core)?.[1] ?? "", 8);
    if (typeOfMode(mode) !== expected.type) fail(path, "type", expected.type, typeOfMode(mode));
    if (expected.type !== "symlink" && (mode & 0o7777) !== expected.mode) fail(path, "mode", expected.mode.toString(8), (mode & 0o7777).toString(8));
    if (field("uid") !== expected.uid || field("gid") !== expected.gid) fail(path, "owner", `${expected.uid}:${expected.gid}`, `${field("uid")}:${field("gid")}`);
    if (field("nlinkv2") !== model.nlink(path)) fail(path, "link count", model.nlink(path), field("nlinkv2"));
    if (expected.type === "file" && expected.content && field("size") !== expected.content.length) fail(path, "size", expected.content.length, field("size"));
    if (expected.type === "symlink" && field("size") !== Buffer.byteLength(expected.target!)) fail(path, "target length", Buffer.byteLength(expected.target!), field("size"));
    const id = model.names.get(path)!;
    const seen = sameInode.get(id);
    if (seen === undefined) sameInode.set(id, inodeOf.get(path)!);
    else if (seen !== inodeOf.get(path)) fail(path, "inode of a hard link", seen, inodeOf.get(path));
  }
  return paths.length;
}
