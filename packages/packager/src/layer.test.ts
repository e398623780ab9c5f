// The layer writer's read-ahead over an in-memory guest: files that cannot be opened any more are
// left out (or, for a planned layer, written as zeros of their planned size) and never stop the
// entries after them, however many bytes of them were queued — read one by one or in batches.
import { describe, expect, it } from "vitest";
import { InspectError, type GuestFS } from "@leapp/inspect";
import { plannedTarSize, writeLayerTar } from "./layer.js";
import { memoryGuest } from "./testing.js";
import { walkGuest, type WalkedEntry } from "./walk.js";

function guestWithVanishedFiles(): GuestFS {
  const text: Record<string, string> = {};
  for (let i = 0; i < 80; i++) text[`/data/gone-${String(i).padStart(2, "0")}`] = "x".repeat(250_000);
  text["/data/zz-last"] = "still here\n";
  const guest = memoryGuest({ "/": { stat: { type: "directory" } }, "/data": { stat: { type: "directory" } } }, text);
  return {
    ...guest,
    openFile: async (path: string) => {
      if (path.includes("/gone-")) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist`, { path });
      return guest.openFile(path);
    },
  };
}

/** The guest with batched reads made of its calls per file (what `GuestFS.readFiles` promises). */
function withReadFiles(guest: GuestFS): GuestFS {
  return {
    ...guest,
    readFiles: (requests) =>
      Promise.all(
        requests.map(async ({ path, buffer }) => {
          try {
            const file = await guest.openFile(path);
            const got = await file.read(buffer, 0);
            await file.close();
            return got;
          } catch (err) {
            return err as InspectError;
          }
        }),
      ),
  };
}

describe.each([
  ["one by one", (g: GuestFS) => g],
  ["in batches", withReadFiles],
])("writeLayerTar, files read %s", (_how, source) => {
  it("writes the same archive either way", async () => {
    const text: Record<string, string> = {};
    for (let i = 0; i < 300; i++) text[`/data/f${String(i).padStart(3, "0")}`] = String(i).repeat(i * 37);
    const guest = memoryGuest({ "/": { stat: { type: "directory" } }, "/data": { stat: { type: "directory" } } }, text);
    const archive = async (g: GuestFS) => {
      const chunks: Uint8Array[] = [];
      await writeLayerTar(g, walkGuest(g), async (c) => void chunks.push(c));
      return Buffer.concat(chunks);
    };
    expect((await archive(source(guest))).equals(await archive(guest))).toBe(true);
  });

  it("leaves out files that vanished and goes on to the rest", async () => {
    const guest = source(guestWithVanishedFiles());
    const warnings: string[] = [];
    let bytes = 0;
    const stats = await writeLayerTar(guest, walkGuest(guest), async (c) => void (bytes += c.length), { onWarning: (w) => warnings.push(w) });
    expect(stats.files).toBe(1);
    expect(stats.entries).toBe(2); // data/ and data/zz-last
    expect(warnings.filter((w) => w.includes("gone-"))).toHaveLength(80);
    expect(bytes).toBe(stats.bytes);
  });

  it("stops when the source itself fails, as the walk does", async () => {
    for (const failure of [new InspectError("INSPECT_SSH", "connection lost"), new TypeError("a bug")]) {
      const healthy = memoryGuest({ "/": { stat: { type: "directory" } }, "/data": { stat: { type: "directory" } } }, { "/data/a": "a", "/data/b": "b".repeat(300_000), "/data/c": "c" });
      const guest = source({
        ...healthy,
        openFile: async (path: string) => {
          if (path !== "/data/a") throw failure;
          return healthy.openFile(path);
        },
      });
      await expect(writeLayerTar(guest, walkGuest(guest), async () => {}, { onWarning: () => {} })).rejects.toBe(failure);
    }
  });

  it("keeps a planned layer's size exact, writing vanished files as zeros", async () => {
    const guest = source(guestWithVanishedFiles());
    const planned: WalkedEntry[] = [];
    for await (const e of walkGuest(guest)) planned.push(e);
    let bytes = 0;
    const stats = await writeLayerTar(guest, planned, async (c) => void (bytes += c.length), { keepPlannedSize: true, onWarning: () => {} });
    expect(stats.files).toBe(81);
    expect(bytes).toBe(plannedTarSize(planned));
  });
});
