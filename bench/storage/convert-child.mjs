// One conversion by @leapp/storage in its own process, so its wall time and peak RSS are its own.
// Usage: node convert-child.mjs SRC DST raw|qcow2   → prints {"convertSeconds": …, "maxRssBytes": …}.
import { convertDisk } from "../../packages/storage/dist/index.js";

const [source, target, format] = process.argv.slice(2);
const started = performance.now();
await convertDisk(source, target, { format });
const convertSeconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ convertSeconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + "\n");
