import { statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildZooGuest, zooContainers, zooGuestNames, zooTier } from "./index.js";
import { runText } from "./run.js";

const guests = zooGuestNames.filter((n) => zooTier(n) === "integration");
const qemuFormat = { raw: "raw", qcow2: "qcow2", vmdk: "vmdk", vhdx: "vhdx" } as const;

describe("zoo containers", () => {
  for (const name of guests) {
    it(`${name}: every container converts from the raw build and compares equal to it`, async () => {
      for (const container of zooContainers) {
        const guest = await buildZooGuest(name, container);
        expect(guest.disks).toHaveLength(guest.rawDisks.length);
        guest.disks.forEach((disk, i) => {
          const info = JSON.parse(runText("qemu-img", ["info", "--output", "json", disk])) as { format: string; "format-specific"?: { data?: { "create-type"?: string } } };
          expect(info.format).toBe(qemuFormat[container]);
          if (container === "vmdk") expect(info["format-specific"]?.data?.["create-type"]).toBe("streamOptimized");
          // qemu-img compare exits non-zero (and run() throws) when the contents differ.
          expect(runText("qemu-img", ["compare", "-f", "raw", "-F", qemuFormat[container], guest.rawDisks[i]!, disk])).toContain("Images are identical");
        });
      }
    });
  }

  it("a second build is a cache hit: same files, untouched, in milliseconds", async () => {
    const first = await buildZooGuest("el6-xen", "qcow2");
    const mtime = statSync(first.disks[0]!).mtimeMs;
    const started = performance.now();
    const second = await buildZooGuest("el6-xen", "qcow2");
    expect(performance.now() - started).toBeLessThan(500);
    expect(second.disks).toEqual(first.disks);
    expect(statSync(second.disks[0]!).mtimeMs).toBe(mtime);
  });
});
