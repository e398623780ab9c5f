// The ext writer against the shared write conformance suite: for every layout, a seeded random
// run of operations; then e2fsck -fn must be clean and the kernel (read-only loop mount) and our
// reader must both read back the model. Plus full filesystems and an aborted streamed write.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runFullAndAbortedWrites, runWriteConformance } from "../writable-conformance.js";
import { extWriteVariants } from "./ext-write-variants.js";

const work = mkdtempSync(join(tmpdir(), "leapp-ext-write-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("ext writer conformance", () => {
  for (const variant of extWriteVariants) {
    it(`${variant.name}: a seeded run of operations reads back as the model, fsck-clean`, async () => {
      const counts = await runWriteConformance(variant, work, { seed: 20260301, operations: 300, byteBudget: 48 * 1024 * 1024 });
      for (const kind of ["create", "replace", "truncate", "unlink", "mkdir", "grow-directory", "rename", "link", "symlink", "mknod", "setxattr", "invalid"]) {
        expect(counts[kind] ?? 0, kind).toBeGreaterThan(0);
      }
    });
  }

  for (const variant of [extWriteVariants[0]!, extWriteVariants[7]!]) {
    it(`${variant.name}: a full filesystem says INSPECT_NO_SPACE, an aborted write leaves nothing, both fsck-clean`, async () => {
      const { files } = await runFullAndAbortedWrites({ ...variant, mkfs: (image) => variant.mkfs(image) }, work);
      expect(files).toBeGreaterThan(5);
    });
  }
});
