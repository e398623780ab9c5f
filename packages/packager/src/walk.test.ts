// The walk over a hostile in-memory guest: whatever a guest claims (a link target beyond
// PATH_MAX, an xattr larger than Linux allows, a socket, `.wh.` names, a file that vanished) is
// left out with a warning, the source failing ends the walk, and hard links follow name order.
import { describe, expect, it } from "vitest";
import { InspectError, type GuestFS } from "@leapp/inspect";
import { exclusionMatcher, defaultExclusions } from "./exclusions.js";
import { memoryGuest } from "./testing.js";
import { walkGuest } from "./walk.js";

async function walk(guest: GuestFS, exclude = exclusionMatcher(defaultExclusions)) {
  const warnings: string[] = [];
  const entries = [];
  for await (const e of walkGuest(guest, { exclude, onWarning: (w) => warnings.push(w) })) entries.push(`${e.entry.type} ${e.entry.path}${e.entry.linkTarget ? ` -> ${e.entry.linkTarget}` : ""}`);
  return { entries, warnings };
}

describe("walkGuest", () => {
  it("leaves out what a tar cannot hold, with a warning for each", async () => {
    const { entries, warnings } = await walk(
      memoryGuest({
        "/": { stat: { type: "directory" } },
        "/etc": { stat: { type: "directory" } },
        "/etc/ok": { stat: { type: "file", size: 3 } },
        "/etc/long-link": { stat: { type: "symlink" }, link: "/x".repeat(3000) },
        "/etc/big-xattr": { stat: { type: "file" }, xattrs: new Map([["user.big", new Uint8Array(100_000)], ["user.ok", new Uint8Array(1)]]) },
        "/etc/.wh.secret": { stat: { type: "file" } },
        "/run": { stat: { type: "directory" } },
        "/run/socket": { stat: { type: "socket" } },
        "/var": { stat: { type: "directory" } },
        "/var/gone": { stat: { type: "file" }, lstatError: new InspectError("INSPECT_NOT_FOUND", "/var/gone does not exist") },
        "/var/sock": { stat: { type: "socket" } },
      }),
    );
    expect(entries).toEqual(["directory etc", "file etc/big-xattr", "file etc/ok", "directory run", "directory var"]);
    expect(warnings.join("\n")).toMatch(/long-link: .*4096 bytes/);
    expect(warnings.join("\n")).toMatch(/big-xattr: 1 extended attributes that tar cannot hold/);
    expect(warnings.join("\n")).toMatch(/\.wh\.secret: names starting '\.wh\.'/);
    expect(warnings.join("\n")).toMatch(/\/var\/sock: a socket has no place/);
    expect(warnings.join("\n")).toMatch(/\/var\/gone: .* left out/);
  });

  it("stops when the source itself fails", async () => {
    const guest = memoryGuest({ "/": { stat: { type: "directory" } }, "/a": { stat: { type: "file" }, lstatError: new InspectError("INSPECT_SSH", "connection lost") } });
    await expect(walk(guest)).rejects.toMatchObject({ code: "INSPECT_SSH" });
  });

  it("gives an inode's content to its first name in byte order, links to the rest", async () => {
    const same = { type: "file" as const, size: 5, nlink: 3, ino: 42 };
    const { entries } = await walk(
      memoryGuest({
        "/": { stat: { type: "directory" } },
        "/b": { stat: { type: "directory" } },
        "/b/second": { stat: same },
        "/a-first": { stat: same },
        "/c-third": { stat: same },
      }),
    );
    expect(entries).toEqual(["file a-first", "directory b", "hardlink b/second -> a-first", "hardlink c-third -> a-first"]);
  });
});
