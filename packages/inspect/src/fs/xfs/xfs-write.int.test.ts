// The shared write conformance suite over XFS variants made by the real mkfs.xfs: a seeded run of
// a few hundred operations each, judged by xfs_repair -n, the kernel's read-only loop mount and
// our own reader; then a full filesystem and an aborted write.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runFullAndAbortedWrites, runWriteConformance } from "../writable-conformance.js";
import { xfsVariants } from "./xfs-write-variants.js";

describe("writable XFS", () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-xfs-write-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const variant of xfsVariants) {
    it(`${variant.name}: a seeded run of operations reads back as the model (xfs_repair; the kernel, or xfs_db for v4; our reader)`, async () => {
      const counts = await runWriteConformance(variant, work, { seed: 7, operations: 300, byteBudget: 60_000_000 });
      for (const kind of ["create", "replace", "truncate", "unlink", "mkdir", "grow-directory", "rename", "link", "symlink", "mknod", "setxattr"]) expect(counts[kind], kind).toBeGreaterThan(0);
    });
  }

  it("a full filesystem is INSPECT_NO_SPACE and an aborted write leaves nothing (XFS v5)", async () => {
    const { files } = await runFullAndAbortedWrites(xfsVariants[0]!, work);
    expect(files).toBeGreaterThan(3);
  });
});
