// A whole disk: a partition table written by sfdisk, then each partition's image copied to its
// place, keeping runs of zeros as holes so the raw image stays sparse.
import { closeSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync, chmodSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { sparseFile } from "./filesystems.js";
import { run } from "./run.js";

export const MiB = 1024 * 1024;

export interface PartitionPlan {
  /** Byte offset, a multiple of 512. */
  start: number;
  size: number;
  /** sfdisk type: MBR hex (83, 82, 8e) or GPT type GUID / alias. */
  type: string;
  bootable?: boolean;
  /** GPT only: the partition's unique GUID and name. */
  uuid?: string;
  name?: string;
  /** Image file to copy into the partition. */
  content?: string;
  /** Or pieces: `length` bytes of `file` from `fileOffset` to `offset` within the partition. */
  pieces?: Array<{ file: string; fileOffset: number; length: number; offset: number }>;
}

export interface DiskPlan {
  label: "dos" | "gpt";
  /** dos: 0x12345678; gpt: a GUID. */
  id: string;
  size: number;
  partitions: PartitionPlan[];
}

export function sfdiskScript(plan: DiskPlan): string {
  const out = [`label: ${plan.label}`, `label-id: ${plan.id}`, "unit: sectors"];
  if (plan.label === "gpt") out.push("first-lba: 2048");
  for (const p of plan.partitions) {
    const fields = [`start=${p.start / 512}`, `size=${p.size / 512}`, `type=${p.type}`];
    if (p.uuid) fields.push(`uuid=${p.uuid}`);
    if (p.name) fields.push(`name="${p.name}"`);
    if (p.bootable) fields.push("bootable");
    out.push(fields.join(", "));
  }
  return `${out.join("\n")}\n`;
}

/**
 * Copies `length` bytes of `file` from `fileOffset` into the open `fd` at `offset` (the whole file
 * by default), skipping all-zero MiB blocks so the target stays sparse.
 */
export function copySparse(fd: number, file: string, offset: number, fileOffset = 0, length = Number.MAX_SAFE_INTEGER): void {
  const src = openSync(file, "r");
  const buf = Buffer.alloc(MiB);
  const zeros = Buffer.alloc(MiB);
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(src, buf, 0, Math.min(buf.length, length - done), fileOffset + done);
      if (n === 0) break;
      // Buffer.equals is a memcmp: a per-byte callback here would cost seconds per image.
      if (!buf.subarray(0, n).equals(zeros.subarray(0, n))) writeSync(fd, buf, 0, n, offset + done);
      done += n;
    }
  } finally {
    closeSync(src);
  }
}

export function writeDisk(path: string, plan: DiskPlan): void {
  sparseFile(path, plan.size);
  run("sfdisk", ["--no-reread", "--no-tell-kernel", "-q", path], { input: sfdiskScript(plan) });
  const fd = openSync(path, "r+");
  try {
    for (const p of plan.partitions) {
      if (p.content) copySparse(fd, p.content, p.start);
      for (const piece of p.pieces ?? []) copySparse(fd, piece.file, p.start + piece.offset, piece.fileOffset, piece.length);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes the content of each mountpoint (other than /) out of the root tree into its own folder
 * under `workDir`, leaving an empty directory behind — what each filesystem is made from — and
 * returns the folders with a function that puts everything back.
 */
export function splitTree(root: string, mountpoints: string[], workDir: string): { dirs: Map<string, string>; restore: () => void } {
  const dirs = new Map<string, string>([["/", root]]);
  const moved: Array<[string, string]> = [];
  mkdirSync(workDir, { recursive: true });
  const deepestFirst = mountpoints.filter((m) => m !== "/").sort((a, b) => b.split("/").length - a.split("/").length);
  deepestFirst.forEach((mp, i) => {
    const inTree = join(root, mp);
    const own = join(workDir, `fs-${i}`);
    const mode = lstatSync(inTree).mode & 0o7777;
    renameSync(inTree, own);
    mkdirSync(inTree);
    chmodSync(inTree, mode);
    dirs.set(mp, own);
    moved.push([inTree, own]);
  });
  const restore = (): void => {
    for (const [inTree, own] of moved.reverse()) {
      rmSync(inTree, { recursive: true, force: true });
      renameSync(own, inTree);
    }
  };
  return { dirs, restore };
}
