// One inspection by @leapp/inspect in its own process, so its wall time and peak RSS are its own.
// Usage: node inspect-child.mjs IMAGE…  → prints {"ms": …, "maxRssBytes": …, "applications": …}.
import { inspect, openImageGuest } from "../../packages/inspect/dist/index.js";

const started = performance.now();
const guest = await openImageGuest(process.argv.slice(2));
const report = await inspect(guest);
await guest.close();
const ms = performance.now() - started;
process.stdout.write(
  JSON.stringify({ ms, maxRssBytes: process.resourceUsage().maxRSS * 1024, applications: report.applications.length, osinfo: report.os.osinfo }) + "\n",
);
