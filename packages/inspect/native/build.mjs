#!/usr/bin/env node
// Compiles native/hostfs.c (extended attributes and SEEK_DATA for the directory source) into
// prebuilds/<platform>-<arch>/hostfs.node with the system's C compiler and the Node-API headers —
// no node-gyp, nothing downloaded. Where that is impossible it says what is missing and exits 0:
// the directory source then reports that it cannot read xattrs. `--required` makes it fail instead.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "prebuilds", `${process.platform}-${process.arch}`);
const target = join(outDir, "hostfs.node");

function giveUp(why) {
  const required = process.argv.includes("--required");
  console[required ? "error" : "warn"](`native/build: ${why}${required ? "" : "; directory sources will read no extended attributes"}`);
  process.exit(required ? 1 : 0);
}

if (process.platform !== "linux") giveUp(`the addon uses Linux calls; ${process.platform} has none of them`);

const includeDirs = [join(dirname(process.execPath), "..", "include", "node")];
try {
  includeDirs.unshift(join(dirname(createRequire(import.meta.url).resolve("node-api-headers/package.json")), "include"));
} catch {
  // node-api-headers not installed: Node's own headers, when this Node ships them
}
const include = includeDirs.find((dir) => existsSync(join(dir, "node_api.h")));
if (!include) giveUp("no node_api.h (install node-api-headers, or a Node that ships its headers)");

mkdirSync(outDir, { recursive: true });
const partial = `${target}.partial`;
// Node-API symbols resolve against the node process that loads the addon.
const args = ["-O2", "-fPIC", "-shared", "-std=c11", "-Wall", "-Wextra", "-Werror", `-I${include}`, "-o", partial, join(here, "hostfs.c")];
for (const cc of [process.env.CC, "cc", "gcc", "clang"].filter(Boolean)) {
  const result = spawnSync(cc, args, { encoding: "utf8" });
  if (result.error) continue;
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    giveUp(`${cc} failed:\n${result.stderr}`);
  }
  renameSync(partial, target);
  process.exit(0);
}
giveUp("no C compiler (cc, gcc or clang)");
