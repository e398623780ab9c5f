#!/usr/bin/env node
// `leapp migrate-machine` against what users would otherwise run to put a machine into a
// container on a host over SSH, on the debian-12 zoo guest (debootstrap: systemd, apache2, sshd),
// with this machine as the container host behind its own sshd (the zoo's startContainerHost):
//
//   root tree:   tar -C root -cf - . | ssh HOST podman import - REF && ssh HOST podman run -d … REF /sbin/init
//                against: leapp migrate-machine root -t ssh://HOST
//   disk image:  virt-tar-out -a IMG / - | ssh HOST podman import - REF && ssh HOST podman run …
//                (the LeApp prototype's path; libguestfs appliance under TCG here)
//                against: leapp migrate-machine IMG -t ssh://HOST
//
// Each run ends with the container started; it is removed before the next. Wall times are
// medians of --runs N (default 3; the prototype's path runs --proto-runs, default 1), runs
// interleaved; leapp's own split of its time (connect, check, inspect, scan, stream, load,
// start) comes from its --json. Needs `pnpm turbo run build`, podman, ssh, virt-tar-out.
//
//   node bench/migrate/run.mjs [--runs N] [--proto-runs N] [--json]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, numberOption } from "../common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const args = process.argv.slice(2);
const runs = numberOption("--runs", 3);
const protoRuns = numberOption("--proto-runs", 1);
const json = args.includes("--json");
const cli = join(repo, "apps/cli/dist/cli.js");
for (const built of ["apps/cli/dist/cli.js", "tools/zoo/dist/index.js"]) {
  if (!existsSync(join(repo, built))) {
    console.error("build first: pnpm turbo run build");
    process.exit(2);
  }
}
const { startContainerHost } = await import(join(repo, "tools/zoo/dist/index.js"));

const zooCache = join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "zoo");
const zoo = existsSync(zooCache)
  ? readdirSync(zooCache)
      .filter((d) => /^debian-12-[0-9a-f]+$/.test(d) && existsSync(join(zooCache, d, "disk1.raw")))
      .map((d) => join(zooCache, d))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
  : undefined;
if (!zoo) {
  console.error("no debian-12 zoo guest: run pnpm vitest run --project slow tools/zoo/src/debian-12.slow.test.ts first");
  process.exit(2);
}
const image = existsSync(join(zoo, "disk1.qcow2")) ? join(zoo, "disk1.qcow2") : join(zoo, "disk1.raw");
const root = join(zoo, "root");
const host = await startContainerHost();
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const ssh = `ssh -o BatchMode=yes -o UserKnownHostsFile=${q(host.knownHosts)} -i ${q(host.identity)} -p ${host.port} root@127.0.0.1`;
const keys = `--identity ${q(host.identity)} --known-hosts ${q(host.knownHosts)}`;
const name = `leapp-bench-migrate-${process.pid}`;
const ref = `leapp-bench-migrate:${process.pid}`;
const cleanup = () => {
  host.podman(["rm", "-f", "-t", "0", name], { allowFailure: true });
  host.podman(["rmi", "-f", `localhost/${ref}`, `localhost/${name}:latest`], { allowFailure: true });
};

function timed(line, env = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync("bash", ["-o", "pipefail", "-c", line], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${line} failed (exit ${r.status}): ${r.stderr.toString().slice(-2000)}`);
  return { seconds, stdout: r.stdout.toString() };
}

const run = `podman run -d --name ${name} -p 127.0.0.1::80 ${ref} /sbin/init`;
const cases = {
  tree: {
    theirs: { name: "tar | ssh podman import; podman run", line: `tar -C ${q(root)} -cf - . | ${ssh} ${q(`podman import - ${ref} >/dev/null && ${run}`)}`, runs },
    ours: { name: "leapp migrate-machine ROOT", line: `node ${q(cli)} --json migrate-machine ${q(root)} -t ${host.url()} ${keys} --name ${name}`, runs },
  },
  image: {
    theirs: { name: "virt-tar-out | ssh podman import; podman run", line: `virt-tar-out -a ${q(image)} / - | ${ssh} ${q(`podman import - ${ref} >/dev/null && ${run}`)}`, env: { LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" }, runs: protoRuns },
    ours: { name: "leapp migrate-machine IMG", line: `node ${q(cli)} --json migrate-machine ${q(image)} -t ${host.url()} ${keys} --name ${name}`, runs },
  },
};

const report = {};
try {
  for (const [what, pair] of Object.entries(cases)) {
    const times = { theirs: [], ours: [] };
    const parts = [];
    for (let i = 0; i < Math.max(pair.theirs.runs, pair.ours.runs); i++) {
      for (const side of ["theirs", "ours"]) {
        if (i >= pair[side].runs) continue;
        cleanup();
        const r = timed(pair[side].line, pair[side].env);
        times[side].push(r.seconds);
        if (side === "ours") parts.push(JSON.parse(r.stdout).timings);
      }
    }
    cleanup();
    const theirs = median(times.theirs);
    const ours = median(times.ours);
    const split = Object.fromEntries(Object.keys(parts[0]).map((k) => [k, median(parts.map((p) => p[k])) / 1000]));
    report[what] = { [pair.theirs.name]: theirs, [pair.ours.name]: ours, speedup: theirs / ours, leappSplitSeconds: split };
  }
} finally {
  cleanup();
  await host.stop();
}

if (json) console.log(JSON.stringify(report, null, 2));
else {
  for (const [what, r] of Object.entries(report)) {
    console.log(`${what}:`);
    for (const [k, v] of Object.entries(r)) if (typeof v === "number" && k !== "speedup") console.log(`  ${k.padEnd(48)} ${v.toFixed(2)} s`);
    console.log(`  ${"speedup".padEnd(48)} ${r.speedup.toFixed(2)}×`);
    console.log(`  leapp's split: ${Object.entries(r.leappSplitSeconds).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(", ")}`);
  }
}
