// One conversion by @leapp/storage in its own process, so its wall time and peak RSS are its own.
// Usage: node convert-child.mjs SRC DST raw|qcow2   → prints {"maxRssBytes": …} on stdout.
import { convertDisk } from "../../packages/storage/dist/index.js";

const [source, target, format] = process.argv.slice(2);
await convertDisk(source, target, { format });
process.stdout.write(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + "\n");
