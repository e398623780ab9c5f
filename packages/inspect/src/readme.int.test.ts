// The README's TypeScript examples against the package's real API: each block is compiled by tsc
// (strict, as a user's project would) against the sources of @leapp/inspect and @leapp/storage.
// They need disk images, hosts and streams a test cannot name verbatim, so they are type-checked
// rather than run; the behaviour they show is run by the tests beside each source.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const repo = join(pkg, "..", "..");
const blocks = [...readFileSync(join(pkg, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
// Inside the package, so that Node's module resolution finds @types/node and ssh2's types.
const scratch = mkdtempSync(join(pkg, ".readme-check-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("README examples", () => {
  it("has examples, and every one compiles against the package's API", async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const files = blocks.map((code, i) => {
      const file = join(scratch, `example${i}.ts`);
      // What an example uses without making it: the streams it sends.
      writeFileSync(file, `declare const imageStream: AsyncIterable<Uint8Array>;\ndeclare const tarStream: AsyncIterable<Uint8Array>;\n${code}\nexport {};\n`);
      return file;
    });
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        extends: join(repo, "tsconfig.base.json"),
        compilerOptions: {
          noEmit: true,
          noUnusedLocals: false,
          baseUrl: ".",
          paths: {
            "@leapp/inspect": [join(pkg, "src", "index.ts")],
            "@leapp/inspect/ssh": [join(pkg, "src", "ssh.ts")],
            "@leapp/storage": [join(repo, "packages", "storage", "src", "index.ts")],
          },
        },
        files: [...files, join(pkg, "src", "sql-js.d.ts")],
      }),
    );
    const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
    const result = await promisify(execFile)(process.execPath, [tsc, "-p", scratch]).then(
      () => "",
      (err: { stdout?: string }) => err.stdout ?? String(err),
    );
    expect(result).toBe("");
  }, 120_000);
});
