// One whole-process run of the XFS writer: copies a host tree into an empty XFS image (directories,
// files, owners and modes), flushes, and prints its peak RSS. Used by xfs-write.mjs.
import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { xfsDriver } from "../../packages/inspect/dist/index.js";
import { openDisk } from "../../packages/storage/dist/index.js";

const [tree, image] = process.argv.slice(2);
const device = await openDisk(image, { format: "raw", writable: true });
const fs = await xfsDriver.open(device, { writable: true });
let files = 0;
// One reused read buffer: the writer copies what it is given, so host files need no buffer each.
let buffer = Buffer.alloc(1 << 20);
const readHost = (path, size) => {
  if (size > buffer.length) buffer = Buffer.alloc(size);
  const fd = openSync(path, "r");
  let done = 0;
  while (done < size) {
    const n = readSync(fd, buffer, done, size - done, done);
    if (n === 0) break;
    done += n;
  }
  closeSync(fd);
  return buffer.subarray(0, done);
};
const copy = async (host, guest) => {
  for (const name of readdirSync(host).sort()) {
    if (name === ".complete") continue;
    const from = join(host, name);
    const to = guest === "/" ? `/${name}` : `${guest}/${name}`;
    const st = lstatSync(from);
    const attributes = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeNs: st.mtimeNs };
    if (st.isDirectory()) {
      await fs.mkdir(to, attributes);
      await copy(from, to);
    } else {
      await fs.writeFile(to, readHost(from, st.size), attributes);
      files++;
    }
  }
};
await copy(tree, "/");
await fs.close();
await device.close();
console.log(JSON.stringify({ files, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
