// Every usage example of every README runs, verbatim, against the sample guest: sh blocks with
// bash, js/mjs blocks with node, ts blocks type-checked against the packages' published types
// and then run. Each README's blocks run in order in a scratch directory of their own that holds
// the sample's files under the names the examples use (docs/readme-examples.md lists them), and
// the sample itself must come out unchanged.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSample, type Sample } from "../tools/zoo/src/index.js";
import { findReadmes, parseExamples, type Example } from "./readme-examples.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const readmes = findReadmes(repo);
const examples = readmes.map((readme) => ({ readme, examples: parseExamples(readme, readFileSync(join(repo, readme), "utf8")) }));
const root = mkdtempSync(join(tmpdir(), "leapp-readme-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let sample: Sample;
/** The sample's files as the examples name them, and their hashes before any example ran. */
const fixtures = join(root, "fixtures");
const before = new Map<string, string>();

const hashOf = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const slug = (readme: string) => readme.replace(/\/?README\.md$/, "").replaceAll("/", "-") || "root";

beforeAll(async () => {
  for (const built of ["packages/storage/dist/index.js", "packages/inspect/dist/index.js", "packages/libvirt-xml/dist/index.js", "apps/cli/dist/cli.js", "tools/zoo/dist/index.js"]) {
    if (!existsSync(join(repo, built))) throw new Error(`${built} is missing: run 'pnpm build' first`);
  }
  sample = await buildSample();
  mkdirSync(fixtures);
  symlinkSync(realpathSync(sample.disk), join(fixtures, "disk.img"));
  copyFileSync(sample.domainXml, join(fixtures, "domain.xml"));
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", sample.disk, join(fixtures, "guest.qcow2")]);
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", sample.disk, join(fixtures, "guest.vmdk")]);
  for (const f of ["disk.img", "domain.xml", "guest.qcow2", "guest.vmdk"]) before.set(f, hashOf(join(fixtures, f)));

  // Packages resolve as a user's project resolves them: by name, through their exports maps.
  const modules = join(root, "node_modules");
  mkdirSync(join(modules, "@leapp"), { recursive: true });
  mkdirSync(join(modules, "@types"));
  for (const name of ["storage", "inspect", "libvirt-xml", "guestos", "hv-targets", "packager", "appliance-seed"]) {
    if (existsSync(join(repo, "packages", name))) symlinkSync(join(repo, "packages", name), join(modules, "@leapp", name));
  }
  symlinkSync(join(repo, "tools", "zoo"), join(modules, "@leapp", "zoo"));
  symlinkSync(join(repo, "node_modules", "@types", "node"), join(modules, "@types", "node"));
  // `leapp` on PATH, as installing the CLI puts it there.
  mkdirSync(join(root, "bin"));
  writeFileSync(join(root, "bin", "leapp"), `#!/bin/sh\nexec "${process.execPath}" "${join(repo, "apps", "cli", "dist", "cli.js")}" "$@"\n`);
  chmodSync(join(root, "bin", "leapp"), 0o755);
}, 600_000);

/** A README's scratch directory: the sample's files, and the repository's folders by their names. */
function scratch(readme: string): string {
  const dir = join(root, slug(readme));
  if (existsSync(dir)) return dir;
  mkdirSync(dir);
  // Hard links (copies across filesystems), not symlinks: leapp refuses a backing file that is a
  // link leading out of its image's directory, and examples put overlays on these images.
  for (const f of ["disk.img", "domain.xml", "guest.qcow2", "guest.vmdk"]) {
    const real = realpathSync(join(fixtures, f));
    try {
      linkSync(real, join(dir, f));
    } catch {
      copyFileSync(real, join(dir, f));
    }
  }
  symlinkSync(join(repo, "samples", "el6-xen", "networks.yaml"), join(dir, "networks.yaml"));
  for (const d of ["apps", "packages", "samples", "scripts", "tools"]) symlinkSync(join(repo, d), join(dir, d));
  return dir;
}

function fileOf(example: Example, index: number): string {
  return join(scratch(example.readme), `example-${index}.${example.language === "sh" ? "sh" : example.language === "js" ? "mjs" : "mts"}`);
}

function run(example: Example, index: number): void {
  const file = fileOf(example, index);
  let command: string[];
  if (example.language === "sh") {
    writeFileSync(file, example.code);
    command = ["bash", "-euo", "pipefail", file];
  } else {
    const code = example.language === "ts" ? ts.transpileModule(example.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText : example.code;
    const script = file.replace(/\.mts$/, ".mjs");
    writeFileSync(script, code);
    command = [process.execPath, script];
  }
  const r = spawnSync(command[0]!, command.slice(1), {
    cwd: scratch(example.readme),
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, PATH: `${join(root, "bin")}:${process.env.PATH}`, SAMPLE: sample.dir },
  });
  if (r.status !== 0) {
    throw new Error(`${example.readme}:${example.line}: the ${example.language} example failed (exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
}

describe("README examples", () => {
  it("every ts example type-checks against the packages' published types", () => {
    const files = new Map<string, Example>();
    examples.forEach(({ examples: list }) =>
      list.forEach((e, i) => {
        if (e.language !== "ts" || e.skip !== undefined) return;
        const file = fileOf(e, i);
        writeFileSync(file, e.code);
        files.set(file, e);
      }),
    );
    const program = ts.createProgram([...files.keys()], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ["node"],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const example = d.file ? files.get(d.file.fileName) : undefined;
      const where = example && d.file && d.start !== undefined ? `${example.readme}:${example.line + 1 + d.file.getLineAndCharacterOfPosition(d.start).line}` : (d.file?.fileName ?? "");
      return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    expect(problems).toEqual([]);
  }, 120_000);

  for (const { readme, examples: list } of examples.filter((e) => e.examples.length > 0)) {
    describe(readme, () => {
      list.forEach((example, index) => {
        const name = `line ${example.line} (${example.language})`;
        if (example.skip !== undefined) it.skip(`${name}: skipped, ${example.skip}`, () => {});
        else it(name, () => run(example, index), 300_000);
      });
    });
  }

  it("left the sample's files as they were", () => {
    for (const [f, hash] of before) expect(hashOf(join(fixtures, f)), f).toBe(hash);
  });
});
