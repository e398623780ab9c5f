// Filesystem images made by the real mkfs tools from a tree: ext2/3/4 (mkfs.ext4 -d), XFS
// (mkfs.xfs -p protofile), vfat (mkfs.vfat + mcopy), swap (mkswap).
import { closeSync, ftruncateSync, openSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./run.js";
import { xfsProtofile } from "./xfs-proto.js";

/** A fixed clock for mke2fs, so the same recipe gives the same image. */
const FAKE_TIME = "1552387267";

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
}

export function makeExt4(image: string, size: number, tree: string, o: Ext4Options): void {
  const args = ["-q", "-F", "-t", o.type ?? "ext4", "-b", "4096", "-I", String(o.inodeSize ?? 256), "-L", o.label, "-U", o.uuid];
  if (o.features) args.push("-O", o.features);
  args.push("-E", `root_owner=0:0,hash_seed=${o.uuid}`, "-d", tree, image, `${Math.floor(size / 1024)}k`);
  run("mkfs.ext4", args, { env: { E2FSPROGS_FAKE_TIME: FAKE_TIME } });
}

export interface XfsOptions {
  uuid: string;
  label: string;
  /** Extra mkfs.xfs arguments, e.g. -m crc=1,finobt=0 for a CentOS 7 era filesystem. */
  extra?: string[];
}

export function makeXfs(image: string, size: number, tree: string, o: XfsOptions, workDir: string): void {
  const proto = join(workDir, `proto-${o.uuid}.txt`);
  writeFileSync(proto, xfsProtofile(tree));
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
