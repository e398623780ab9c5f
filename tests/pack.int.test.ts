// Each public package must work alone from npm: pack it as pnpm publishes it (pnpm pack: npm pack
// would leave the workspace: ranges of leapp's own dependencies in place), install the tarballs
// into a scratch project outside the workspace, then load every package at run time with import
// and with require (Node >= 20.19 loads ES modules through require), and compile an ES module and
// a CommonJS file against its types with tsc.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));
const packagesDir = join(repo, "packages");
const publicPackages = readdirSync(packagesDir)
  .map((dir) => ({ dir: join(packagesDir, dir), manifest: JSON.parse(readFileSync(join(packagesDir, dir, "package.json"), "utf8")) }))
  .filter((p) => !p.manifest.private);

let scratch = "";

describe("packages installed from their tarballs", () => {
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "leapp-pack-"));
    const tarballs: Record<string, string> = {};
    for (const p of publicPackages) {
      if (!existsSync(join(p.dir, "dist", "index.js"))) throw new Error(`${p.manifest.name} is not built: run 'pnpm build' first`);
      const { stdout } = await exec("pnpm", ["pack", "--pack-destination", scratch], { cwd: p.dir });
      const tgz = stdout.trim().split("\n").pop()!.trim();
      tarballs[p.manifest.name] = `file:${tgz.startsWith("/") ? tgz : join(scratch, tgz)}`;
    }
    const typesNode = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).devDependencies["@types/node"];
    writeFileSync(
      join(scratch, "package.json"),
      JSON.stringify({ name: "leapp-pack-check", private: true, type: "module", dependencies: { ...tarballs, "@types/node": typesNode } }, null, 2),
    );
    // Outside the workspace, with npm: what a user gets. Install scripts are skipped (ssh2's optional native binding).
    await exec("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], { cwd: scratch, maxBuffer: 1 << 24 });
  }, 600_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("ships only dist, README and package.json (and the storage and inspect addons), with the workspace protocol replaced", async () => {
    for (const p of publicPackages) {
      const root = join(scratch, "node_modules", p.manifest.name);
      const installed = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
      expect(JSON.stringify(installed)).not.toContain("workspace:");
      const files = readdirSync(root).filter((f) => f !== "node_modules").sort();
      if (p.manifest.name === "@leapp/inspect") {
        // The hostfs addon (xattrs, SEEK_DATA of root trees): its source, build script and binary.
        expect(files).toEqual(["README.md", "dist", "native", "package.json"]);
        expect(readdirSync(join(root, "native")).sort()).toEqual(["build.mjs", "hostfs.c", "prebuilds"]);
        expect(readdirSync(join(root, "native", "prebuilds", `${process.platform}-${process.arch}`))).toEqual(["hostfs.node"]);
        continue;
      }
      if (p.manifest.name !== "@leapp/storage") {
        expect(files, p.manifest.name).toEqual(["README.md", "dist", "package.json"]);
        continue;
      }
      // The SEEK_DATA addon: its source, its build script and the binary built for this platform.
      expect(files).toEqual(["README.md", "dist", "native", "package.json"]);
      expect(readdirSync(join(root, "native")).sort()).toEqual(["build.mjs", "prebuilds", "sparse.c"]);
      expect(readdirSync(join(root, "native", "prebuilds", `${process.platform}-${process.arch}`))).toEqual(["sparse.node"]);
    }
  });

  it("maps a sparse raw file's holes through the installed storage package's addon", async () => {
    const script = `
      import { openSync, writeSync, ftruncateSync, closeSync } from "node:fs";
      import { openDisk } from "@leapp/storage";
      const fd = openSync("sparse.raw", "w");
      ftruncateSync(fd, 64 << 20);
      writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 8 << 20);
      closeSync(fd);
      const disk = await openDisk("sparse.raw");
      const extents = [];
      for await (const e of disk.extents()) extents.push(e);
      console.log(JSON.stringify({ mapsHoles: disk.mapsHoles, extents }));
      await disk.close();`;
    writeFileSync(join(scratch, "sparse-check.mjs"), script);
    const { stdout } = await exec(process.execPath, ["sparse-check.mjs"], { cwd: scratch });
    expect(JSON.parse(stdout)).toEqual({
      mapsHoles: true,
      extents: [
        { offset: 0, length: 8 << 20, kind: "zero" },
        { offset: 8 << 20, length: 4096, kind: "data" },
        { offset: (8 << 20) + 4096, length: (56 << 20) - 4096, kind: "zero" },
      ],
    });
  });

  it("reads a root tree's xattrs through the installed inspect package's addon, and exports @leapp/inspect/ssh", async () => {
    const script = `
      import { mkdirSync, writeFileSync } from "node:fs";
      import { execFileSync } from "node:child_process";
      import { openDirectoryGuest } from "@leapp/inspect";
      import { connectSsh } from "@leapp/inspect/ssh";
      mkdirSync("tree/bin", { recursive: true });
      writeFileSync("tree/bin/ping", "x");
      execFileSync("setfattr", ["-n", "user.check", "-v", "ok", "tree/bin/ping"]);
      const guest = await openDirectoryGuest("tree");
      const value = (await guest.xattrs("/bin/ping")).get("user.check");
      await guest.close();
      console.log(JSON.stringify({ xattr: new TextDecoder().decode(value), connectSsh: typeof connectSsh }));`;
    writeFileSync(join(scratch, "xattr-check.mjs"), script);
    const { stdout } = await exec(process.execPath, ["xattr-check.mjs"], { cwd: scratch });
    expect(JSON.parse(stdout)).toEqual({ xattr: "ok", connectSsh: "function" });
  });

  it("imports every package at run time with plain Node ESM", async () => {
    const names = publicPackages.map((p) => p.manifest.name);
    const script = `
      const names = ${JSON.stringify(names)};
      const out = {};
      for (const n of names) out[n] = Object.keys(await import(n)).sort();
      console.log(JSON.stringify(out));`;
    writeFileSync(join(scratch, "import-all.mjs"), script);
    const { stdout } = await exec(process.execPath, ["import-all.mjs"], { cwd: scratch });
    const exported: Record<string, string[]> = JSON.parse(stdout);
    for (const p of publicPackages) {
      // What the installed package exports at run time is what its source index exports.
      const source = await import(join(p.dir, "src", "index.ts"));
      expect(exported[p.manifest.name], p.manifest.name).toEqual(Object.keys(source).sort());
    }
  });

  it("requires every package from CommonJS, with the same exports as import", async () => {
    const names = publicPackages.map((p) => p.manifest.name);
    const script = `
      const names = ${JSON.stringify(names)};
      const out = {};
      for (const n of names) out[n] = Object.keys(require(n)).sort();
      console.log(JSON.stringify(out));`;
    writeFileSync(join(scratch, "require-all.cjs"), script);
    const { stdout, stderr } = await exec(process.execPath, ["require-all.cjs"], { cwd: scratch });
    const required: Record<string, string[]> = JSON.parse(stdout);
    for (const p of publicPackages) {
      const source = await import(join(p.dir, "src", "index.ts"));
      expect(required[p.manifest.name], p.manifest.name).toEqual(Object.keys(source).sort());
    }
    expect(stderr).not.toMatch(/ERR_|Error/);
  });

  it("type-checks an ES module and a CommonJS consumer against every package's .d.ts", async () => {
    const lines = publicPackages.map((p, i) => `import * as p${i} from "${p.manifest.name}";\nexport const k${i}: string[] = Object.keys(p${i});`);
    writeFileSync(join(scratch, "consumer.ts"), lines.join("\n") + "\n");
    const cjs = publicPackages.map((p, i) => `import p${i} = require("${p.manifest.name}");\nexport const k${i}: string[] = Object.keys(p${i});`);
    writeFileSync(join(scratch, "consumer.cts"), cjs.join("\n") + "\n");
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, types: ["node"] }, files: ["consumer.ts", "consumer.cts"] }),
    );
    const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
    await expect(exec(process.execPath, [tsc, "-p", scratch])).resolves.toBeDefined();
  });
});
