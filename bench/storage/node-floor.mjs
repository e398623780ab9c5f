// The floor under any Node conversion: copies the data extents of a raw file into a new raw file
// with nothing but fs.promises (4 workers, 2 MiB pieces, as convertDisk), holes found by the same
// SEEK_DATA addon. No format logic, no zero detection, no progress.
// Usage: node node-floor.mjs SRC.raw DST   → prints {"copySeconds": …, "maxRssBytes": …}.
import { open } from "node:fs/promises";
import { createRequire } from "node:module";

const [source, target] = process.argv.slice(2);
const addon = createRequire(import.meta.url)(`../../packages/storage/native/prebuilds/${process.platform}-${process.arch}/sparse.node`);
const started = performance.now();
const src = await open(source, "r");
const size = (await src.stat()).size;
const PIECE = 2 * 1024 * 1024;
const pieces = [];
for (let at = 0; at < size; ) {
  const data = addon.seek(src.fd, at, 0);
  if (data < 0) break;
  const hole = addon.seek(src.fd, data, 1);
  const end = hole < 0 ? size : hole;
  for (let p = data; p < end; p += PIECE) pieces.push([p, Math.min(PIECE, end - p)]);
  at = end;
}
const dst = await open(target, "wx");
await dst.truncate(size);
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    const buffer = Buffer.allocUnsafe(PIECE);
    while (next < pieces.length) {
      const [at, n] = pieces[next++];
      await src.read(buffer, 0, n, at);
      await dst.write(buffer, 0, n, at);
    }
  }),
);
await dst.close();
await src.close();
const copySeconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ copySeconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + "\n");
