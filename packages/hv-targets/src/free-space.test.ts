// withHoles, seeded and bounded: over random devices (data and zero extents, host runs) and random
// free ranges, a view reads as its base with the free ranges zeroed, its map and its host runs
// cover exactly what was asked, in order, and never call a free byte data.
import { describe, expect, it } from "vitest";
import { checkRange, type BlockDevice, type Extent, type HostRun } from "@leapp/storage";
import { seededRandom } from "@leapp/zoo";
import { withHoles, type ByteRange } from "./free-space.js";

type Mapped = BlockDevice & { hostRuns(start: number, length: number): AsyncIterable<HostRun> };

/** A device over bytes whose map is `extents` (zero extents read as zeros) and whose data lies at offset+7 of "fd 3". */
function device(bytes: Uint8Array, extents: Extent[]): Mapped {
  const clip = (start: number, length: number) =>
    extents
      .filter((e) => e.offset < start + length && e.offset + e.length > start)
      .map((e) => {
        const from = Math.max(start, e.offset);
        return { ...e, offset: from, length: Math.min(start + length, e.offset + e.length) - from };
      });
  return {
    format: "raw",
    size: bytes.length,
    writable: false,
    async read(buffer, position) {
      checkRange(bytes.length, position, buffer.length);
      buffer.set(bytes.subarray(position, position + buffer.length));
    },
    async *extents(start = 0, length = bytes.length - start) {
      yield* clip(start, length);
    },
    async *hostRuns(start, length) {
      for (const e of clip(start, length)) yield e.kind === "data" ? { kind: "file", offset: e.offset, length: e.length, fd: 3, fileOffset: e.offset + 7 } : { kind: "zero", offset: e.offset, length: e.length };
    },
    async write() {},
    async flush() {},
    async close() {},
  };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function expectTiling(pieces: { offset: number; length: number }[], start: number, length: number): void {
  let at = start;
  for (const p of pieces) {
    expect(p.offset).toBe(at);
    expect(p.length).toBeGreaterThan(0);
    at += p.length;
  }
  expect(at).toBe(start + length);
}

describe("withHoles", () => {
  it("reads, maps and host-maps as the base with the free ranges zeroed (500 seeded cases)", async () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rand = seededRandom(seed);
      const int = (n: number) => Math.floor(rand() * n);
      const size = 1 + int(4096);
      const bytes = new Uint8Array(size).map(() => 1 + int(255));
      const extents: Extent[] = [];
      for (let at = 0; at < size; ) {
        const length = Math.min(size - at, 1 + int(600));
        const kind = rand() < 0.7 ? "data" : "zero";
        if (kind === "zero") bytes.fill(0, at, at + length);
        extents.push({ offset: at, length, kind });
        at += length;
      }
      const holes: ByteRange[] = [];
      for (let at = int(300); at < size; at += 1 + int(700)) {
        const length = 1 + int(400);
        holes.push({ offset: at, length: Math.min(length, size - at) });
        at += length;
      }
      const inHole = (i: number) => holes.some((h) => i >= h.offset && i < h.offset + h.length);
      const view = withHoles(device(bytes, extents), holes) as Mapped;
      const start = int(size);
      const length = int(size - start + 1);

      const buffer = new Uint8Array(length);
      await view.read(buffer, start);
      for (let i = 0; i < length; i++) expect(buffer[i], `seed ${seed} byte ${start + i}`).toBe(inHole(start + i) ? 0 : bytes[start + i]);

      const map = await collect(view.extents(start, length));
      expectTiling(map, start, length);
      for (const e of map) if (e.kind === "data") for (let i = e.offset; i < e.offset + e.length; i++) expect(inHole(i), `seed ${seed}: data extent over free byte ${i}`).toBe(false);

      const runs = await collect(view.hostRuns(start, length));
      expectTiling(runs, start, length);
      for (const r of runs) {
        if (r.kind === "file") {
          expect(r.fileOffset - r.offset).toBe(7);
          for (let i = r.offset; i < r.offset + r.length; i++) expect(inHole(i), `seed ${seed}: host run over free byte ${i}`).toBe(false);
        }
      }
    }
  });

  it("is read-only", async () => {
    const view = withHoles(device(new Uint8Array(16), [{ offset: 0, length: 16, kind: "data" }]), []);
    expect(view.writable).toBe(false);
    await expect(view.write(new Uint8Array(1), 0)).rejects.toMatchObject({ code: "STORAGE_READ_ONLY" });
  });
});
