#!/usr/bin/env node
// One measured run of a tar writer on a directory source (or, with --image, a disk image), the
// archive to stdout:
//   node tar-child.mjs ROOT [--writer leapp|tar-stream] [--compress none|gzip|zstd]
//   node tar-child.mjs --image IMAGE [...]
// leapp: @leapp/packager's walker and writer (what `leapp containerize` streams). tar-stream:
// the same walk, each entry handed to tar-stream's pack, for the README's choice of writer.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const load = (pkg) => import(join(repo, "packages", pkg, "dist", "index.js"));
const { openDirectoryGuest, openImageGuest } = await load("inspect");
const { walkGuest, writeLayerTar, descriptorOutput } = await load("packager");

const argv = process.argv.slice(2);
const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const imagePath = opt("--image", undefined);
const root = argv[0];
const writer = opt("--writer", "leapp");
const compression = opt("--compress", "none");

// The writer's own time, as a program that imports the packages sees it: from opening the source
// to the last byte written, without Node's start and the imports.
const started = process.hrtime.bigint();
const guest = imagePath ? await openImageGuest([imagePath]) : await openDirectoryGuest(root);
// Standard output as a descriptor output (never through process.stdout, which makes a pipe
// non-blocking): written in order on libuv's pool while the next chunks are made.
const sink = descriptorOutput(1, { compression });

if (writer === "leapp") {
  await writeLayerTar(guest, walkGuest(guest, { xattrs: false }), (chunk) => sink.write(chunk));
} else {
  const { pack } = createRequire(join(repo, "packages", "packager", "package.json"))("tar-stream");
  const p = pack();
  const pumped = (async () => {
    for await (const chunk of p) await sink.write(chunk);
  })();
  const types = { file: "file", directory: "directory", symlink: "symlink", hardlink: "link", chardev: "character-device", blockdev: "block-device", fifo: "fifo" };
  for await (const { guestPath, entry } of walkGuest(guest, { xattrs: false })) {
    const header = { name: entry.path, type: types[entry.type], mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: new Date(Number(entry.mtimeNs / 1_000_000n)), size: entry.type === "file" ? entry.size : 0, linkname: entry.linkTarget, devmajor: entry.rdevMajor, devminor: entry.rdevMinor };
    // tar-stream waits for a content stream unless it is handed a buffer, even an empty one.
    const body = entry.type === "file" && entry.size > 0 ? await guest.readFile(guestPath, { maxBytes: Number.MAX_SAFE_INTEGER }) : Buffer.alloc(0);
    await new Promise((resolve, reject) => p.entry(header, body, (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  await pumped;
}
await sink.commit();
await guest.close();
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stderr.write(JSON.stringify({ ms, maxRssKiB: process.resourceUsage().maxRSS }) + "\n");
