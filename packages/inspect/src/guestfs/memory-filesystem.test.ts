// The in-memory stand-in filesystem the guest-level unit tests run on must itself behave as the
// writable interface says: the shared conformance sequence (the one the ext and XFS writers pass
// before fsck and the kernel judge them) runs against it and its model must match.
import { describe, expect, it } from "vitest";
import { applyRandomSequence, compareWithModel, FilesystemModel, type WritableVariant } from "../fs/writable-conformance.js";
import { MemoryFilesystem } from "./memory-filesystem-test-support.js";

const variant = {
  name: "memory stand-in",
  timeResolutionNs: 1,
  driver: undefined as never,
  mkfs: () => undefined,
  fsck: () => undefined,
} satisfies WritableVariant;

describe("the in-memory stand-in filesystem", () => {
  for (const seed of [1, 2, 3]) {
    it(`follows the writable conformance model (seed ${seed})`, async () => {
      const fs = new MemoryFilesystem({ capacity: 256 * 1024 * 1024 });
      const model = new FilesystemModel();
      const counts = await applyRandomSequence(fs, model, { seed, operations: 400, byteBudget: 20_000_000 }, variant);
      for (const kind of ["create", "replace", "unlink", "mkdir", "rename", "link", "symlink", "invalid"]) expect(counts[kind], kind).toBeGreaterThan(0);
      expect(await compareWithModel(fs, model, variant)).toBeGreaterThan(50);
    });
  }

  it("runs out of space with a typed error and keeps nothing of the failed write", async () => {
    const fs = new MemoryFilesystem({ capacity: 1000 });
    await fs.writeFile("/a", new Uint8Array(600));
    await expect(fs.writeFile("/b", new Uint8Array(600))).rejects.toMatchObject({ code: "INSPECT_NO_SPACE" });
    await expect(fs.lstat("/b")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
    await fs.unlink("/a");
    await fs.writeFile("/b", new Uint8Array(600));
  });
});
