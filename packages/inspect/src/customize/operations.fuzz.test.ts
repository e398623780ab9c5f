// Operations with hostile arguments (seeded, bounded): `..` everywhere, NUL, over-long names,
// symlink loops, links out of the guest, globs, mountpoints — on a stand-in guest (see
// memory-guest-test-support.ts). Every operation succeeds or fails with a typed InspectError, and
// the guest stays whole: every name still reads, every mount is still where it was.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import type { WritableGuest } from "../guestfs/writable-guest.js";
import { applyOperations } from "./apply.js";
import { centos6, memoryGuest } from "./memory-guest-test-support.js";
import type { CustomizeOperation } from "./operations.js";

const component = fc.constantFrom("etc", "var", "..", ".", "a", "b", "loop", "out", "srv", "data", "*", "[a-z]*", "x".repeat(256), "nul\0byte", "é");
const path = fc.array(component, { minLength: 0, maxLength: 5 }).map((c) => `/${c.join("/")}`);
const operation: fc.Arbitrary<CustomizeOperation> = fc.oneof(
  fc.record({ op: fc.constant("write" as const), path, content: fc.string({ maxLength: 20 }) }),
  fc.record({ op: fc.constant("append-line" as const), path, line: fc.string({ maxLength: 10 }) }),
  fc.record({ op: fc.constant("mkdir" as const), path }),
  fc.record({ op: fc.constant("touch" as const), path }),
  fc.record({ op: fc.constant("truncate" as const), path }),
  fc.record({ op: fc.constant("delete" as const), path }),
  fc.record({ op: fc.constant("move" as const), from: path, to: path }),
  fc.record({ op: fc.constant("link" as const), target: path, links: fc.array(path, { minLength: 1, maxLength: 2 }) }),
  fc.record({ op: fc.constant("chmod" as const), mode: fc.integer({ min: -1, max: 0o10000 }), path }),
  fc.record({ op: fc.constant("edit" as const), path, expression: fc.constantFrom("s/a/b/g", "s/(/x/", "s/^/#/") }),
  fc.record({ op: fc.constant("hostname" as const), hostname: fc.constantFrom("ok.example", "bad name", "") }),
  fc.record({ op: fc.constant("timezone" as const), timezone: fc.constantFrom("UTC", "Europe/London", "../x", "Nope/Zone") }),
);

async function walk(guest: WritableGuest, dir: string, depth = 0): Promise<number> {
  let n = 0;
  for (const name of await guest.readdir(dir)) {
    const p = dir === "/" ? `/${name}` : `${dir}/${name}`;
    const st = await guest.lstat(p);
    n++;
    if (st.type === "directory" && depth < 20) n += await walk(guest, p, depth + 1);
  }
  return n;
}

describe("operations with hostile arguments", () => {
  it("succeed or fail typed, and leave a whole guest", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 8 }), async (operations) => {
        const { guest } = await memoryGuest({ ...centos6, mounts: { "/srv/data": "/dev/sdb1" }, links: { ...centos6.links, "/etc/loop": "/etc/loop", "/etc/out": "../../../../..", "/a": "/srv" } });
        for (const o of operations) {
          try {
            await applyOperations(guest, [o]);
          } catch (err) {
            if (!(err instanceof InspectError)) throw err;
          }
        }
        expect(await walk(guest, "/")).toBeGreaterThan(0);
        expect((await guest.stat("/srv/data")).type).toBe("directory");
        expect((await guest.mountOf("/srv/data/x")).device).toBe("/dev/sdb1");
      }),
      { seed: 7, numRuns: 300, interruptAfterTimeLimit: 10_000 },
    );
  });
});
