#!/usr/bin/env node
// Builds the optional SEEK_DATA/SEEK_HOLE addon (sparse.c) into prebuilds/<platform>-<arch>/.
// Plain cc against the Node-API headers: no node-gyp, nothing downloaded. Without a compiler or
// headers it says so and exits 0 — @leapp/storage then finds holes by scanning, as before.
//   node native/build.mjs [--required]   (--required: fail instead of skipping)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const required = process.argv.includes("--required");
const outDir = join(here, "prebuilds", `${process.platform}-${process.arch}`);
const target = join(outDir, "sparse.node");

function skip(why) {
  if (required) {
    console.error(`native/build: ${why}`);
    process.exit(1);
  }
  console.warn(`native/build: ${why}; raw images will be scanned for holes instead`);
  process.exit(0);
}

if (process.platform === "win32") skip("no lseek(SEEK_DATA) on Windows");

function headerDirs() {
  const dirs = [];
  try {
    dirs.push(join(dirname(createRequire(import.meta.url).resolve("node-api-headers/package.json")), "include"));
  } catch {
    // not installed: Node's own headers below
  }
  dirs.push(join(dirname(process.execPath), "..", "include", "node"));
  return dirs.filter((dir) => existsSync(join(dir, "node_api.h")));
}

const include = headerDirs()[0];
if (!include) skip("no node_api.h found (install node-api-headers)");

mkdirSync(outDir, { recursive: true });
const partial = `${target}.partial`;
// Node-API symbols are resolved against the running node when the addon is loaded.
const flags = ["-O2", "-fPIC", "-shared", "-std=c11", "-Wall", "-Wextra", "-Werror", `-I${include}`, "-o", partial, join(here, "sparse.c")];
if (process.platform === "darwin") flags.push("-undefined", "dynamic_lookup");
for (const cc of [process.env.CC, "cc", "gcc", "clang"].filter(Boolean)) {
  const result = spawnSync(cc, flags, { encoding: "utf8" });
  if (result.error) continue; // no such compiler
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    skip(`${cc} failed:\n${result.stderr}`);
  }
  renameSync(partial, target);
  process.exit(0);
}
skip("no C compiler (cc, gcc or clang)");
