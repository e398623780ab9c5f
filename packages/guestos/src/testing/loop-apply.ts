// Test support: until the writable ext4/XFS layer of @leapp/inspect can write a guest image, boot
// tests carry a dry run's result (the memory guest's changes) onto a copy of the disk through the
// kernel's own ext4: loop device, partx, mount, write, unmount, fsck. Only for tests: leapp itself
// never mounts anything.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MemoryGuest } from "../memory-guest.js";

const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const run = (tool: string, args: string[]) => execFileSync(tool, args, { env: { ...process.env, PATH }, stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Writes every change of `dry` into the host directory `root` (a copy of the guest's tree). */
export async function applyChangesToTree(dry: MemoryGuest, root: string): Promise<string[]> {
  const done: string[] = [];
  for (const c of await dry.changes()) {
    const at = join(root, c.path);
    if (c.change === "removed") {
      rmSync(at, { recursive: true, force: true });
    } else {
      const st = await dry.lstat(c.path);
      if (c.type === "directory") mkdirSync(at, { recursive: true });
      else if (c.type === "symlink") {
        rmSync(at, { force: true });
        symlinkSync(await dry.readlink(c.path), at);
      } else if (c.type === "file") writeFileSync(at, await dry.readFile(c.path, { maxBytes: 1 << 30 }));
      if (c.type === "symlink") lchownSync(at, st.uid, st.gid);
      else {
        chmodSync(at, st.mode);
        chownSync(at, st.uid, st.gid);
      }
    }
    done.push(`${c.change} ${c.path}`);
  }
  return done;
}

/** Writes every change of `dry` into partition `partition` (1-based) of the raw disk `disk`. */
export async function applyChangesToDisk(dry: MemoryGuest, disk: string, partition = 1): Promise<string[]> {
  const loop = run("losetup", ["--show", "-f", disk]).trim();
  const mnt = mkdtempSync(join(tmpdir(), "guestos-loop-"));
  let mounted = false;
  try {
    run("partx", ["-u", loop]);
    run("mount", [`${loop}p${partition}`, mnt]);
    mounted = true;
    return await applyChangesToTree(dry, mnt);
  } finally {
    if (mounted) run("umount", [mnt]);
    rmSync(mnt, { recursive: true, force: true });
    try {
      run("partx", ["-d", loop]);
    } finally {
      run("losetup", ["-d", loop]);
    }
  }
}

/** Runs `f` with the partition mounted read-only (to read what a boot left behind; the kernel replays its journal). */
export async function withMountedPartition<T>(disk: string, f: (root: string) => Promise<T> | T, partition = 1): Promise<T> {
  const loop = run("losetup", ["--show", "-f", disk]).trim();
  const mnt = mkdtempSync(join(tmpdir(), "guestos-loop-"));
  let mounted = false;
  try {
    run("partx", ["-u", loop]);
    run("mount", ["-o", "ro", `${loop}p${partition}`, mnt]);
    mounted = true;
    return await f(mnt);
  } finally {
    if (mounted) run("umount", [mnt]);
    rmSync(mnt, { recursive: true, force: true });
    try {
      run("partx", ["-d", loop]);
    } finally {
      run("losetup", ["-d", loop]);
    }
  }
}
