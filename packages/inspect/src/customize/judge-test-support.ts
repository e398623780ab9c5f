// Test support: judges a customized guest with the real tools. qemu-img converts the overlay to
// raw (qemu must read what we wrote), each filesystem's bytes go to a file of their own (partitions
// and logical volumes alike), e2fsck -fn or xfs_repair -n must find nothing to fix, and the
// kernel mounts each one read-only so tests read the result as the guest will.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDisk } from "@leapp/storage";
import { scanDisks } from "../block/scan.js";
import { openImageGuest } from "../guestfs/image-guest.js";
import { inspect } from "../os/inspect.js";
import type { InspectionReport } from "../report/report.js";

const PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
const run = (command: string, args: string[]) => execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PATH } });

/** sha256 of a file, streamed. */
export async function fileHash(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The kernel's view of a customized guest: every filesystem mounted read-only, by guest mountpoint. */
export interface KernelView {
  report: InspectionReport;
  /** The host path the kernel shows a guest path at. */
  host(guestPath: string): string;
  /** fsck output per device, for the record. */
  checked: Map<string, string>;
  close(): void;
}

/** Dumps `length` bytes of a device into a sparse file. */
async function dump(device: { read(b: Uint8Array, p: number): Promise<void>; size: number }, file: string): Promise<void> {
  const fd = openSync(file, "w");
  try {
    const piece = new Uint8Array(4 << 20);
    for (let at = 0; at < device.size; at += piece.length) {
      const part = piece.subarray(0, Math.min(piece.length, device.size - at));
      await device.read(part, at);
      if (part.some((b) => b !== 0)) writeSync(fd, part, 0, part.length, at);
    }
    // The file's length, even when it ends in a hole.
    writeSync(fd, new Uint8Array(1), 0, 1, device.size - 1);
  } finally {
    closeSync(fd);
  }
}

/**
 * Converts the guest's disks (overlays, in order) to raw with qemu-img, checks every ext and XFS
 * filesystem with the real checker (throwing with its output if it finds anything), and mounts
 * them read-only with the kernel at their guest mountpoints (as inspect reports them).
 */
export async function judgeGuest(disks: readonly string[]): Promise<KernelView> {
  const work = mkdtempSync(join(tmpdir(), "leapp-judge-"));
  const mounted: string[] = [];
  const checked = new Map<string, string>();
  try {
    const raws = disks.map((disk, i) => {
      const raw = join(work, `disk${i}.raw`);
      run("qemu-img", ["convert", "-O", "raw", disk, raw]);
      return raw;
    });
    const guest = await openImageGuest(raws);
    const report = await inspect(guest, { applications: false });
    await guest.close();
    const devices = await Promise.all(raws.map((r) => openDisk(r, { format: "raw" })));
    const byDevice = new Map<string, string>();
    try {
      for (const volume of await scanDisks(devices)) {
        if (volume.content !== "filesystem" || !["ext2", "ext3", "ext4", "xfs"].includes(volume.fsType ?? "")) continue;
        const file = join(work, `${volume.device.replaceAll("/", "_")}.img`);
        await dump(volume.block, file);
        const fsck = volume.fsType === "xfs" ? spawnSync("xfs_repair", ["-n", "-f", file], { encoding: "utf8", env: { ...process.env, PATH } }) : spawnSync("e2fsck", ["-fn", file], { encoding: "utf8", env: { ...process.env, PATH } });
        if (fsck.status !== 0) throw new Error(`${volume.device} (${volume.fsType}) is not clean:\n${fsck.stdout}\n${fsck.stderr}`);
        checked.set(volume.device, fsck.stdout);
        byDevice.set(volume.device, file);
      }
    } finally {
      await Promise.all(devices.map((d) => d.close()));
    }
    const mounts: Array<{ mountpoint: string; dir: string }> = [];
    for (const { device, mountpoint } of report.mountpoints) {
      const file = byDevice.get(device);
      if (!file) continue;
      const dir = join(work, `mnt${mounts.length}`);
      mkdirSync(dir);
      run("mount", ["-o", "ro,loop", file, dir]);
      mounted.push(dir);
      mounts.push({ mountpoint, dir });
    }
    mounts.sort((a, b) => b.mountpoint.length - a.mountpoint.length);
    const close = () => {
      for (const dir of mounted.reverse()) spawnSync("umount", [dir]);
      rmSync(work, { recursive: true, force: true });
    };
    return {
      report,
      checked,
      host(guestPath) {
        const m = mounts.find((x) => x.mountpoint === "/" || guestPath === x.mountpoint || guestPath.startsWith(`${x.mountpoint}/`));
        if (!m) throw new Error(`no filesystem of the guest is mounted at ${guestPath}`);
        return m.mountpoint === "/" ? join(m.dir, guestPath) : join(m.dir, guestPath.slice(m.mountpoint.length));
      },
      close,
    };
  } catch (err) {
    for (const dir of mounted.reverse()) spawnSync("umount", [dir]);
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}
