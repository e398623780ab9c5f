// A 2 GiB tree streams in bounded memory: four 512 MiB files (holes on the host, read through a
// source that reports them dense, as sources that cannot tell holes do, so every byte is read and
// written) go through the writer into a sink that only counts, while resident memory is sampled.
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { openDirectoryGuest, type GuestFS } from "@leapp/inspect";
import { writeLayerTar } from "./layer.js";
import { scratchDir } from "./testing.js";
import { walkGuest } from "./walk.js";

const MiB = 1024 * 1024;

it("streams a 2 GiB tree with resident memory bounded well below the tree", async () => {
  const root = join(scratchDir(), "big");
  mkdirSync(join(root, "data"), { recursive: true });
  for (let i = 0; i < 4; i++) {
    const fd = openSync(join(root, "data", `part${i}.bin`), "w");
    ftruncateSync(fd, 512 * MiB);
    writeSync(fd, Buffer.from(`part ${i}`), 0, 6, 100 * MiB);
    closeSync(fd);
  }
  const tree = await openDirectoryGuest(root);
  const guest: GuestFS = {
    ...tree,
    openFile: async (path) => {
      const file = await tree.openFile(path);
      return {
        ...file,
        async *dataRanges() {
          yield { offset: 0, length: file.size };
        },
      };
    },
  };
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  let bytes = 0;
  try {
    const stats = await writeLayerTar(guest, walkGuest(guest, { xattrs: false }), async (chunk) => {
      bytes += chunk.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    });
    expect(stats.contentBytes).toBe(2048 * MiB);
  } finally {
    clearInterval(sampler);
    await guest.close();
  }
  expect(bytes).toBeGreaterThan(2048 * MiB);
  expect(peak - baseline).toBeLessThan(96 * MiB);
});
