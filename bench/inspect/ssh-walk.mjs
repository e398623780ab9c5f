#!/usr/bin/env node
// A whole-tree walk of a live host over SSH, as packaging a running machine into a container image
// does it (readdir, then lstat, readlink and xattrs of every entry), against what a user would
// otherwise run: OpenSSH's `ssh HOST find ROOT -printf …` (one command that lists everything, no
// xattrs) and `ssh HOST tar c ROOT` piped to nothing (the files too), plus the same walk of the
// same tree through the directory source on this host. The host is a real sshd started here on
// 127.0.0.1 serving the debian-12 zoo guest's root tree (about 11,700 entries).
//
//   node bench/inspect/ssh-walk.mjs [--runs N] [--json]
//
// Needs a build of @leapp/inspect and the debian-12 zoo image (the slow test tier builds it).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const runs = args.includes("--runs") ? Math.max(1, Number(args[args.indexOf("--runs") + 1]) || 3) : 3;
const json = args.includes("--json");
const dist = join(repo, "packages/inspect/dist/index.js");
if (!existsSync(dist)) {
  console.error("build @leapp/inspect first: pnpm turbo run build --filter @leapp/inspect");
  process.exit(2);
}
const { openDirectoryGuest, openSshGuest } = await import(dist);

const zoo = join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "zoo");
const guestDir = existsSync(zoo)
  ? readdirSync(zoo).filter((d) => d.startsWith("debian-12-") && existsSync(join(zoo, d, "root"))).map((d) => join(zoo, d)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
  : undefined;
if (!guestDir) {
  console.error("no debian-12 zoo tree: run the slow tier once (pnpm exec vitest run --project slow packages/inspect/src/os/inspect-zoo.slow.test.ts)");
  process.exit(2);
}
const tree = join(guestDir, "root");

// ---- a private sshd on 127.0.0.1 -----------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), "leapp-ssh-bench-"));
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
for (const key of ["host_key", "client_key"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(work, key)]);
writeFileSync(join(work, "authorized_keys"), readFileSync(join(work, "client_key.pub")));
writeFileSync(
  join(work, "sshd_config"),
  [`Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${join(work, "host_key")}`, `PidFile ${join(work, "sshd.pid")}`, `AuthorizedKeysFile ${join(work, "authorized_keys")}`, "PasswordAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp", ""].join("\n"),
);
const hostPub = readFileSync(join(work, "host_key.pub"), "utf8").trim().split(/\s+/);
const knownHosts = join(work, "known_hosts");
writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
const sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(work, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
await new Promise((resolve, reject) => {
  let log = "";
  sshd.stderr.on("data", (d) => {
    log += d;
    if (log.includes("Server listening")) resolve();
  });
  sshd.once("exit", (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
});
const identity = join(work, "client_key");
const sshArgs = ["-o", `UserKnownHostsFile=${knownHosts}`, "-o", "BatchMode=yes", "-i", identity, "-p", String(port), "root@127.0.0.1"];

// ---- the runs ------------------------------------------------------------------------------
async function walk(guest) {
  let entries = 0;
  const visit = async (dir) => {
    for (const name of await guest.readdir(dir)) {
      const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
      const st = await guest.lstat(path);
      if (st.type === "symlink") await guest.readlink(path);
      await guest.xattrs(path);
      entries++;
      if (st.type === "directory") await visit(path);
    }
  };
  await visit("/");
  return entries;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(f) {
  const ms = [];
  let out;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await f();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), out };
}

try {
  const leapp = await time(async () => {
    const guest = await openSshGuest(`ssh://root@127.0.0.1:${port}`, { identity, knownHosts, root: tree });
    try {
      return await walk(guest);
    } finally {
      await guest.close();
    }
  });
  const local = await time(async () => {
    const guest = await openDirectoryGuest(tree);
    try {
      return await walk(guest);
    } finally {
      await guest.close();
    }
  });
  const find = await time(async () => spawnSync("ssh", [...sshArgs, `find ${tree} -printf '%y %m %s %U %G %T@ %i %n %P %l\\0'`], { maxBuffer: 1 << 28 }).stdout.length);
  const tar = await time(async () => spawnSync("ssh", [...sshArgs, `tar -C ${tree} -cf - --xattrs .`], { maxBuffer: 1 << 30 }).stdout.length);
  const result = {
    tree,
    entries: leapp.out,
    leappSshWalkMs: leapp.ms,
    leappDirectoryWalkMs: local.ms,
    sshFindMs: find.ms,
    sshTarMs: tar.ms,
    ratios: { sshWalkOverFind: leapp.ms / find.ms, sshWalkOverTar: leapp.ms / tar.ms, sshWalkOverDirectory: leapp.ms / local.ms },
    runs,
  };
  if (json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`tree: ${tree}, ${result.entries} entries (median of ${runs})`);
    console.log(`leapp walk over SSH (readdir + lstat + readlink + xattrs): ${leapp.ms.toFixed(0)} ms`);
    console.log(`leapp walk of the same tree on this host:                  ${local.ms.toFixed(0)} ms (${result.ratios.sshWalkOverDirectory.toFixed(1)}x)`);
    console.log(`ssh HOST find -printf (metadata, no xattrs):                ${find.ms.toFixed(0)} ms (leapp ${result.ratios.sshWalkOverFind.toFixed(1)}x)`);
    console.log(`ssh HOST tar c --xattrs (metadata and data):                ${tar.ms.toFixed(0)} ms (leapp ${result.ratios.sshWalkOverTar.toFixed(1)}x)`);
  }
} finally {
  sshd.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
