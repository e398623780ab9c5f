// The shared write conformance suite over XFS variants made by the real mkfs.xfs: a seeded run of
// a few hundred operations each, judged by xfs_repair -n, the kernel's read-only loop mount and
// our own reader; then a full filesystem and an aborted write.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../block/volumes-test-support.js";
import { runFullAndAbortedWrites, runWriteConformance, type WritableVariant } from "../writable-conformance.js";
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
  xfsVariant("XFS v5 without finobt and reflink", ["-m", "finobt=0,reflink=0,inobtcount=0,bigtime=0"]),
  xfsVariant("XFS v5 with 1 KiB blocks, 8 KiB directory blocks and 8 small AGs", ["-b", "size=1024", "-n", "size=8192", "-d", "agcount=8"]),
  xfsVariant("XFS v4 with ftype", ["-m", "crc=0", "-n", "ftype=1"]),
  xfsVariant("XFS v4 without ftype, 256-byte inodes", ["-m", "crc=0", "-n", "ftype=0", "-i", "size=256"]),
];

describe("writable XFS", () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-xfs-write-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const variant of xfsVariants) {
    it(`${variant.name}: a seeded run of operations reads back as the model (xfs_repair, kernel, reader)`, async () => {
      const counts = await runWriteConformance(variant, work, { seed: 7, operations: 300, byteBudget: 60_000_000 });
      for (const kind of ["create", "replace", "truncate", "unlink", "mkdir", "grow-directory", "rename", "link", "symlink", "mknod", "setxattr"]) expect(counts[kind], kind).toBeGreaterThan(0);
    });
  }

  it("a full filesystem is INSPECT_NO_SPACE and an aborted write leaves nothing (XFS v5)", async () => {
    const { files } = await runFullAndAbortedWrites(xfsVariants[0]!, work);
    expect(files).toBeGreaterThan(3);
  });
});
