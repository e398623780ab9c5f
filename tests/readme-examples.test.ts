import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findReadmes, parseExamples } from "./readme-examples.js";

const md = (...lines: string[]) => lines.join("\n");

describe("parseExamples", () => {
  it("finds sh, js, mjs and ts fences with their line, and leaves other fences alone", () => {
    const text = md("# x", "```sh", "leapp --version", "```", "", "```yaml", "a: 1", "```", "```", "plain", "```", "````ts", "const a = 1;", "```", "still ts", "````", "```mjs", "console.log(1);", "```");
    expect(parseExamples("R.md", text)).toEqual([
      { readme: "R.md", line: 2, language: "sh", code: "leapp --version\n" },
      { readme: "R.md", line: 12, language: "ts", code: "const a = 1;\n```\nstill ts\n" },
      { readme: "R.md", line: 17, language: "js", code: "console.log(1);\n" },
    ]);
  });

  it("takes a skip directive with its reason from the line above the fence", () => {
    const text = md("<!-- example: skip needs an SSH server -->", "```sh", "leapp inspect ssh://h", "```");
    expect(parseExamples("R.md", text)[0]).toMatchObject({ skip: "needs an SSH server" });
  });

  it("refuses a skip without a reason, an unknown directive, and a fence left open", () => {
    expect(() => parseExamples("R.md", md("<!-- example: skip -->", "```sh", "x", "```"))).toThrow(/needs its reason/);
    expect(() => parseExamples("R.md", md("<!-- example: only-on-tuesdays -->", "```sh", "x", "```"))).toThrow(/unknown example directive/);
    expect(() => parseExamples("R.md", md("<!-- example: skip why -->", "```yaml", "x", "```"))).toThrow(/never runs/);
    expect(() => parseExamples("R.md", md("```sh", "x"))).toThrow(/never closed/);
  });

  it("refuses a shell pipe into a reader that may stop early, which races the writer under pipefail", () => {
    expect(() => parseExamples("R.md", md("```sh", "leapp ls d.img", "tar -tf a.tar | head -3", "```"))).toThrow(/R.md:3: a pipe into a reader that may stop early/);
    expect(() => parseExamples("R.md", md("```sh", "tar -tf a.tar | grep -q manifest", "```"))).toThrow(/may stop early/);
    expect(() => parseExamples("R.md", md("```sh", "tar -tf a.tar | sed 1q", "```"))).toThrow(/may stop early/);
    expect(parseExamples("R.md", md("```sh", "tar -tf a.tar | grep manifest", "tar -tf a.tar | sort", "```"))).toHaveLength(1);
    expect(parseExamples("R.md", md("```yaml", "x: a | head", "```"))).toHaveLength(0);
  });

  it("reads every README of the repository without complaint", () => {
    const repo = fileURLToPath(new URL("..", import.meta.url));
    const readmes = findReadmes(repo);
    expect(readmes).toEqual(expect.arrayContaining(["README.md", "packages/storage/README.md", "apps/cli/README.md", "samples/el6-xen/README.md", "tools/zoo/README.md"]));
    for (const r of readmes) parseExamples(r, readFileSync(join(repo, r), "utf8"));
  });
});
