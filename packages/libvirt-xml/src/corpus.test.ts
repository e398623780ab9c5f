// readSource on virt-v2v's own test inputs, compared with everything virt-v2v printed for them —
// here including the facts the CLI's JSON leaves out (VM genid, CPU vendor/model/topology, features).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compareFacts, expectedForm, haveVirtV2vCorpus as haveCorpus, listCorpusCases, parsePrintSource, parseTargetDisks, virtV2vCorpusDir as corpus } from "@leapp/zoo";
import { readSource } from "./read-source.js";

const work = mkdtempSync(join(tmpdir(), "leapp-corpus-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!haveCorpus)("readSource on the virt-v2v corpus", () => {
  const cases = haveCorpus ? listCorpusCases(readdirSync(corpus), corpus) : [];
  const printSource = cases.filter((c) => expectedForm(readFileSync(c.expected, "utf8")) === "print-source");

  it.each(printSource.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    let input = c.input;
    if (input.endsWith(".in")) {
      input = join(work, `${c.name}.xml`);
      writeFileSync(input, readFileSync(c.input, "utf8").replaceAll("@abs_top_builddir@", work));
    }
    const { format, source } = await readSource(input);
    expect(format).toBe(c.format);
    const result = compareFacts(parsePrintSource(readFileSync(c.expected, "utf8")), source);
    expect(result.mismatches).toEqual([]);
    // name … features, disks, removables and NICs: never fewer than 14 facts per input.
    expect(result.checked).toBeGreaterThanOrEqual(14);
  });

  it("knows both kinds of .expected", () => {
    expect(printSource.length).toBeGreaterThanOrEqual(14);
    const targets = cases.filter((c) => !printSource.includes(c));
    for (const c of targets) expect(parseTargetDisks(readFileSync(c.expected, "utf8")).removables.length).toBeGreaterThan(0);
  });
});
