#!/usr/bin/env node
// Builds the sample guest (samples/el6-xen) and prints its folder: the el6-xen guest of the test
// zoo — the very tree of samples/el6-xen/root with a real rpm database, made into an MBR disk by
// mkfs.ext4 -d and sfdisk — beside the Xen domain it ran under. No root, no VM, no network; cached
// by content hash under ~/.cache/leapp/zoo/ ($LEAPP_CACHE_DIR/zoo/ when set).
import { existsSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

const zoo = fileURLToPath(new URL("../tools/zoo/dist/index.js", import.meta.url));

export async function buildSample() {
  if (!existsSync(zoo)) throw new Error(`build-sample: ${zoo} is missing; run 'bash scripts/setup.sh' (or 'pnpm build') first`);
  const { buildSample: build } = await import(zoo);
  return build();
}

// Run as a script (also through a symbolic link to it), not imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${(await buildSample()).dir}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
