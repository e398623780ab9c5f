// The walk over a hostile in-memory guest: whatever a guest claims (a link target beyond
// PATH_MAX, an xattr larger than Linux allows, a socket, `.wh.` names, a file that vanished) is
// left out with a warning, the source failing ends the walk, and hard links follow name order —
// alike whether the source is asked name by name or lists each directory in bulk.
import { describe, expect, it } from "vitest";
import { InspectError, type GuestFS, type ListedEntry } from "@leapp/inspect";
import { exclusionMatcher, defaultExclusions } from "./exclusions.js";
import { memoryGuest } from "./testing.js";
import { walkGuest } from "./walk.js";

async function walk(guest: GuestFS, exclude = exclusionMatcher(defaultExclusions)) {
  const warnings: string[] = [];
  const entries = [];
  for await (const e of walkGuest(guest, { exclude, onWarning: (w) => warnings.push(w) })) entries.push(`${e.entry.type} ${e.entry.path}${e.entry.linkTarget ? ` -> ${e.entry.linkTarget}` : ""}`);
  return { entries, warnings };
}

/** The guest with a bulk listing made of its calls per name (what `GuestFS.list` promises). */
function withList(guest: GuestFS, xattrs = true): GuestFS {
  return {
    ...guest,
    async list(dir, options = {}) {
      if (options.xattrs && !xattrs) throw new InspectError("INSPECT_UNSUPPORTED", "this source reads no xattrs");
      const prefix = dir === "/" ? "/" : dir + "/";
      return Promise.all(
        (await guest.readdir(dir)).map(async (name): Promise<ListedEntry> => {
          try {
            const stat = await guest.lstat(prefix + name);
            const entry: ListedEntry = { name, stat };
            if (stat.type === "symlink") entry.linkTarget = await guest.readlink(prefix + name);
            if (options.xattrs) entry.xattrs = await guest.xattrs(prefix + name);
            return entry;
          } catch (err) {
            if (!(err instanceof InspectError) || err.code === "INSPECT_SSH") throw err;
            return { name, error: err };
          }
        }),
      );
    },
  };
}

const hostile = () =>
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
  });

describe("walkGuest from bulk listings", () => {
  it("yields what the walk name by name yields, warnings and all", async () => {
    const byName = await walk(hostile());
    const bulk = await walk(withList(hostile()));
    expect(bulk).toEqual(byName);
    expect(bulk.entries).toEqual(["directory etc", "file etc/big-xattr", "file etc/ok", "directory run", "directory var"]);
  });

  it("goes on without xattrs, with one warning, where the listing cannot read them", async () => {
    const { entries, warnings } = await walk(withList(hostile(), false));
    expect(entries).toEqual(["directory etc", "file etc/big-xattr", "file etc/ok", "directory run", "directory var"]);
    expect(warnings.filter((w) => w.includes("extended attributes are not read"))).toHaveLength(1);
    expect(warnings.join("\n")).not.toMatch(/big-xattr: 1 extended attributes/);
  });

  it("stops when the source itself fails", async () => {
    const guest = memoryGuest({ "/": { stat: { type: "directory" } }, "/a": { stat: { type: "file" }, lstatError: new InspectError("INSPECT_SSH", "connection lost") } });
    await expect(walk(withList(guest))).rejects.toMatchObject({ code: "INSPECT_SSH" });
  });
});

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
