// The zoo's cache: ~/.cache/leapp/zoo/<name>-<hash>/ (or $LEAPP_CACHE_DIR/zoo/…). A build happens in a
// temporary folder beside its final place and is renamed into it in one step, so several test
// processes can build at once: the first rename wins and the others throw their copy away.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const zooSourceDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(zooSourceDir, "..", "..", "..");

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
    // check.ts only reads images back; it does not shape them.
    if (!name.endsWith(".ts") || name.endsWith(".test.ts") || name === "check.ts") continue;
    hash.update(`${name}\0`).update(readFileSync(join(zooSourceDir, name)));
  }
  for (const file of [...guestFiles].sort()) hash.update(`guests/${file}\0`).update(readFileSync(join(zooSourceDir, "guests", file)));
  for (const dir of inputDirs) hashTree(hash, dir);
  return hash.digest("hex").slice(0, 16);
}

/**
 * Returns `<cache>/<key>`, building it with `build(tempDir)` when absent. `build` fills the empty
 * temporary folder it is given; a failed build leaves nothing behind.
 */
export async function cached(key: string, build: (dir: string) => Promise<void> | void): Promise<string> {
  const root = cacheRoot();
  const final = join(root, key);
  if (existsSync(final)) return final;
  mkdirSync(root, { recursive: true });
  const temp = join(root, `.tmp-${key}-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(temp);
  try {
    await build(temp);
    try {
      renameSync(temp, final);
    } catch (err) {
      // Another process finished first: its copy is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(final)) throw err;
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return final;
}

export function tempName(final: string): string {
  return `${final}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
}
