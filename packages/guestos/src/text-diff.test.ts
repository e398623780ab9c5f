import { describe, expect, it } from "vitest";
import { unifiedDiff } from "./text-diff.js";

const numbers = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");

describe("unifiedDiff", () => {
  it("prints hunks with three lines of context, as diff -u does", () => {
    const before = numbers(12);
    const after = before.replace("3\n", "three\n") + "13\n";
    // What GNU diff -u prints for the same two files (headers aside).
    expect(unifiedDiff(before, after, "a/x", "b/x")).toBe(
      ["--- a/x", "+++ b/x", "@@ -1,6 +1,6 @@", " 1", " 2", "-3", "+three", " 4", " 5", " 6", "@@ -10,3 +10,4 @@", " 10", " 11", " 12", "+13", ""].join("\n"),
    );
  });

  it("is empty for equal texts and whole-file for creations", () => {
    expect(unifiedDiff("a\n", "a\n", "a", "b")).toBe("");
    expect(unifiedDiff("", "x\ny\n", "/dev/null", "b/f")).toBe("--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  });

  it("applies back: the kept and added lines of a random edit rebuild the new text", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 1000) / 1000;
    for (let round = 0; round < 200; round++) {
      const a = Array.from({ length: Math.floor(rand() * 30) }, () => String(Math.floor(rand() * 5)));
      const b = a.filter(() => rand() > 0.2).flatMap((l) => (rand() > 0.8 ? [l, "new"] : [l]));
      const d = unifiedDiff(a.map((l) => `${l}\n`).join(""), b.map((l) => `${l}\n`).join(""), "a", "b", 1_000_000);
      if (a.join() === b.join()) {
        expect(d).toBe("");
        continue;
      }
      const body = d.split("\n").slice(3, -1);
      expect(body.filter((l) => !l.startsWith("-")).map((l) => l.slice(1))).toEqual(b);
      expect(body.filter((l) => !l.startsWith("+")).map((l) => l.slice(1))).toEqual(a);
    }
  });
});
