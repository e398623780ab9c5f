import { describe, expect, it } from "vitest";
import { moduleName, parseModuleDb } from "./modules.js";

describe("parseModuleDb", () => {
  it("reads names, paths, dependencies and load order line by line", () => {
    const db = parseModuleDb("6.1.0-1-amd64", {
      dep: "kernel/a-b.ko.xz: kernel/c.ko.zst\t kernel/d.ko \n/lib/modules/6.1.0-1-amd64/kernel/c.ko.zst:\n/usr/lib/modules/6.1.0-1-amd64/kernel/d.ko:\r\nkernel/a-b.ko: kernel/other.ko\n: x\nno colon\n",
      order: "kernel/d.ko\n\n  kernel/a-b.ko.xz  \n",
      builtin: "kernel/e-f.ko\n\n",
    });
    expect([...db.modules.values()]).toEqual([
      { name: "a_b", path: "kernel/a-b.ko.xz", deps: ["kernel/c.ko.zst", "kernel/d.ko"], priority: 3 },
      { name: "c", path: "kernel/c.ko.zst", deps: [], priority: 2 + 1 + 1 },
      { name: "d", path: "kernel/d.ko", deps: [], priority: 1 },
    ]);
    expect([...db.builtin]).toEqual(["e_f"]);
  });

  it("reads `alias PATTERN MODULE` as kmod writes it and as odd whitespace has it", () => {
    const db = parseModuleDb("v", {
      alias: "# Aliases extracted from modules themselves.\nalias pci:v00001AF4d* virtio-pci\nalias\tvirtio:d00000002v*  virtio_blk extra\r\n alias x y\nalias lonely\nalias a\u00a0b c\nxalias p m\n",
      symbols: "alias symbol:register_virtio_driver virtio\n",
    });
    expect(db.aliases).toEqual([
      { pattern: "pci:v00001AF4d*", module: "virtio_pci", symbol: false },
      { pattern: "virtio:d00000002v*", module: "virtio_blk", symbol: false },
      { pattern: "a", module: "b", symbol: false },
      { pattern: "symbol:register_virtio_driver", module: "virtio", symbol: true },
    ]);
    expect(db.aliasesOf(new Set(["virtio", "virtio_blk"]))).toEqual([db.aliases[1], db.aliases[3]]);
  });

  it("gives the aliases of a few modules without reading the others", () => {
    const files = { alias: "alias a m1\nalias b m-2\nalias c m3\n", symbols: "alias symbol:s m-2\n" };
    expect(parseModuleDb("v", files).aliasesOf(new Set(["m_2"]))).toEqual([
      { pattern: "b", module: "m_2", symbol: false },
      { pattern: "symbol:s", module: "m_2", symbol: true },
    ]);
  });

  it("reads missing files as empty ones", () => {
    const db = parseModuleDb("v", {});
    expect([db.modules.size, db.aliases.length, db.builtin.size]).toEqual([0, 0, 0]);
  });
});

describe("moduleName", () => {
  it("drops the last .ko and its compression, and names with underscores", () => {
    expect(["a/b/snd-hda.ko", "x.ko.xz", "x.ko.gz", "x.ko.zst", "x.ko.bz2", "x.ko.ko", "a.ko.gz.ko", "x.kox", "noext", ""].map(moduleName)).toEqual(["snd_hda", "x", "x", "x", "x.ko.bz2", "x.ko", "a.ko.gz", "x.kox", "noext", ""]);
  });
});
