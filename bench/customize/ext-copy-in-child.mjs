// One copy-in, in its own process so its wall time and peak RSS are its own:
//   node ext-copy-in-child.mjs leapp|ext2fs <image> <tree>
// copies every directory, file and symlink of <tree> (modes, owners, times) into the empty ext4
// filesystem of <image>, then prints {ms, maxRssMiB, files, bytes} as JSON.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [engine, image, tree] = process.argv.slice(2);
const started = performance.now();
let files = 0;
let bytes = 0;

/** Walks the host tree depth first, calling the engine's operations with guest paths. */
async function copy(ops, host = tree, guest = "") {
  for (const entry of readdirSync(host, { withFileTypes: true })) {
    const from = join(host, entry.name);
    const to = `${guest}/${entry.name}`;
    const st = lstatSync(from, { bigint: true });
    const attributes = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
    if (entry.isDirectory()) {
      await ops.mkdir(to, attributes);
      await copy(ops, from, to);
    } else if (entry.isSymbolicLink()) {
      await ops.symlink(readlinkSync(from), to, attributes);
    } else if (entry.isFile()) {
      const data = readFileSync(from);
      await ops.writeFile(to, data, attributes);
      files++;
      bytes += data.length;
    }
  }
}

if (engine === "leapp") {
  const { extDriver } = await import(join(here, "../../packages/inspect/dist/index.js"));
  const { openDisk } = await import(join(here, "../../packages/storage/dist/index.js"));
  const device = await openDisk(image, { format: "raw", writable: true });
  const fs = await extDriver.open(device, { writable: true });
  await copy(fs);
  await fs.close();
  await device.close();
} else if (engine === "ext2fs") {
  // libext2fs in WebAssembly, through its fs-like API (the library the issue asks us to weigh).
  // It cannot set times (its utimes throws "unimplemented") nor extended attributes: those are left out.
  const require = createRequire(join(here, "../../packages/inspect/package.json"));
  const { withMountedDisk } = await import(require.resolve("ext2fs"));
  const { FileDisk, withOpenFile } = await import(createRequire(require.resolve("ext2fs")).resolve("file-disk"));
  await withOpenFile(image, "r+", (handle) =>
    withMountedDisk(new FileDisk(handle), 0, async ({ promises: fs }) => {
      await copy({
        mkdir: async (path, a) => {
          await fs.mkdir(path, a.mode);
          await fs.chown(path, a.uid, a.gid);
        },
        symlink: (target, path) => fs.symlink(target, path),
        writeFile: async (path, data, a) => {
          await fs.writeFile(path, data, { mode: a.mode });
          await fs.chown(path, a.uid, a.gid);
        },
      });
    }),
  );
} else {
  console.error(`unknown engine ${engine}`);
  process.exit(2);
}
console.log(JSON.stringify({ ms: performance.now() - started, maxRssMiB: process.resourceUsage().maxRSS / 1024, files, bytes }));
