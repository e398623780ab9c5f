#!/usr/bin/env node
// The Node floor for the tar writer bench: the same walk and reads with fs.promises and no leapp
// code at all (readdir, lstat, open, fstat, read, close; content to stdout, no tar headers).
// What any tar writer on Node's asynchronous file system calls pays before its first header.
//   node node-floor.mjs ROOT
import { lstat, open, readdir } from "node:fs/promises";
import { join } from "node:path";

const root = process.argv[2];
const buffer = Buffer.allocUnsafe(1 << 20);
const out = process.stdout;
const started = process.hrtime.bigint();
async function walk(dir) {
  const names = (await readdir(dir)).sort();
  const stats = await Promise.all(names.map((n) => lstat(join(dir, n), { bigint: true })));
  for (const [i, name] of names.entries()) {
    const path = join(dir, name);
    if (stats[i].isDirectory()) await walk(path);
    else if (stats[i].isFile()) {
      const file = await open(path, "r");
      const size = Number((await file.stat()).size);
      for (let at = 0; at < size; ) {
        const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - at), at);
        if (bytesRead === 0) break;
        at += bytesRead;
        if (!out.write(Buffer.from(buffer.subarray(0, bytesRead)))) await new Promise((r) => out.once("drain", r));
      }
      await file.close();
    }
  }
}
await walk(root);
process.stderr.write(JSON.stringify({ ms: Number(process.hrtime.bigint() - started) / 1e6, maxRssKiB: process.resourceUsage().maxRSS }) + "\n");
