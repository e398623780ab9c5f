// Benchmark for the volume and filesystem layers of @leapp/inspect, and the two library choices
// they rest on: our ext2/3/4 reader against the `ext2fs` package (libext2fs in WebAssembly), and
// our partition-table reader against `partitioninfo`. Images are built with the real tools and
// cached in the zoo's fixture cache. Run after a build: pnpm turbo run build && node bench/inspect/fs-bench.mjs
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { openFilesystem, readPartitionTable } from "../../packages/inspect/dist/index.js";
import { openDisk } from "../../packages/storage/dist/index.js";
import { cached, seededRandom, xfsProtofile } from "../../tools/zoo/dist/index.js";

const require = createRequire(join(process.cwd(), "packages/inspect/package.json"));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const sh = (cmd, args, input) => execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });

/** A tree like a small /usr: 40 directories × 150 files of 0–16 KiB, plus a few 2 MiB files. */
function buildTree(root) {
  const random = seededRandom(12345);
  mkdirSync(root, { recursive: true });
  for (let d = 0; d < 40; d++) {
    const dir = join(root, `dir${d}`, `sub${d % 7}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 150; f++) {
      const size = Math.floor(random() * 16384);
      writeFileSync(join(dir, `file-${f}-${"n".repeat(f % 30)}`), Buffer.alloc(size, f));
    }
  }
  for (let i = 0; i < 5; i++) writeFileSync(join(root, `big${i}.bin`), Buffer.alloc(2 * 1024 * 1024, i + 1));
}

/** An image built once into the zoo's fixture cache: `build(path, dir)` writes it. */
async function cachedImage(name, build) {
  return join(await cached(`inspect-fs-bench-${name}-v2`, (dir) => build(join(dir, "image.raw"), dir)), "image.raw");
}

const treeDir = join(await cached("inspect-fs-bench-tree-v2", (dir) => buildTree(join(dir, "tree"))), "tree");
const ext4 = await cachedImage("ext4", (path) => sh("mkfs.ext4", ["-q", "-F", "-d", treeDir, path, "160M"]));

/** Walks every entry: readdir, lstat, and readFile for regular files. Returns [entries, bytes]. */
async function walk(fs, path = "/") {
  let entries = 0;
  let bytes = 0;
  for (const name of await fs.readdir(path)) {
    const child = path === "/" ? `/${name}` : `${path}/${name}`;
    const stat = await fs.lstat(child);
    entries++;
    const isDir = typeof stat.isDirectory === "function" ? stat.isDirectory() : stat.type === "directory";
    const isFile = typeof stat.isFile === "function" ? stat.isFile() : stat.type === "file";
    if (isDir) {
      const [e, b] = await walk(fs, child);
      entries += e;
      bytes += b;
    } else if (isFile) bytes += (await fs.readFile(child)).length;
  }
  return [entries, bytes];
}

async function time(label, fn) {
  const runs = [];
  let result;
  for (let i = 0; i < ROUNDS; i++) {
    const start = process.hrtime.bigint();
    result = await fn();
    runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  runs.sort((a, b) => a - b);
  const median = runs[Math.floor(runs.length / 2)];
  console.log(`${label.padEnd(58)} median ${median.toFixed(1).padStart(8)} ms  (${runs.map((r) => r.toFixed(0)).join(", ")})  ${result ?? ""}`);
  return median;
}

const rss = () => `${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MiB RSS`;
console.log(`ext4 image: ${ext4}`);

// 1. ext: ours (open + walk every file) vs ext2fs (mount + the same walk through its fs API).
const ours = await time("ext4 full walk, @leapp/inspect reader", async () => {
  const disk = await openDisk(ext4);
  const fs = await openFilesystem({ device: ext4, block: disk, fsType: "ext4" });
  const [entries, bytes] = await walk(fs);
  await disk.close();
  return `${entries} entries, ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${rss()}`;
});
const oursLookup = await time("ext4 open + read one file 4 dirs deep, ours", async () => {
  const disk = await openDisk(ext4);
  const fs = await openFilesystem({ device: ext4, block: disk, fsType: "ext4" });
  const bytes = (await fs.readFile("/dir33/sub5/file-77-" + "n".repeat(17))).length;
  await disk.close();
  return `${bytes} bytes`;
});
const { withMountedDisk } = await import(require.resolve("ext2fs"));
// file-disk (the Disk class ext2fs and partitioninfo take) comes with them, not as our dependency.
const { FileDisk, withOpenFile } = await import(createRequire(require.resolve("ext2fs")).resolve("file-disk"));
const lib = await time("ext4 full walk, ext2fs (libext2fs in WASM)", () =>
  withOpenFile(ext4, "r", (handle) =>
    withMountedDisk(new FileDisk(handle, true), 0, async ({ promises }) => {
      const [entries, bytes] = await walk(promises);
      return `${entries} entries, ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${rss()}`;
    }),
  ),
);
const libLookup = await time("ext4 mount + read one file 4 dirs deep, ext2fs", () =>
  withOpenFile(ext4, "r", (handle) =>
    withMountedDisk(new FileDisk(handle, true), 0, async ({ promises }) => `${(await promises.readFile("/dir33/sub5/file-77-" + "n".repeat(17))).length} bytes`),
  ),
);
console.log(`ext2fs / ours: full walk ${(lib / ours).toFixed(1)}×, single lookup ${(libLookup / oursLookup).toFixed(1)}×`);

// 2. XFS: ours only (no library exists).
const xfs = await cachedImage("xfs", (path, dir) => {
  const proto = join(dir, "proto");
  writeFileSync(proto, xfsProtofile(treeDir));
  sh("truncate", ["-s", "640M", path]);
  sh("mkfs.xfs", ["-q", "-f", "-p", proto, path]);
});
await time("XFS v5 full walk, @leapp/inspect reader", async () => {
  const disk = await openDisk(xfs);
  const fs = await openFilesystem({ device: xfs, block: disk, fsType: "xfs" });
  const [entries, bytes] = await walk(fs);
  await disk.close();
  return `${entries} entries, ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${rss()}`;
});

// 3. Partition tables: ours vs partitioninfo, on a sane MBR with logicals and on a looping EBR chain.
const mbr = await cachedImage("mbr", (path) => {
  sh("truncate", ["-s", "64M", path]);
  sh("sfdisk", ["-q", path], "label: dos\nstart=2048, size=20480, type=83\nstart=22528, type=5\nstart=24576, size=4096, type=83\nstart=30720, size=4096, type=83\nstart=36864, size=4096, type=83\n");
});
const partitioninfo = await import(require.resolve("partitioninfo"));
const N = 200;
const oursParts = await time(`MBR + 3 logicals ×${N}, ours`, async () => {
  const disk = await openDisk(mbr);
  let n = 0;
  for (let i = 0; i < N; i++) n = (await readPartitionTable(disk)).partitions.length;
  await disk.close();
  return `${n} partitions`;
});
const libParts = await time(`MBR + 3 logicals ×${N}, partitioninfo`, async () => {
  let n = 0;
  for (let i = 0; i < N; i++) n = (await partitioninfo.getPartitions(mbr)).partitions.length;
  return `${n} partitions (extended included)`;
});
console.log(`partitioninfo / ours: ${(libParts / oursParts).toFixed(1)}×`);
// A looping chain: the third EBR's "next" points back at the second.
const looped = Buffer.from(readFileSync(mbr));
const ext = 22528;
const second = ext + looped.readUInt32LE(ext * 512 + 446 + 16 + 8);
const third = ext + looped.readUInt32LE(second * 512 + 446 + 16 + 8);
looped.writeUInt32LE(second - ext, third * 512 + 446 + 16 + 8);
looped[third * 512 + 446 + 16 + 4] = 5;
const loopPath = join(dirname(mbr), "mbr-loop.raw");
writeFileSync(loopPath, looped);
const outcome = async (promise) => {
  const timeout = new Promise((resolve) => setTimeout(() => resolve("no answer within 5 s"), 5000).unref());
  return Promise.race([promise.then((r) => `returned ${r.partitions.length} partitions`, (e) => `threw ${e.code ?? e.name}: ${String(e.message).slice(0, 80)}`), timeout]);
};
const loopDisk = await openDisk(loopPath);
console.log(`looping EBR chain: ours ${await outcome(readPartitionTable(loopDisk))}`);
console.log(`looping EBR chain: partitioninfo ${await outcome(partitioninfo.getPartitions(loopPath))}`);
await loopDisk.close();
process.exit(0);
