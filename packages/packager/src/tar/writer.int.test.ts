// GNU tar and bsdtar, the real consumers, read what the writer makes of a tree exactly as they
// read their own archives of it: same listing, same extracted tree (content, modes, owners,
// nanosecond times, hard links, devices, FIFOs, holes, xattrs); the directory source's bulk
// calls make the same bytes as its calls per name.
import { closeSync, createWriteStream, ftruncateSync, linkSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openDirectoryGuest, type GuestFS } from "@leapp/inspect";
import { writeLayerTar } from "../layer.js";
import { buildFeatureTree, directoryGuestWithHostFacts, scratchDir, tool, treeManifest } from "../testing.js";
import { walkGuest } from "../walk.js";

async function writeOurs(tree: string, out: string, hostFacts = true, bulk = true): Promise<string[]> {
  // The host facts (xattrs, holes) cost a tool run per file: the random trees go without them.
  let guest: GuestFS = hostFacts ? await directoryGuestWithHostFacts(tree) : await openDirectoryGuest(tree);
  // Without its bulk calls the source is asked name by name, file by file.
  if (!bulk) guest = { ...guest, list: undefined, readFiles: undefined };
  const warnings: string[] = [];
  const file = createWriteStream(out);
  try {
    await writeLayerTar(guest, walkGuest(guest, { xattrs: hostFacts, onWarning: (w) => warnings.push(w) }), async (chunk) => {
      if (!file.write(chunk)) await once(file, "drain");
    });
  } finally {
    file.end();
    await once(file, "close");
    await guest.close();
  }
  return warnings;
}

/**
 * A verbose listing made comparable: columns by single spaces, no `./` before names, and hard
 * link groups without the choice of which name carries the content (a tar's traversal order).
 */
function listing(lines: string[], sizeColumn: number): string[] {
  const rows = lines.filter((l) => l.trim() !== "").map((l) => l.trim().split(/\s+/).join(" ").replace(/ \.\//g, " ").replace(/\/$/, ""));
  const kept = rows.filter((l) => !/ \.$/.test(l) && !/ $/.test(l));
  const targets = new Set(kept.map((l) => / link to (.*)$/.exec(l)?.[1]).filter((t): t is string => t !== undefined));
  const linked = new Set<string>(targets);
  for (const l of kept) {
    const m = /^h\S* .* (\S+) link to (.*)$/.exec(l);
    if (m) linked.add(m[1]!);
  }
  return kept
    .map((l) => {
      const plain = l.replace(/ link to .*$/, "").replace(/^h/, "-");
      const name = [...linked].find((n) => plain.endsWith(" " + n));
      // Same mode, owner and time for every name; the size column differs (0 on link entries).
      if (name === undefined) return plain;
      const columns = plain.split(" ");
      columns[sizeColumn] = "?";
      return columns.join(" ");
    })
    .sort();
}

const gnuListing = (archive: string) => listing(tool("tar", ["--numeric-owner", "--full-time", "-tvf", archive]).toString().split("\n"), 2);
const bsdListing = (archive: string) => listing(tool("bsdtar", ["--numeric-owner", "-tvf", archive]).toString().split("\n"), 4);

describe("tar writer against GNU tar and bsdtar", () => {
  let dir: string;
  let tree: string;
  let ours: string;
  let warnings: string[];

  beforeAll(async () => {
    dir = scratchDir();
    tree = join(dir, "tree");
    buildFeatureTree(tree);
    ours = join(dir, "ours.tar");
    warnings = await writeOurs(tree, ours);
  });

  it("writes the tree without a warning", () => {
    expect(warnings).toEqual([]);
  });

  it("GNU tar lists and extracts it as it does its own archive of the tree", () => {
    const theirs = join(dir, "gnu.tar");
    tool("tar", ["--format=posix", "--sparse", "--xattrs", "--xattrs-include=*", "-C", tree, "-cf", theirs, "."]);
    expect(gnuListing(ours)).toEqual(gnuListing(theirs));
    const a = join(dir, "gnu-ours");
    const b = join(dir, "gnu-theirs");
    for (const [archive, out] of [[ours, a], [theirs, b]] as const) {
      mkdirSync(out);
      tool("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", out]);
    }
    const extracted = treeManifest(a);
    expect(extracted).toEqual(treeManifest(b));
    // And the extraction is the source tree itself, holes included.
    const source = treeManifest(tree);
    expect(extracted).toEqual(source);
    expect(extracted["var/lib/sparse.img"]!.allocated).toBeLessThan(1 << 20);
    expect(extracted["etc/caps"]!.xattrs?.["security.capability"]).toBeDefined();
    expect(extracted["etc/hostname"]!.mtimeNs).toBe(source["etc/hostname"]!.mtimeNs);
    expect(extracted["etc/hostname"]!.hardlinks?.sort()).toEqual(["etc/hostname.link1", "srv/hostname.link2"]);
  });

  it("bsdtar lists and extracts it as it does its own archive of the tree", () => {
    const theirs = join(dir, "bsd.tar");
    tool("bsdtar", ["--format=pax", "--xattrs", "-C", tree, "-cf", theirs, "."]);
    expect(bsdListing(ours)).toEqual(bsdListing(theirs));
    const a = join(dir, "bsd-ours");
    const b = join(dir, "bsd-theirs");
    for (const [archive, out] of [[ours, a], [theirs, b]] as const) {
      mkdirSync(out);
      tool("bsdtar", ["--xattrs", "--numeric-owner", "-xpf", archive, "-C", out]);
    }
    expect(treeManifest(a)).toEqual(treeManifest(b));
    expect(treeManifest(a)).toEqual(treeManifest(tree));
  });
});

/** A seeded generator (mulberry32): the same seed, the same tree. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random tree: odd and long names, deep paths, sizes around block edges, holes, hard links, symlinks. */
function randomTree(root: string, seed: number): void {
  const random = seeded(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const chars = "abcXYZ019 _-.,;'\"$()[]{}=+#%&!~äöüßé€日本\t\n";
  const name = () => {
    const length = pick([1, 2, 8, 30, 99, 100, 101, 155, 200, 255]);
    let n = "";
    while (Buffer.byteLength(n) < length) n += pick([...chars]);
    while (Buffer.byteLength(n) > 255) n = n.slice(0, -1);
    return n === "." || n === ".." || n.startsWith(".wh.") ? `x${n}` : n;
  };
  mkdirSync(root);
  const dirs = [root];
  const files: string[] = [];
  for (let i = 0; i < 120; i++) {
    const parent = pick(dirs);
    const path = join(parent, name());
    if (Buffer.byteLength(path) - Buffer.byteLength(root) > 3000) continue;
    try {
      const kind = random();
      if (kind < 0.25) {
        mkdirSync(path);
        dirs.push(path);
      } else if (kind < 0.8) {
        const size = pick([0, 1, 511, 512, 513, 10_000, 65_536, 300_001]);
        writeFileSync(path, Buffer.alloc(size, Math.floor(random() * 256)));
        files.push(path);
      } else if (kind < 0.87) {
        const fd = openSync(path, "w");
        ftruncateSync(fd, 2 * 1024 * 1024 + Math.floor(random() * 1024 * 1024));
        writeSync(fd, Buffer.alloc(5000, 9), 0, 5000, 1024 * 1024);
        closeSync(fd);
        files.push(path);
      } else if (kind < 0.94 && files.length > 0) linkSync(pick(files), path);
      else symlinkSync(name(), path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" && (err as NodeJS.ErrnoException).code !== "ENAMETOOLONG") throw err;
    }
  }
}

describe("tar writer on random trees (seeded) against GNU tar", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: GNU tar extracts the tree exactly`, async () => {
      const dir = scratchDir();
      const tree = join(dir, "tree");
      randomTree(tree, seed);
      const ours = join(dir, "ours.tar");
      expect(await writeOurs(tree, ours, false)).toEqual([]);
      const out = join(dir, "out");
      mkdirSync(out);
      tool("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", ours, "-C", out]);
      const manifest = (root: string) => Object.fromEntries(Object.entries(treeManifest(root, { xattrs: false })).map(([k, { allocated: _, ...v }]) => [k, v]));
      expect(manifest(out)).toEqual(manifest(tree));
      // The source's bulk listing and batched reads make the very bytes its calls per name make.
      const perName = join(dir, "per-name.tar");
      expect(await writeOurs(tree, perName, false, false)).toEqual([]);
      expect(readFileSync(perName).equals(readFileSync(ours))).toBe(true);
    });
  }
});
