// Writing the files a command produces into a directory the user named. leapp often runs as root
// and the directory may be shared: a symbolic link planted there must not turn a write into an
// overwrite of /etc/shadow. Each file is created under a fresh temporary name with
// O_EXCL|O_NOFOLLOW (never through an existing name), and renamed over its target only when all
// of them are complete; rename replaces a name and never follows it.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CliError } from "./errors.js";

export interface OutputFile {
  path: string;
  content: string | Uint8Array;
}

/** A target may be absent or a regular file, which is replaced; anything else is refused. */
async function checkTarget(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!info.isFile()) {
    const what = info.isSymbolicLink() ? "a symbolic link" : info.isDirectory() ? "a directory" : "not a regular file";
    throw new CliError("LEAPP_OUTPUT_NOT_A_FILE", `${path} is ${what}; leapp replaces only regular files: remove it or choose another directory`);
  }
}

/**
 * Writes every file: all temporaries beside their targets first, then one rename each. On a
 * failure (or an abort) before the renames, the temporaries are removed and no target has changed.
 */
export async function writeOutputFiles(files: readonly OutputFile[], signal?: AbortSignal): Promise<void> {
  const written: { temp: string; path: string }[] = [];
  try {
    for (const file of files) {
      signal?.throwIfAborted();
      await checkTarget(file.path);
      const temp = join(dirname(file.path), `.${basename(file.path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
      const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      written.push({ temp, path: file.path });
      try {
        await handle.writeFile(file.content);
      } finally {
        await handle.close();
      }
    }
    signal?.throwIfAborted();
    for (const { temp, path } of written) await rename(temp, path);
  } catch (err) {
    await Promise.all(written.map(({ temp }) => rm(temp, { force: true })));
    throw err;
  }
}
