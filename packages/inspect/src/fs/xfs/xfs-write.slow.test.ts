// The long write conformance run: several seeds and thousands of operations on every XFS variant
// of the integration tier, each judged by xfs_repair -n, the kernel (where it mounts the layout)
// and our reader.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runWriteConformance } from "../writable-conformance.js";
import { xfsVariants } from "./xfs-write-variants.js";

describe("writable XFS, long runs", () => {
  const work = mkdtempSync(join(tmpdir(), "leapp-xfs-write-slow-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const [index, variant] of xfsVariants.entries()) {
    // Two seeds for the mkfs defaults and rmapbt (the layouts with the most trees), one for the rest.
    for (const seed of index < 2 ? [101, 202] : [101]) {
      it(`${variant.name}, seed ${seed}: 2,000 operations read back as the model`, async () => {
        const counts = await runWriteConformance(variant, work, { seed, operations: 2000, byteBudget: 90_000_000 });
        expect(counts["grow-directory"]).toBeGreaterThan(10);
      }, 600_000);
    }
  }
});
