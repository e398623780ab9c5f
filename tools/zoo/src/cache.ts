// The zoo's cache: ~/.cache/leapp/zoo/<name>-<hash>/ (or $LEAPP_CACHE_DIR/zoo/…). A build happens in a
// temporary folder beside its final place and is renamed into it in one step, so a cache entry is
// either complete or absent; a lock file makes concurrent test processes wait for one build.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ZooError } from "./errors.js";

// src/ whether this runs from the sources (tests) or from the build (scripts): the hash covers the sources.
export const zooSourceDir = join(dirname(fileURLToPath(import.meta.url)), "..", "src");
export const repoRoot = join(zooSourceDir, "..", "..", "..");

/** Sources that only read images back or serve tests: they do not shape a guest, so no rebuild when they change. */
const notRecipe = new Set(["check.ts", "virt-v2v-corpus.ts", "virt-install-corpus.ts", "sshd.ts"]);

export function cacheRoot(): string {
  return join(process.env.LEAPP_CACHE_DIR ?? join(homedir(), ".cache", "leapp"), "zoo");
}

/** Feeds a file tree (names, modes, link targets, contents) into a hash, in a stable order. */
export function hashTree(hash: ReturnType<typeof createHash>, dir: string, filter: (name: string) => boolean = () => true): void {
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      if (!filter(name)) continue;
      const path = join(at, name);
      const st = lstatSync(path);
      hash.update(`${relative(dir, path)}\0${(st.mode & 0o177777).toString(8)}\0`);
      if (st.isSymbolicLink()) hash.update(`->${readlinkSync(path)}\0`);
      else if (st.isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  walk(dir);
}

/**
 * The hash of a recipe: the zoo's shared source files (this folder, tests excepted), the given
 * files under guests/ (a guest's own recipe, so editing one guest rebuilds only that one), and
 * any input folders outside the package.
 */
export function recipeHash(guestFiles: string[] = [], inputDirs: string[] = []): string {
  const hash = createHash("sha256");
  for (const name of readdirSync(zooSourceDir).sort()) {
    if (!name.endsWith(".ts") || name.endsWith(".test.ts") || notRecipe.has(name)) continue;
    hash.update(`${name}\0`).update(readFileSync(join(zooSourceDir, name)));
  }
  for (const file of [...guestFiles].sort()) hash.update(`guests/${file}\0`).update(readFileSync(join(zooSourceDir, "guests", file)));
  for (const dir of inputDirs) hashTree(hash, dir);
  return hash.digest("hex").slice(0, 16);
}

const LOCK_POLL_MS = 250;
const LOCK_TIMEOUT_MS = 30 * 60 * 1000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

type LockState = "taken" | "built" | "wait";

/**
 * One try at `<key>.lock` (O_EXCL, holding our pid), so that concurrent processes wait for one
 * build instead of repeating it: "taken" (ours now), "built" (the entry appeared meanwhile) or
 * "wait". A lock whose process is gone is taken over, with the folder it left half-made.
 */
function tryLock(lockFile: string, final: string, started: number): LockState {
  for (;;) {
    if (existsSync(final)) return "built";
    try {
      writeFileSync(lockFile, String(process.pid), { flag: "wx" });
      return "taken";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(lockFile, "utf8").trim() || "0");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // released meanwhile
      throw err;
    }
    if (holder > 0 && !processAlive(holder)) {
      const root = dirname(lockFile);
      const prefix = `.tmp-${basename(final)}-${holder}-`;
      for (const name of readdirSync(root)) if (name.startsWith(prefix)) removeTree(join(root, name));
      rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() - started > LOCK_TIMEOUT_MS) {
      throw new ZooError("ZOO_TOOL_FAILED", `waited ${LOCK_TIMEOUT_MS / 60000} min for process ${holder} to build ${final}; remove ${lockFile} if that process is stuck`);
    }
    return "wait";
  }
}

/** Where a build of `key` goes, and the steps around it that the async and sync forms share. */
function buildSlot(key: string): { final: string; lockFile: string; temp: string; commit(): void; release(): void } {
  const root = cacheRoot();
  const final = join(root, key);
  const lockFile = join(root, `${key}.lock`);
  const temp = join(root, `.tmp-${key}-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(root, { recursive: true });
  return {
    final,
    lockFile,
    temp,
    commit() {
      try {
        renameSync(temp, final);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(final)) throw err;
      }
    },
    release() {
      removeTree(temp);
      rmSync(lockFile, { force: true });
    },
  };
}

/**
 * Returns `<cache>/<key>`, building it with `build(tempDir)` when absent. `build` fills the empty
 * temporary folder it is given; a failed build leaves nothing behind. Builders of the same key
 * wait for each other through a lock file; should two build anyway (a lock taken over from a
 * process that was only slow), the first rename wins and the other copy is thrown away.
 */
export async function cached(key: string, build: (dir: string) => Promise<void> | void): Promise<string> {
  const final = join(cacheRoot(), key);
  if (existsSync(final)) return final;
  const slot = buildSlot(key);
  const started = Date.now();
  for (let state = tryLock(slot.lockFile, final, started); state !== "taken"; state = tryLock(slot.lockFile, final, started)) {
    if (state === "built") return final;
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  try {
    mkdirSync(slot.temp);
    await build(slot.temp);
    slot.commit();
  } finally {
    slot.release();
  }
  return final;
}

/** `cached` for synchronous builders (fixtures made inside synchronous test helpers). */
export function cachedSync(key: string, build: (dir: string) => void): string {
  const final = join(cacheRoot(), key);
  if (existsSync(final)) return final;
  const slot = buildSlot(key);
  const started = Date.now();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let state = tryLock(slot.lockFile, final, started); state !== "taken"; state = tryLock(slot.lockFile, final, started)) {
    if (state === "built") return final;
    Atomics.wait(pause, 0, 0, LOCK_POLL_MS);
  }
  try {
    mkdirSync(slot.temp);
    build(slot.temp);
    slot.commit();
  } finally {
    slot.release();
  }
  return final;
}

/** A cache key for a fixture: `area-<hash of what made it>`. */
export function fixtureKey(area: string, recipe: unknown): string {
  return `${area}-${createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 16)}`;
}

/**
 * Removes a build folder even where a builder without root made a directory it cannot write
 * (a guest's 0550 /root): such directories are made writable and the removal retried. A
 * failure to clean up never hides the error of the build itself.
 */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EACCES") return;
    const unlock = (at: string): void => {
      const st = lstatSync(at);
      if (!st.isDirectory()) return;
      chmodSync(at, (st.mode & 0o7777) | 0o700);
      for (const name of readdirSync(at)) unlock(join(at, name));
    };
    try {
      unlock(dir);
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Leave it: the next build of this key does not reuse temporary folders.
    }
  }
}

/** A unique temporary name beside `final`, for writing a file that is then renamed into place. */
export function tempName(final: string): string {
  return `${final}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
}
