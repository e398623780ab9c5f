// Test support: XFS layouts for the write conformance suite, made by the real mkfs.xfs and judged by
// the real xfs_repair (and the kernel where it still mounts the layout).
import { spawnSync } from "node:child_process";
import { run } from "../../block/volumes-test-support.js";
import type { WritableVariant } from "../writable-conformance.js";
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
    // Linux 6.x kernels built without CONFIG_XFS_SUPPORT_V4 refuse v4: xfs_repair and our reader judge it.
    kernelMounts: !v4,
  };
}

export const xfsVariants: WritableVariant[] = [
  xfsVariant("XFS v5 (mkfs defaults: finobt, sparse inodes, reflink, bigtime, inobtcount)", []),
  xfsVariant("XFS v5 with rmapbt", ["-m", "rmapbt=1"]),
  xfsVariant("XFS v5 with rmapbt, 2 KiB blocks and 1 KiB inodes", ["-m", "rmapbt=1", "-b", "size=2048", "-i", "size=1024"]),
  xfsVariant("XFS v5 without finobt and reflink", ["-m", "finobt=0,reflink=0,inobtcount=0,bigtime=0"]),
  xfsVariant("XFS v5 with 1 KiB blocks, 8 KiB directory blocks and 8 small AGs", ["-b", "size=1024", "-n", "size=8192", "-d", "agcount=8"]),
  xfsVariant("XFS v4 with ftype", ["-m", "crc=0", "-n", "ftype=1"]),
  xfsVariant("XFS v4 without ftype, 256-byte inodes", ["-m", "crc=0", "-n", "ftype=0", "-i", "size=256"]),
];

