import { randomBytes } from "node:crypto";
import { write as writeToDescriptor } from "node:fs";
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { compressingSink, type Compression } from "./compression.js";
import { PackagerError } from "./errors.js";

/**
 * Where an archive goes: appended to in order, and — for a file — patched in place afterwards
 * (headers whose size or name was known only once their content was written).
 */
export interface ArchiveOutput {
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly position: number;
  /** Whether `patch` works (a file, not a pipe or socket). */
  readonly seekable: boolean;
  patch(offset: number, bytes: Uint8Array): Promise<void>;
  /** The archive is complete: a file is renamed into place, a stream ended. */
  commit(): Promise<void>;
  /** The archive is abandoned: a file's temporary is removed. */
  abort(): Promise<void>;
}

/** Chunks a file or descriptor output writes at once. */
const WRITES_IN_FLIGHT = 4;

/**
 * Write-behind: a few chunks are written while the next ones are made (each write is a trip
 * through libuv's pool); the first failure is reported by the next call.
 */
function writeBehind() {
  const pending: Promise<void>[] = [];
  let failure: unknown;
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  return {
    check,
    failed: () => failure !== undefined,
    /** Adds a write under way; waits while WRITES_IN_FLIGHT are. */
    async add(write: Promise<void>): Promise<void> {
      pending.push(
        write.catch((err: unknown) => {
          failure ??= err;
        }),
      );
      if (pending.length >= WRITES_IN_FLIGHT) await pending.shift();
      check();
    },
    /** Every write done; throws the first failure. */
    async settled(): Promise<void> {
      await Promise.all(pending.splice(0));
      check();
    },
    /** Every write done, failed or not (an abort). */
    async drained(): Promise<void> {
      await Promise.all(pending.splice(0));
    },
  };
}

const notSeekable = async (): Promise<never> => {
  throw new PackagerError("PACKAGER_NOT_SEEKABLE", "this archive needs a seekable output (a file) to write; give a file, or use docker-archive without layer compression");
};

/**
 * A file output: written under a temporary name beside `path` and renamed over it when
 * complete, so `path` never holds half an archive.
 */
export async function fileOutput(path: string, options: { overwrite?: boolean } = {}): Promise<ArchiveOutput> {
  if (!options.overwrite) {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new PackagerError("PACKAGER_TARGET_EXISTS", `${path} already exists; remove it or choose another output`, { path });
  }
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  let handle: FileHandle;
  try {
    handle = await open(temp, "wx");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new PackagerError("PACKAGER_BAD_INPUT", `cannot write ${path}: ${dirname(path)} is not a directory; create it or choose another output`, { path, cause: err });
    throw err;
  }
  let position = 0;
  let closed = false;
  const writes = writeBehind();
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    get position() {
      return position;
    },
    seekable: true,
    async write(chunk) {
      writes.check();
      const at = position;
      position += chunk.length;
      await writes.add(
        (async () => {
          let done = 0;
          while (done < chunk.length) {
            const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, at + done);
            done += bytesWritten;
          }
        })(),
      );
    },
    async patch(offset, bytes) {
      await writes.settled();
      await handle.write(bytes, 0, bytes.length, offset);
    },
    async commit() {
      await writes.settled();
      await close();
      await rename(temp, path);
    },
    async abort() {
      await writes.drained();
      await close().catch(() => {});
      await rm(temp, { force: true });
    },
  };
}

/** How long a descriptor output waits before trying again a write its non-blocking descriptor refused (EAGAIN). */
const RETRY_MS = 1;

/**
 * An output on a descriptor the caller opened and keeps (standard output, a pipe to
 * `podman load`): chunks are written in order on libuv's pool, up to WRITES_IN_FLIGHT queued,
 * so a reader slower than the writer never stalls the thread that makes the archive. Never
 * patched, never closed here. Best blocking: a non-blocking descriptor that refuses a write
 * (EAGAIN) is tried again RETRY_MS later, as Node has no way to wait for it to become writable.
 */
export function descriptorOutput(fd: number, options: { compression?: Compression } = {}): ArchiveOutput {
  let position = 0;
  const writes = writeBehind();
  let last: Promise<void> = Promise.resolve();
  const writeOnce = (chunk: Uint8Array, from: number) =>
    new Promise<number>((resolve, reject) => writeToDescriptor(fd, chunk, from, chunk.length - from, null, (err, n) => (err ? reject(err) : resolve(n))));
  const writeAll = async (chunk: Uint8Array) => {
    let done = 0;
    while (done < chunk.length) {
      try {
        done += await writeOnce(chunk, done);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  };
  const raw: ArchiveOutput = {
    get position() {
      return position;
    },
    seekable: false,
    async write(chunk) {
      writes.check();
      position += chunk.length;
      // Each write starts once the one before it is done (a pipe takes its bytes in order), and
      // none starts after one failed.
      last = last.then(() => (writes.failed() ? undefined : writeAll(chunk)));
      await writes.add(last);
    },
    patch: notSeekable,
    commit: () => writes.settled(),
    abort: () => writes.drained(),
  };
  return compressed(raw, options.compression);
}

/**
 * A stream output (a pipe to `ssh host podman load`, an HTTP response…): written with
 * backpressure, never patched, ended on commit unless `end: false`.
 */
export function streamOutput(stream: Writable, options: { end?: boolean; compression?: Compression } = {}): ArchiveOutput {
  return compressed(rawStreamOutput(stream, options), options.compression);
}

/** The whole archive compressed on its way to `raw` (`podman load` reads a zstd-compressed docker-archive); positions stay those of the archive itself. */
function compressed(raw: ArchiveOutput, compression: Compression | undefined): ArchiveOutput {
  if (!compression || compression === "none") return raw;
  const compressor = compressingSink(compression, (chunk) => raw.write(chunk));
  let position = 0;
  return {
    get position() {
      return position;
    },
    seekable: false,
    async write(chunk) {
      position += chunk.length;
      await compressor.write(chunk);
    },
    patch: (offset, bytes) => raw.patch(offset, bytes),
    async commit() {
      await compressor.end();
      await raw.commit();
    },
    abort: () => raw.abort(),
  };
}

function rawStreamOutput(stream: Writable, options: { end?: boolean }): ArchiveOutput {
  let position = 0;
  let failure: unknown;
  const onError = (err: unknown) => {
    failure ??= err;
  };
  stream.on("error", onError);
  const waitDrain = () =>
    new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        stream.off("drain", ok);
        stream.off("error", done);
        stream.off("close", closed);
        if (err) reject(err);
        else resolve();
      };
      const ok = () => done();
      const closed = () => done(failure ?? new PackagerError("PACKAGER_BAD_INPUT", "the output stream was closed before the archive was complete"));
      stream.once("drain", ok);
      stream.once("error", done);
      stream.once("close", closed);
    });
  return {
    get position() {
      return position;
    },
    seekable: false,
    async write(chunk) {
      if (failure !== undefined) throw failure;
      if (stream.destroyed || stream.writableEnded) throw new PackagerError("PACKAGER_BAD_INPUT", "the output stream was closed before the archive was complete");
      position += chunk.length;
      if (!stream.write(chunk)) await waitDrain();
    },
    patch: notSeekable,
    async commit() {
      if (failure !== undefined) throw failure;
      if (options.end === false) return;
      await new Promise<void>((resolve, reject) => {
        stream.once("error", reject);
        stream.end(() => {
          stream.off("error", reject);
          resolve();
        });
      });
      stream.off("error", onError);
    },
    async abort() {
      stream.off("error", onError);
    },
  };
}
