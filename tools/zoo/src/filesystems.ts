// Filesystem images made by the real mkfs tools from a tree: ext2/3/4 (mkfs.ext4 -d), XFS
// (mkfs.xfs -p protofile), vfat (mkfs.vfat + mcopy), swap (mkswap).
import { closeSync, ftruncateSync, lstatSync, openSync, readdirSync, rmSync, writeFileSync, type Stats } from "node:fs";
import { join, relative } from "node:path";
import { ZooError } from "./errors.js";
import { run, runCheckingStderr } from "./run.js";
import { xfsProtofile } from "./xfs-proto.js";

/** A fixed clock for mke2fs, so the same recipe gives the same image. */
const FAKE_TIME = "1552387267";

/**
 * Modes a guest's files must have that the tree they are made from cannot have when it is built
 * without root: its builder could neither read a mode-000 /etc/shadow into the image nor clean up
 * a 0550 /root. Trees keep modes their builder can work with; these are set in the image itself.
 * Keys are paths inside the filesystem being made.
 */
export type GuestModes = Record<string, number>;

/** A tree built without root is owned by its builder; in the image, what the builder owns is root's. */
const builder = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

export function guestOwner(st: { uid: number; gid: number }): { uid: number; gid: number } {
  if (builder.uid === 0) return { uid: st.uid, gid: st.gid };
  return { uid: st.uid === builder.uid ? 0 : st.uid, gid: st.gid === builder.gid ? 0 : st.gid };
}

/** Every entry of `tree` with its path inside the filesystem, parents before children. */
function walkTree(tree: string, visit: (guestPath: string, st: Stats) => void): void {
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      visit(`/${relative(tree, path)}`, st);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(tree);
}

/** The debugfs commands that give an ext image made from `tree` its guest owners and `modes`. */
export function ext4Fixups(tree: string, modes: GuestModes): string[] {
  const commands: string[] = [];
  const quoted = (p: string): string => {
    if (/["\n\\]/.test(p)) throw new ZooError("ZOO_BAD_INPUT", `${p}: a name debugfs cannot be given`);
    return `"${p}"`;
  };
  walkTree(tree, (path, st) => {
    const owner = guestOwner(st);
    if (owner.uid !== st.uid) commands.push(`sif ${quoted(path)} uid ${owner.uid}`);
    if (owner.gid !== st.gid) commands.push(`sif ${quoted(path)} gid ${owner.gid}`);
  });
  for (const [path, mode] of Object.entries(modes)) {
    const st = lstatSync(join(tree, path));
    commands.push(`sif ${quoted(path)} mode 0${((st.mode & 0o170000) | mode).toString(8)}`);
  }
  return commands;
}

export function sparseFile(path: string, size: number): void {
  const fd = openSync(path, "w");
  ftruncateSync(fd, size);
  closeSync(fd);
}

export interface Ext4Options {
  uuid: string;
  label: string;
  /** mke2fs -O list, to match the era's mke2fs (CentOS 6: no metadata_csum, no 64bit). */
  features?: string;
  type?: "ext2" | "ext3" | "ext4";
  inodeSize?: 128 | 256;
  modes?: GuestModes;
}

export function makeExt4(image: string, size: number, tree: string, o: Ext4Options): void {
  const args = ["-q", "-F", "-t", o.type ?? "ext4", "-b", "4096", "-I", String(o.inodeSize ?? 256), "-L", o.label, "-U", o.uuid];
  if (o.features) args.push("-O", o.features);
  args.push("-E", `root_owner=0:0,hash_seed=${o.uuid}`, "-d", tree, image, `${Math.floor(size / 1024)}k`);
  run("mkfs.ext4", args, { env: { E2FSPROGS_FAKE_TIME: FAKE_TIME } });
  // mkfs.ext4 -d copies owners and modes from the tree; what a tree built without root cannot
  // hold is set in the image by debugfs, the e2fsprogs tool for editing inodes.
  const fixups = ext4Fixups(tree, o.modes ?? {});
  if (fixups.length === 0) return;
  const script = `${image}.debugfs`;
  writeFileSync(script, fixups.join("\n") + "\n");
  try {
    runCheckingStderr("debugfs", ["-w", "-f", script, image], /^debugfs [\d.]+ \(/, { env: { E2FSPROGS_FAKE_TIME: FAKE_TIME } });
  } finally {
    rmSync(script, { force: true });
  }
}

export interface XfsOptions {
  uuid: string;
  label: string;
  /** Extra mkfs.xfs arguments, e.g. -m crc=1,finobt=0 for a CentOS 7 era filesystem. */
  extra?: string[];
  modes?: GuestModes;
}

export function makeXfs(image: string, size: number, tree: string, o: XfsOptions, workDir: string): void {
  const proto = join(workDir, `proto-${o.uuid}.txt`);
  writeFileSync(proto, xfsProtofile(tree, { modes: o.modes ?? {}, owner: guestOwner }));
  sparseFile(image, size);
  run("mkfs.xfs", ["-q", "-f", "-L", o.label, "-m", `uuid=${o.uuid}`, ...(o.extra ?? []), "-p", proto, image]);
}

export interface VfatOptions {
  /** 8 hex digits; blkid shows it as XXXX-XXXX. */
  volumeId: string;
  label: string;
}

export function makeVfat(image: string, size: number, tree: string, o: VfatOptions): void {
  sparseFile(image, size);
  run("mkfs.vfat", ["-F", "32", "-i", o.volumeId, ...(o.label === "" ? [] : ["-n", o.label]), image]);
  const entries = readdirSync(tree).map((n) => join(tree, n));
  if (entries.length > 0) run("mcopy", ["-s", "-p", "-m", "-i", image, ...entries, "::/"], { env: { MTOOLS_SKIP_CHECK: "1", SOURCE_DATE_EPOCH: FAKE_TIME } });
}

export function makeSwap(image: string, size: number, o: { uuid: string; label: string }): void {
  sparseFile(image, size);
  run("mkswap", ["-U", o.uuid, "-L", o.label, image]);
}
