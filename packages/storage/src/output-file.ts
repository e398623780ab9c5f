// Every file leapp writes (converted images, overlays, new qcow2 images) is written under a
// temporary name beside its target — `.NAME.leapp-tmp-XXXXXX`, never mistaken for a finished
// image — and renamed into place only once complete (and synced, unless the caller says not to).
// An abort, an error or a signal removes the temporary file; a kill -9 leaves it, under that name.
import { constants } from "node:fs";
import { link, lstat, open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { StorageError } from "./errors.js";
import { ImageFile } from "./image-file.js";

/** The infix of temporary output names; `leapp storage` and scripts can recognise leftovers by it. */
export const TEMPORARY_INFIX = ".leapp-tmp-";

export interface OutputOptions {
  /** Replace an existing target (atomically: readers see the old file or the new one, never a mix). */
  overwrite?: boolean;
  /** `dev:ino` of files that must never be replaced (the source image and everything it opened). */
  protect?: ReadonlySet<string>;
}

/** Host errors of a write, as typed errors saying what to do. */
export function writeError(err: unknown, target: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new StorageError("STORAGE_NO_SPACE", `no space left for ${target} on its file system; free some space or choose another target directory (nothing was left behind)`, { path: target, cause: err });
  }
  if (code === "EFBIG") {
    return new StorageError("STORAGE_TOO_LARGE", `${target}: the file system cannot hold a file this large; choose a qcow2 target or another file system (nothing was left behind)`, { path: target, cause: err });
  }
  return err;
}

/** Refuses a target that exists (unless `overwrite`), is a directory, or is one of `protect` (however reached). */
async function checkTarget(target: string, options: OutputOptions): Promise<void> {
  // The name itself (a dangling symlink counts), then what it leads to.
  try {
    await lstat(target);
  } catch (err) {
    // Nothing there (or no directory to hold it: creating the file says so).
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw err;
  }
  const existing = await stat(target).catch(() => undefined);
  if (existing && options.protect?.has(`${existing.dev}:${existing.ino}`)) {
    throw new StorageError("STORAGE_SAME_FILE", `${target} is the source image itself (or a file it reads); write the result to another file`, { path: target });
  }
  if (existing?.isDirectory()) throw new StorageError("STORAGE_TARGET_EXISTS", `${target} is a directory; name the file to create`, { path: target });
  if (!options.overwrite) {
    throw new StorageError("STORAGE_TARGET_EXISTS", `${target} already exists; choose another name, or replace it with --force (overwrite: true)`, { path: target });
  }
}

/** A new file under a temporary name, renamed to its target by `commit`, removed by `discard`. */
export class OutputFile {
  #settled = false;

  private constructor(
    readonly target: string,
    readonly temporary: string,
    readonly file: ImageFile,
    private readonly options: OutputOptions,
  ) {}

  /**
   * Creates the temporary file beside `target` after checking the target: an existing file is
   * STORAGE_TARGET_EXISTS unless `overwrite`, and a protected one (the source) STORAGE_SAME_FILE.
   */
  static async create(target: string, options: OutputOptions = {}): Promise<OutputFile> {
    const absolute = resolve(target);
    await checkTarget(absolute, options);
    for (;;) {
      // O_EXCL makes the name ours; it need not be unguessable, only unlikely to be taken.
      const suffix = `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 6).toString(36)}`;
      const temporary = join(dirname(absolute), `.${basename(absolute)}${TEMPORARY_INFIX}${suffix}`);
      let handle: FileHandle;
      try {
        handle = await open(temporary, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o666);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") continue;
        if (code === "ENOENT" || code === "ENOTDIR" || code === "EACCES" || code === "EPERM" || code === "EROFS" || code === "ENAMETOOLONG") {
          throw new StorageError("STORAGE_CANNOT_WRITE", `cannot create ${absolute} (${code}): is ${dirname(absolute)} an existing, writable directory?`, { path: absolute, cause: err });
        }
        throw writeError(err, absolute);
      }
      return new OutputFile(absolute, temporary, ImageFile.created(temporary, handle), options);
    }
  }

  /**
   * Puts the finished file in place: synced first (unless `sync` is false), then renamed — or,
   * without `overwrite`, hard-linked so that a target created meanwhile is not replaced. An
   * aborted `signal` discards it instead, up to the rename.
   */
  async commit(options: { sync?: boolean; signal?: AbortSignal | undefined } = {}): Promise<void> {
    if (this.#settled) throw new Error("output already committed or discarded");
    try {
      if (options.sync ?? true) await this.file.datasync();
      await this.file.close();
      // The last moment an abort can still leave nothing behind.
      options.signal?.throwIfAborted();
      await checkTarget(this.target, this.options);
      if (this.options.overwrite) await rename(this.temporary, this.target);
      else await this.#linkIntoPlace();
      this.#settled = true;
      if (options.sync ?? true) await syncDirectory(dirname(this.target));
    } catch (err) {
      await this.discard();
      throw writeError(err, this.target);
    }
  }

  /** Removes the temporary file (closing it first); safe to call more than once. */
  async discard(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.file.close().catch(() => {});
    await unlink(this.temporary).catch(() => {});
  }

  async #linkIntoPlace(): Promise<void> {
    try {
      await link(this.temporary, this.target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") {
        throw new StorageError("STORAGE_TARGET_EXISTS", `${this.target} appeared while it was being written; choose another name, or replace it with --force (overwrite: true)`, { path: this.target, cause: err });
      }
      // A file system without hard links (FAT, some FUSE): the check above has to do.
      if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EMLINK") return rename(this.temporary, this.target);
      throw err;
    }
    await unlink(this.temporary);
  }
}

/** Makes a rename in `directory` durable. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot sync a directory; the data itself is synced already.
  } finally {
    await handle.close();
  }
}
