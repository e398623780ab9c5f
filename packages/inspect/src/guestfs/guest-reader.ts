import { InspectError } from "../errors.js";
import { SMALL_FILE_BYTES } from "../read-limits.js";
import { decodeText } from "../text.js";
import type { GuestFS } from "./guestfs.js";

/** Most directory entries looked at in any one guest directory. */
export const MAX_DIR_ENTRIES = 10_000;

/** Errors that mean the source itself failed, not that one guest file is odd: they end the inspection. */
const fatalCodes = new Set(["INSPECT_CLOSED", "INSPECT_SSH", "INSPECT_SSH_HOST_KEY", "INSPECT_TIMEOUT"]);

/** Whether `err` says the source failed (closed, connection lost or stalled) rather than one file. */
export function isFatal(err: InspectError): boolean {
  return fatalCodes.has(err.code);
}

/** Reads a guest defensively: a missing, huge or strange file is a missing fact, never a crash. */
export class GuestReader {
  readonly warnings: string[] = [];
  /** `signal` stops the reading at the next file with the signal's reason. */
  constructor(
    readonly fs: GuestFS,
    readonly signal?: AbortSignal,
  ) {}

  #soft(err: unknown, what: string): undefined {
    this.signal?.throwIfAborted();
    if (err instanceof InspectError) {
      if (isFatal(err)) throw err;
      if (err.code !== "INSPECT_NOT_FOUND" && err.code !== "INSPECT_NOT_A_DIRECTORY") this.warnings.push(`${what}: ${err.message}`);
      return undefined;
    }
    throw err;
  }

  async isFile(path: string): Promise<boolean> {
    try {
      this.signal?.throwIfAborted();
      return (await this.fs.stat(path)).type === "file";
    } catch (err) {
      return this.#soft(err, path) ?? false;
    }
  }

  async isDir(path: string): Promise<boolean> {
    try {
      this.signal?.throwIfAborted();
      return (await this.fs.stat(path)).type === "directory";
    } catch (err) {
      return this.#soft(err, path) ?? false;
    }
  }

  async readlink(path: string): Promise<string | undefined> {
    try {
      this.signal?.throwIfAborted();
      const st = await this.fs.lstat(path);
      return st.type === "symlink" ? await this.fs.readlink(path) : undefined;
    } catch (err) {
      return this.#soft(err, path);
    }
  }

  async bytes(path: string, maxBytes = SMALL_FILE_BYTES): Promise<Uint8Array | undefined> {
    try {
      this.signal?.throwIfAborted();
      const st = await this.fs.stat(path);
      if (st.type !== "file") return undefined;
      return await this.fs.readFile(path, { maxBytes });
    } catch (err) {
      return this.#soft(err, path);
    }
  }

  async text(path: string, maxBytes = SMALL_FILE_BYTES): Promise<string | undefined> {
    const b = await this.bytes(path, maxBytes);
    return b === undefined ? undefined : decodeText(b);
  }

  async list(path: string): Promise<string[]> {
    try {
      this.signal?.throwIfAborted();
      const names = await this.fs.readdir(path);
      return names.slice(0, MAX_DIR_ENTRIES).sort();
    } catch (err) {
      return this.#soft(err, path) ?? [];
    }
  }
}

/** libguestfs's test for a Linux root: /etc, a /bin (or usr-merged link), and fstab or hosts. */
export async function looksLikeLinuxRoot(fs: GuestFS): Promise<boolean> {
  const r = new GuestReader(fs);
  if (!(await r.isDir("/etc"))) return false;
  const bin = (await r.isDir("/bin")) || (await r.readlink("/bin")) === "usr/bin" || (await r.isDir("/usr/bin")) || (await r.isDir("/lib"));
  if (!bin) return false;
  return (await r.isFile("/etc/fstab")) || (await r.isFile("/etc/hosts"));
}

