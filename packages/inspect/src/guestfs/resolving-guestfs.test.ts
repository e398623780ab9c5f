// The symlink resolver under random link graphs (fast-check, seeded): an in-memory guest tree of
// directories, files and links with absolute, relative and `..`-laden targets. Every lookup must
// end — with a file of that tree or a typed InspectError — and agree with a slow reference walk.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openDirectoryGuest } from "./directory-guest.js";
import { InspectError } from "../errors.js";
import type { GuestStat } from "./guestfs.js";
import type { PhysicalTree } from "./physical-tree.js";
import { resolvingGuestFS } from "./resolving-guestfs.js";

type Node = { kind: "dir" } | { kind: "file"; content: string } | { kind: "link"; target: string };

/** A physical tree held in a Map of normalized paths; it never follows links itself. */
function memoryTree(nodes: Map<string, Node>): PhysicalTree & { reads: number } {
  const stat = (n: Node): GuestStat => ({
    type: n.kind === "dir" ? "directory" : n.kind === "file" ? "file" : "symlink",
    mode: 0o755,
    size: n.kind === "file" ? n.content.length : 0,
    uid: 0,
    gid: 0,
    mtimeMs: 0,
    atimeNs: 0n,
    mtimeNs: 0n,
    ctimeNs: 0n,
    ino: 0,
    dev: 0,
    nlink: 1,
    rdevMajor: 0,
    rdevMinor: 0,
  });
  const get = (path: string) => {
    const n = nodes.get(path);
    if (!n) throw new InspectError("INSPECT_NOT_FOUND", `${path} not found`, { path });
    return n;
  };
  const tree = {
    reads: 0,
    async lstat(path: string) {
      tree.reads++;
      return stat(get(path));
    },
    async readdir(path: string) {
      const prefix = path === "/" ? "/" : path + "/";
      return [...nodes.keys()].filter((k) => k.startsWith(prefix) && k !== path && !k.slice(prefix.length).includes("/")).map((k) => k.slice(prefix.length));
    },
    async readFile(path: string) {
      const n = get(path);
      if (n.kind !== "file") throw new InspectError("INSPECT_IS_A_DIRECTORY", path);
      return new TextEncoder().encode(n.content);
    },
    async readlink(path: string) {
      const n = get(path);
      if (n.kind !== "link") throw new InspectError("INSPECT_NOT_FOUND", path);
      return n.target;
    },
    async openFile(path: string): Promise<never> {
      throw new InspectError("INSPECT_UNSUPPORTED", path);
    },
    async xattrs() {
      return new Map<string, Uint8Array>();
    },
    async close() {},
  };
  return tree;
}

const names = ["a", "b", "etc", "..", "."];
const component = fc.constantFrom(...names);
const relPath = fc.array(component, { minLength: 1, maxLength: 5 }).map((c) => c.join("/"));
const target = fc.oneof(relPath, relPath.map((p) => "/" + p), fc.constant("/"), fc.constant(".."));

/** Random trees: a few directories, files and links at paths built from the same names. */
const treeArb = fc
  .array(fc.tuple(fc.array(fc.constantFrom("a", "b", "etc"), { minLength: 1, maxLength: 3 }), fc.oneof(fc.constant<Node>({ kind: "dir" }), fc.string({ maxLength: 5 }).map<Node>((content) => ({ kind: "file", content })), target.map<Node>((t) => ({ kind: "link", target: t })))), { maxLength: 20 })
  .map((entries) => {
    const nodes = new Map<string, Node>([["/", { kind: "dir" }]]);
    for (const [parts, node] of entries) {
      // Parents must be directories for a path to exist at all.
      let ok = true;
      for (let i = 1; i < parts.length; i++) {
        const parent = "/" + parts.slice(0, i).join("/");
        const p = nodes.get(parent);
        if (p === undefined) nodes.set(parent, { kind: "dir" });
        else if (p.kind !== "dir") ok = false;
      }
      const path = "/" + parts.join("/");
      if (ok && !nodes.has(path)) nodes.set(path, node);
    }
    return nodes;
  });

/** The reference: resolve with recursion on whole paths, the way the kernel's namei would. */
function reference(nodes: Map<string, Node>, path: string, budget = { hops: 0 }): string | "loop" | "missing" {
  const parts = path.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const c = parts[i] as string;
    if (c === "..") {
      done.pop();
      continue;
    }
    const here = "/" + [...done, c].join("/");
    const n = nodes.get(here);
    if (!n) return "missing";
    if (n.kind === "link") {
      if (++budget.hops > 40) return "loop";
      const base = n.target.startsWith("/") ? "" : "/" + done.join("/");
      const rest = parts.slice(i + 1).join("/");
      return reference(nodes, `${base}/${n.target}${rest ? "/" + rest : ""}`, budget);
    }
    if (i < parts.length - 1 && n.kind !== "dir") return "missing";
    done.push(c);
  }
  return "/" + done.join("/");
}

/** Clean paths (no `.` or `..`), whose walks a stable tree remembers and starts again from. */
const cleanPath = fc.array(fc.constantFrom("a", "b", "etc"), { minLength: 1, maxLength: 5 }).map((c) => "/" + c.join("/"));

describe.each([
  ["walking every path from the root", false],
  ["remembering walks (a stable tree)", true],
])("resolvingGuestFS under random link graphs, %s", (_name, stable) => {
  it("always ends, stays in the tree, and agrees with a reference walk", async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, fc.array(fc.oneof(relPath.map((p) => "/" + p), cleanPath), { minLength: 1, maxLength: 8 }), async (nodes, paths) => {
        const tree = memoryTree(nodes);
        const guest = resolvingGuestFS(tree, { cacheLookups: stable });
        // Each path twice: the second walk may start where a remembered one ended.
        const lookups = [...paths, ...paths.reverse()];
        for (const path of lookups) {
          const expected = reference(nodes, path);
          try {
            const st = await guest.stat(path);
            expect(typeof expected === "string" && expected.startsWith("/")).toBe(true);
            expect(st.type).toBe(nodes.get(expected as string)?.kind === "dir" ? "directory" : "file");
          } catch (err) {
            if (!(err instanceof InspectError)) throw err;
            expect(expected === "loop" || expected === "missing").toBe(true);
            if (expected === "loop") expect(err.code).toBe("INSPECT_SYMLINK_LOOP");
            else expect(["INSPECT_NOT_FOUND", "INSPECT_NOT_A_DIRECTORY", "INSPECT_SYMLINK_LOOP"]).toContain(err.code);
          }
        }
        // Bounded work: 40 hops of at most a few components each, per lookup.
        expect(tree.reads).toBeLessThan(lookups.length * 2000);
      }),
      { seed: 99, numRuns: 400 },
    );
  });
});

describe.each([
  ["the kernel resolving in the tree (openat2)", "1"],
  ["the descriptor walk (no addon)", "0"],
])("the directory source under random link graphs: %s", (_name, native) => {
  const work = mkdtempSync(join(tmpdir(), "leapp-resolve-"));
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });
  let round = 0;

  it("agrees with the same reference walk on real trees made on disk", async () => {
    vi.stubEnv("LEAPP_INSPECT_NATIVE", native);
    await fc.assert(
      fc.asyncProperty(treeArb, fc.array(relPath.map((p) => "/" + p), { minLength: 1, maxLength: 8 }), async (nodes, lookups) => {
        const root = join(work, String(round++));
        mkdirSync(root);
        // Only what a real tree can hold: every parent a directory.
        for (const path of [...nodes.keys()]) {
          const parts = path.split("/").filter(Boolean);
          for (let i = 1; i < parts.length; i++) if (nodes.get("/" + parts.slice(0, i).join("/"))?.kind !== "dir") nodes.delete(path);
        }
        for (const [path, node] of [...nodes].sort(([a], [b]) => a.length - b.length)) {
          if (path === "/") continue;
          if (node.kind === "dir") mkdirSync(join(root, path), { recursive: true });
          else if (node.kind === "file") writeFileSync(join(root, path), node.content);
          else symlinkSync(node.target, join(root, path));
        }
        const guest = await openDirectoryGuest(root);
        try {
          for (const path of lookups) {
            const expected = reference(nodes, path);
            try {
              const st = await guest.stat(path);
              expect(typeof expected === "string" && expected.startsWith("/")).toBe(true);
              expect(st.type).toBe(nodes.get(expected as string)?.kind === "dir" ? "directory" : "file");
            } catch (err) {
              if (!(err instanceof InspectError)) throw err;
              expect(expected === "loop" || expected === "missing").toBe(true);
              if (expected === "loop") expect(err.code).toBe("INSPECT_SYMLINK_LOOP");
            }
          }
        } finally {
          await guest.close();
        }
      }),
      { seed: 98, numRuns: 150 },
    );
  });
});
