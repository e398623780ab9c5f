// GNU tar and bsdtar, the real consumers, read what the writer makes of a tree exactly as they
// read their own archives of it: same listing, same extracted tree (content, modes, owners,
// nanosecond times, hard links, devices, FIFOs, holes, xattrs).
import { createWriteStream, mkdirSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { writeLayerTar } from "../layer.js";
import { buildFeatureTree, directoryGuestWithHostFacts, scratchDir, tool, treeManifest } from "../testing.js";
import { walkGuest } from "../walk.js";

async function writeOurs(tree: string, out: string): Promise<string[]> {
  const guest = await directoryGuestWithHostFacts(tree);
  const warnings: string[] = [];
  const file = createWriteStream(out);
  try {
    await writeLayerTar(guest, walkGuest(guest, { onWarning: (w) => warnings.push(w) }), async (chunk) => {
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
