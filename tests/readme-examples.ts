// Finding the examples of the project's READMEs: every fenced block in a language we can run, with
// where it is and whether it says it must be skipped (docs/readme-examples.md has the conventions).
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";

export type ExampleLanguage = "sh" | "js" | "ts";

export interface Example {
  /** The README, relative to the repository. */
  readme: string;
  /** 1-based line of the opening fence. */
  line: number;
  language: ExampleLanguage;
  code: string;
  /** Why it does not run here, when its README says so (`<!-- example: skip REASON -->`). */
  skip?: string;
}

const languages: Record<string, ExampleLanguage> = { sh: "sh", bash: "sh", js: "js", mjs: "js", javascript: "js", ts: "ts", typescript: "ts" };

/** The line right above a fence may carry a directive for it: `<!-- example: skip why -->`. */
const directive = /^<!--\s*example:\s*(\S+)\s*(.*?)\s*-->$/;

/** Every README.md of the repository: the root's, and those of packages, apps, tools and samples. */
export function findReadmes(repo: string): string[] {
  const found = [join(repo, "README.md")];
  for (const group of ["packages", "apps", "tools", "samples"]) {
    const dir = join(repo, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) if (existsSync(join(dir, name, "README.md"))) found.push(join(dir, name, "README.md"));
  }
  return found.map((f) => relative(repo, f));
}

/**
 * The runnable examples of a Markdown text. Fences of other languages (yaml, text, none) are
 * left alone; a directive other than `skip`, or a skip without its reason, is an error.
 */
export function parseExamples(readme: string, text: string): Example[] {
  const lines = text.split("\n");
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const end = lines.findIndex((l, j) => j > i && l.trim() === fence);
    if (end < 0) throw new Error(`${readme}:${i + 1}: the fence opened here is never closed`);
    const language = languages[open[2]!.toLowerCase()];
    const above = (lines[i - 1] ?? "").trim();
    const d = directive.exec(above);
    if (d && d[1] !== "skip") throw new Error(`${readme}:${i}: unknown example directive '${d[1]}' (only 'skip REASON' exists)`);
    if (d && d[2] === "") throw new Error(`${readme}:${i}: 'example: skip' needs its reason: say why this cannot run here`);
    const body = lines.slice(i + 1, end);
    if (language === "sh") refuseEarlyExit(readme, i + 1, body);
    if (language !== undefined) {
      const example: Example = { readme, line: i + 1, language, code: body.join("\n") + "\n" };
      if (d) example.skip = d[2];
      examples.push(example);
    } else if (d) throw new Error(`${readme}:${i}: 'example: skip' above a ${open[2] || "plain"} fence, which never runs`);
    i = end;
  }
  return examples;
}

/**
 * Shell examples run under `pipefail`, so a pipe into a reader that stops early (`head`, `grep -q`)
 * fails whenever the writer is still writing when it exits (SIGPIPE, 141): a race, not a result.
 */
function refuseEarlyExit(readme: string, fenceLine: number, code: string[]): void {
  code.forEach((l, k) => {
    if (/\|\s*(head|grep\s+(-\w*q|--quiet)|sed\s+(-n\s+)?['"]?\d*q)\b/.test(l)) {
      throw new Error(`${readme}:${fenceLine + k + 1}: a pipe into a reader that may stop early fails under pipefail when the writer is still writing: show the whole output, or read a file`);
    }
  });
}
