import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ConnectConfig, SFTPWrapper, Stats } from "ssh2";
import { InspectError } from "../errors.js";
import type { InspectableGuest } from "./guest-source.js";
import type { GuestStat } from "./guestfs.js";
import { typeOfMode } from "../fs/inode-filesystem.js";
import { checkKnownHosts, sha256Fingerprint } from "./known-hosts.js";
import { parseProcNetTcp, type ListeningPort } from "./listening-ports.js";
import type { PhysicalTree } from "./physical-tree.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";
import { resolvingGuestFS } from "./resolving-guestfs.js";
import { decodeText } from "../text.js";

export interface SshGuestOptions {
  /** Private key file for key authentication. */
  identity: string;
  passphrase?: string;
  /** known_hosts file the host key must be listed in… */
  knownHosts?: string;
  /** …or the host key's pinned fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it. */
  fingerprint?: string;
  /**
   * Use `sudo -n` (never prompting) for what the SSH user may not read: with `true`, SFTP first and
   * sudo for what SFTP is denied; with `"always"`, every read through sudo commands (hosts without
   * an SFTP subsystem; slower: one command per lookup).
   */
  sudo?: boolean | "always";
  /** Inspect the tree under this remote directory instead of the host's `/` (a chroot, a container root). */
  root?: string;
  /** Connection timeout in milliseconds (default 20 s). */
  timeoutMs?: number;
}

/** Most bytes one remote command may print before we stop it. */
const MAX_COMMAND_OUTPUT = 16 * 1024 * 1024;

function sshError(message: string, cause?: unknown): InspectError {
  return new InspectError("INSPECT_SSH", message, cause === undefined ? {} : { cause });
}

/** `'it'\''s'`: a word the remote shell takes literally. */
function shellQuote(s: string): string {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/**
 * A live Linux host over SSH: files through SFTP (or `sudo -n` commands), symlinks resolved by us
 * in guest space, plus what only a running host can tell (listening TCP ports). The host key is
 * always checked — against a known_hosts file or a pinned SHA256 fingerprint — and never accepted
 * blindly: a mismatch is INSPECT_SSH_HOST_KEY before any credential is sent.
 */
export async function openSshGuest(url: string, options: SshGuestOptions): Promise<InspectableGuest> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw sshError(`${url} is not an ssh:// URL; write ssh://user@host[:port]`, err);
  }
  if (parsed.protocol !== "ssh:" || parsed.hostname === "" || parsed.username === "") throw sshError(`${url} is not an ssh://user@host[:port] URL`);
  if (parsed.password !== "") throw sshError("passwords in ssh:// URLs are not supported; use key authentication (--identity)");
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = parsed.port === "" ? 22 : Number(parsed.port);
  const username = decodeURIComponent(parsed.username);
  if (options.knownHosts === undefined && options.fingerprint === undefined) {
    throw new InspectError("INSPECT_SSH_HOST_KEY", "the host key cannot be checked: give a known_hosts file (--known-hosts) or the key's SHA256 fingerprint (--fingerprint)");
  }
  if (options.fingerprint !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(options.fingerprint)) {
    throw new InspectError("INSPECT_SSH_HOST_KEY", `${options.fingerprint} is not a SHA256 fingerprint; copy it from 'ssh-keygen -lf KEY' (SHA256:…)`);
  }
  let privateKey: Buffer;
  let knownHostsText: string | undefined;
  // `~/` as a shell would expand it: these paths are usually typed as in ssh's own options.
  const expand = (p: string) => (p === "~" || p.startsWith("~/") ? join(homedir(), p.slice(1)) : p);
  try {
    privateKey = await readFile(expand(options.identity));
    if (options.knownHosts !== undefined) knownHostsText = await readFile(expand(options.knownHosts), "utf8");
  } catch (err) {
    throw sshError(`cannot read ${options.knownHosts !== undefined && (err as { path?: string }).path === options.knownHosts ? "the known_hosts file" : "the identity file"}: ${(err as Error).message}`, err);
  }

  let hostKeyProblem: string | undefined;
  const verify = (key: Buffer): boolean => {
    const fp = sha256Fingerprint(key);
    if (options.fingerprint !== undefined) {
      if (fp === options.fingerprint) return true;
      hostKeyProblem = `the host key of ${host}:${port} is ${fp}, not the pinned ${options.fingerprint}: the host is not the one you meant, or its key changed — check it with its administrator`;
      return false;
    }
    const verdict = checkKnownHosts(knownHostsText ?? "", host, port, key);
    if (verdict === "match") return true;
    hostKeyProblem =
      verdict === "unknown"
        ? `${host}:${port} is not in ${options.knownHosts} (its key is ${fp}); add it there after checking the fingerprint`
        : verdict === "revoked"
          ? `the host key of ${host}:${port} (${fp}) is marked @revoked in ${options.knownHosts}`
          : `the host key of ${host}:${port} (${fp}) does not match ${options.knownHosts}: the host is not the one you meant, or its key changed`;
    return false;
  };

  // ssh2 is loaded on first use: image and directory inspections should not pay for it.
  const { Client } = await import("ssh2");
  const client = new Client();
  const config: ConnectConfig = {
    host,
    port,
    username,
    privateKey,
    hostVerifier: verify,
    readyTimeout: options.timeoutMs ?? 20_000,
    tryKeyboard: false,
  };
  if (options.passphrase !== undefined) config.passphrase = options.passphrase;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      client.removeListener("ready", onReady);
      if (hostKeyProblem !== undefined) reject(new InspectError("INSPECT_SSH_HOST_KEY", hostKeyProblem, { cause: err }));
      else reject(sshError(`cannot connect to ${host}:${port} as ${username}: ${err.message}`, err));
    };
    const onReady = () => {
      client.removeListener("error", onError);
      resolve();
    };
    client.once("error", onError);
    client.once("ready", onReady);
    client.connect(config);
  });
  // Later connection errors surface through the pending operation; keep the process alive.
  client.on("error", () => {});

  const exec = (command: string, maxBytes = MAX_COMMAND_OUTPUT): Promise<{ code: number; stdout: Buffer; stderr: string }> =>
    new Promise((resolve, reject) => {
      client.exec(command, (err, stream) => {
        if (err) return reject(sshError(`cannot run a command on ${host}: ${err.message}`, err));
        const chunks: Buffer[] = [];
        let size = 0;
        let stderr = "";
        let tooLarge = false;
        stream.on("data", (d: Buffer) => {
          size += d.length;
          if (size > maxBytes) {
            tooLarge = true;
            stream.close();
            return;
          }
          chunks.push(d);
        });
        stream.stderr.on("data", (d: Buffer) => {
          if (stderr.length < 4096) stderr += d.toString("utf8");
        });
        stream.on("close", (code: number | null) => {
          if (tooLarge) reject(new InspectError("INSPECT_TOO_LARGE", `output of a command on ${host} is larger than ${maxBytes} bytes`));
          else resolve({ code: code ?? -1, stdout: Buffer.concat(chunks), stderr });
        });
      });
    });

  const rootPrefix = (options.root ?? "/").replace(/\/+$/, "");
  const remote = (path: string) => (rootPrefix === "" ? path : path === "/" ? rootPrefix : rootPrefix + path);
  let tree: PhysicalTree;
  if (options.sudo === "always") tree = sudoTree(exec, remote);
  else {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(sshError(`SFTP is not available on ${host}: ${err.message}; try sudo "always"`, err)) : resolve(s))));
    tree = sftpTree(sftp, remote);
    if (options.sudo === true) tree = withSudoFallback(tree, sudoTree(exec, remote));
  }
  const guest = resolvingGuestFS({
    ...tree,
    async close() {
      client.end();
    },
  });
  const location = `ssh://${username}@${host.includes(":") ? `[${host}]` : host}${port === 22 ? "" : `:${port}`}${options.root ? options.root : ""}`;
  return Object.assign(guest, {
    context: {
      kind: "ssh" as const,
      location: [location],
      async listeningPorts(): Promise<ListeningPort[]> {
        const ports: ListeningPort[] = [];
        for (const protocol of ["tcp", "tcp6"] as const) {
          const { code, stdout } = await exec(`cat /proc/net/${protocol}`);
          if (code === 0) ports.push(...parseProcNetTcp(decodeText(stdout), protocol));
        }
        return ports;
      },
    },
  });
}

/** A GuestStat from what SFTP's attributes carry: no inode, link count, device or sub-second times. */
// TODO(wave 2 hardening): read ino/nlink/rdev/ns times with stat over exec.
function sftpStat(mode: number, size: number, uid: number, gid: number, atime: number, mtime: number): GuestStat {
  return {
    type: typeOfMode(mode),
    mode: mode & 0o7777,
    size,
    uid,
    gid,
    mtimeMs: mtime * 1000,
    atimeNs: BigInt(atime) * 1_000_000_000n,
    mtimeNs: BigInt(mtime) * 1_000_000_000n,
    ctimeNs: BigInt(mtime) * 1_000_000_000n,
    ino: 0,
    dev: 0,
    nlink: 1,
    rdevMajor: 0,
    rdevMinor: 0,
  };
}

/** An SFTP status error as the InspectError it means. */
function sftpError(err: unknown, path: string): InspectError {
  const code = (err as { code?: unknown }).code;
  if (code === 2) return new InspectError("INSPECT_NOT_FOUND", `${path} does not exist on the host`, { path, cause: err });
  if (code === 3) return new InspectError("INSPECT_UNSUPPORTED", `permission denied reading ${path} on the host; connect as a user who can read it, or use sudo`, { path, cause: err });
  return new InspectError("INSPECT_SSH", `SFTP failed on ${path}: ${(err as Error).message}`, { path, cause: err });
}

function sftpTree(sftp: SFTPWrapper, remote: (p: string) => string): PhysicalTree {
  const call = <T>(path: string, f: (cb: (err: Error | null | undefined, v: T) => void) => void): Promise<T> =>
    new Promise((resolve, reject) => f((err, v) => (err ? reject(sftpError(err, path)) : resolve(v))));
  const toStat = (st: Stats): GuestStat => sftpStat(st.mode, st.size, st.uid, st.gid, st.atime, st.mtime);
  return {
    async lstat(path) {
      return toStat(await call<Stats>(path, (cb) => sftp.lstat(remote(path), cb)));
    },
    async readdir(path) {
      const list = await call<{ filename: string }[]>(path, (cb) => sftp.readdir(remote(path), cb));
      return list.map((e) => e.filename).filter((n) => n !== "." && n !== "..");
    },
    async readlink(path) {
      return call<string>(path, (cb) => sftp.readlink(remote(path), cb));
    },
    async readFile(path, options = {}) {
      const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
      const handle = await call<Buffer>(path, (cb) => sftp.open(remote(path), "r", cb));
      try {
        const st = await call<Stats>(path, (cb) => sftp.fstat(handle, cb));
        if (typeOfMode(st.mode) === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory on the host, not a file`, { path });
        if (typeOfMode(st.mode) !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file on the host`, { path });
        if (st.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} on the host is ${st.size} bytes, more than the ${maxBytes} allowed`, { path });
        const buffer = Buffer.alloc(st.size);
        let got = 0;
        while (got < buffer.length) {
          const n = await call<number>(path, (cb) => sftp.read(handle, buffer, got, Math.min(buffer.length - got, 256 * 1024), got, (err, bytesRead) => cb(err, bytesRead)));
          if (n === 0) break;
          got += n;
        }
        return new Uint8Array(buffer.buffer, buffer.byteOffset, got);
      } finally {
        await new Promise<void>((resolve) => sftp.close(handle, () => resolve()));
      }
    },
    async openFile(path) {
      const handle = await call<Buffer>(path, (cb) => sftp.open(remote(path), "r", cb));
      try {
        const st = await call<Stats>(path, (cb) => sftp.fstat(handle, cb));
        if (typeOfMode(st.mode) === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory on the host, not a file`, { path });
        if (typeOfMode(st.mode) !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file on the host`, { path });
      } catch (err) {
        await new Promise<void>((resolve) => sftp.close(handle, () => resolve()));
        throw err;
      }
      const size = (await call<Stats>(path, (cb) => sftp.fstat(handle, cb))).size;
      return {
        size,
        async read(buffer, position) {
          let got = 0;
          while (got < buffer.length) {
            const n = await call<number>(path, (cb) => sftp.read(handle, Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length), got, Math.min(buffer.length - got, 256 * 1024), position + got, (err, bytesRead) => cb(err, bytesRead)));
            if (n === 0) break;
            got += n;
          }
          return got;
        },
        async *dataRanges() {
          if (size > 0) yield { offset: 0, length: size };
        },
        close: () => new Promise<void>((resolve) => sftp.close(handle, () => resolve())),
      };
    },
    async xattrs(path) {
      throw new InspectError("INSPECT_UNSUPPORTED", `${path}: reading extended attributes over SFTP is not implemented yet`, { path });
    },
    async close() {
      sftp.end();
    },
  };
}

/** Each operation through `primary`, and through `fallback` when `primary` is denied permission. */
function withSudoFallback(primary: PhysicalTree, fallback: PhysicalTree): PhysicalTree {
  const denied = (err: unknown) => err instanceof InspectError && err.code === "INSPECT_UNSUPPORTED" && /permission denied/.test(err.message);
  const either =
    <A extends unknown[], R>(f: (t: PhysicalTree, ...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await f(primary, ...a);
      } catch (err) {
        if (denied(err)) return f(fallback, ...a);
        throw err;
      }
    };
  return {
    lstat: either((t, p: string) => t.lstat(p)),
    readdir: either((t, p: string) => t.readdir(p)),
    readlink: either((t, p: string) => t.readlink(p)),
    readFile: either((t, p: string, o?: { maxBytes?: number }) => t.readFile(p, o)),
    openFile: either((t, p: string) => t.openFile(p)),
    xattrs: either((t, p: string) => t.xattrs(p)),
    close: () => primary.close(),
  };
}

type Exec = (command: string, maxBytes?: number) => Promise<{ code: number; stdout: Buffer; stderr: string }>;

/** The same reads as commands under `sudo -n` (never prompting: a password prompt would hang). */
function sudoTree(exec: Exec, remote: (p: string) => string): PhysicalTree {
  const run = async (path: string, command: string, maxBytes?: number) => {
    const r = await exec(`sudo -n ${command}`, maxBytes);
    if (r.code !== 0) {
      if (/No such file|cannot stat|not found/i.test(r.stderr)) throw new InspectError("INSPECT_NOT_FOUND", `${path} does not exist on the host`, { path });
      if (/password is required|not allowed|sudoers/i.test(r.stderr)) throw new InspectError("INSPECT_SSH", `sudo refused on the host (${r.stderr.trim()}); allow passwordless sudo for this user or drop --sudo`, { path });
      throw new InspectError("INSPECT_NOT_FOUND", `cannot read ${path} on the host: ${r.stderr.trim()}`, { path });
    }
    return r.stdout;
  };
  return {
    async lstat(path) {
      const out = decodeText(await run(path, `stat -c '%f %s %u %g %Y' -- ${shellQuote(remote(path))}`)).trim().split(" ");
      const mode = parseInt(out[0] ?? "0", 16);
      return sftpStat(mode, Number(out[1]), Number(out[2]), Number(out[3]), Number(out[4]), Number(out[4]));
    },
    async readdir(path) {
      const out = await run(path, `find ${shellQuote(remote(path))} -mindepth 1 -maxdepth 1 -printf '%f\\0'`);
      return decodeText(out).split("\0").filter((n) => n !== "");
    },
    async readlink(path) {
      return decodeText(await run(path, `readlink -- ${shellQuote(remote(path))}`)).replace(/\n$/, "");
    },
    async readFile(path, options = {}) {
      const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
      const st = await this.lstat(path);
      if (st.type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory on the host, not a file`, { path });
      if (st.type !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file on the host`, { path });
      if (st.size > maxBytes) throw new InspectError("INSPECT_TOO_LARGE", `${path} on the host is ${st.size} bytes, more than the ${maxBytes} allowed`, { path });
      return new Uint8Array(await run(path, `head -c ${maxBytes} -- ${shellQuote(remote(path))}`, maxBytes + 1));
    },
    async openFile(path) {
      throw new InspectError("INSPECT_UNSUPPORTED", `${path}: streaming files through sudo is not implemented yet`, { path });
    },
    async xattrs(path) {
      throw new InspectError("INSPECT_UNSUPPORTED", `${path}: reading extended attributes through sudo is not implemented yet`, { path });
    },
    async close() {},
  };
}
