// What every benchmark here shares: its options, a scratch folder, an environment for the tools
// it times, whole-process timing with leapp's peak RSS, and the median of a run's figures.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const argv = process.argv.slice(2);

/** `--name N` from the command line when N is a positive number, else `fallback`. */
export const numberOption = (name, fallback) => (argv.includes(name) && Number(argv[argv.indexOf(name) + 1]) > 0 ? Number(argv[argv.indexOf(name) + 1]) : fallback);

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** A scratch folder removed when the benchmark exits. */
export function benchWorkDir(prefix) {
  const work = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(work, { recursive: true, force: true }));
  return work;
}

/**
 * The environment timed commands run in: sbin on PATH (mkfs and friends), and no
 * NODE_EXTRA_CA_CERTS (Node 20 reads it at start-up; a CA bundle has nothing to do with disks).
 */
export function toolEnv() {
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/**
 * `timed(command, argv, env)` runs a command to completion and gives its wall seconds (and the
 * peak RSS a Node process reports when started with `--import rssHook`), failing on a non-zero exit.
 */
export function processTimer(work, childEnv) {
  const rssFile = join(work, "rss");
  const rssHook = `data:text/javascript,${encodeURIComponent(`import { writeFileSync } from "node:fs"; process.on("exit", () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS * 1024)));`)}`;
  const timed = (command, args, env = {}) => {
    rmSync(rssFile, { force: true });
    const started = process.hrtime.bigint();
    const r = spawnSync(command, args, { encoding: "utf8", env: { ...childEnv, ...env }, maxBuffer: 1 << 26 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
    return { seconds, rssBytes: existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8")) : undefined };
  };
  return { timed, rssHook };
}

/** Exits (2) naming the first of `paths` a build has not made yet. */
export function requireBuilt(paths) {
  for (const built of paths) {
    if (!existsSync(built)) {
      console.error(`build first (pnpm turbo run build): ${built} is missing`);
      process.exit(2);
    }
  }
}
