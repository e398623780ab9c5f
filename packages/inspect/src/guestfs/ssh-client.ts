import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper, Stats } from "ssh2";
import { InspectError } from "../errors.js";
import type { FileType } from "../fs/filesystem.js";
import { typeOfMode } from "../fs/inode-filesystem.js";
import { checkKnownHosts, sha256Fingerprint } from "./known-hosts.js";

/**
 * How to reach a host and how to know it is the right one. The host key is always checked —
 * against `knownHosts` or a pinned `fingerprint` — and never accepted blindly.
 */
export interface SshConnectOptions {
  /** Private key file for key authentication (`~/` is expanded)… */
  identity?: string;
  /** …or the private key itself (OpenSSH or PEM). */
  privateKey?: string | Uint8Array;
  passphrase?: string;
  /** known_hosts file the host key must be listed in (hashed names and `[host]:port` too; `@revoked` honoured)… */
  knownHosts?: string;
  /** …or the host key's pinned fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it. */
  fingerprint?: string;
  /** Connecting, key exchange and authentication must end within this. Default 20 s. */
  connectTimeoutMs?: number;
  /**
   * Every request the server must answer — opening a channel, starting a command, an SFTP call —
   * must be answered within this, else INSPECT_TIMEOUT and the connection is closed (a server that
   * stops answering leaves nothing to wait for). Default 30 s.
   */
  requestTimeoutMs?: number;
  /** A keepalive probe after this long without traffic; after `keepaliveCountMax` unanswered ones the connection fails with INSPECT_TIMEOUT. Default 10 s and 3. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Closes the connection: every pending and later call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface SshExecOptions {
  /** What the command reads on its standard input; streamed with back-pressure, then closed. */
  stdin?: Uint8Array | string | AsyncIterable<Uint8Array>;
  /** Takes standard output as it arrives instead of collecting it (a returned promise pauses the stream until it settles). */
  onStdout?: (chunk: Uint8Array) => void | Promise<void>;
  /** Most bytes of standard output collected (without `onStdout`) before the command is stopped with INSPECT_TOO_LARGE. Default 16 MiB. */
  maxOutputBytes?: number;
  /** The command must end within this, else it is stopped and the call fails with INSPECT_TIMEOUT. Default: no limit. */
  timeoutMs?: number;
  /** Stops the command; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface SshExecResult {
  /** The exit status, or null when the command died of a signal. */
  exitCode: number | null;
  /** The signal that ended it (`TERM`, `KILL`…), if any. */
  exitSignal: string | undefined;
  /** Standard output (empty when `onStdout` took it). */
  stdout: Uint8Array;
  /** The first 64 KiB of standard error, as text. */
  stderr: string;
}

/** What an SFTP server tells of a file (SFTP carries no inode, link count or sub-second times). */
export interface SftpAttributes {
  type: FileType;
  /** Permission bits (0o7777). */
  mode: number;
  size: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  atime: number;
  mtime: number;
}

/** A remote file opened for positional reads. */
export interface SftpFile {
  readonly size: number;
  /** Fills `buffer` from `position`; returns the bytes read (fewer only at the end of the file). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** The SFTP calls of one session, each bounded by the connection's request timeout. */
export interface SshSftp {
  lstat(path: string): Promise<SftpAttributes>;
  stat(path: string): Promise<SftpAttributes>;
  readdir(path: string): Promise<{ name: string; attributes: SftpAttributes }[]>;
  readlink(path: string): Promise<string>;
  /** Opens a regular file (a link is followed by the server) for reading. */
  open(path: string): Promise<SftpFile>;
  /**
   * Writes `content` to `path` atomically: under a temporary name beside it, renamed into place
   * once complete (POSIX rename: an existing file is replaced). An aborted or failed write removes
   * the temporary file.
   */
  writeFile(path: string, content: Uint8Array | AsyncIterable<Uint8Array>, options?: { mode?: number; signal?: AbortSignal }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, mode?: number): Promise<void>;
  close(): Promise<void>;
}

/** One SSH connection: commands, SFTP, and the key it was verified with. */
export interface SshConnection {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The host key's fingerprint, `SHA256:…`, as checked. */
  readonly hostKeyFingerprint: string;
  /** Runs `command` (through the user's shell on the host) and waits for it to end. */
  exec(command: string, options?: SshExecOptions): Promise<SshExecResult>;
  /** Opens an SFTP session on this connection. */
  sftp(): Promise<SshSftp>;
  /** Whether the connection is gone (closed, failed, aborted). */
  readonly closed: boolean;
  close(): Promise<void>;
}

/** Most SSH channels (commands, SFTP sessions) open at once: OpenSSH allows 10 per connection. */
const MAX_CHANNELS = 8;
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
const SFTP_CHUNK = 256 * 1024;

function sshError(message: string, cause?: unknown): InspectError {
  return new InspectError("INSPECT_SSH", message, cause === undefined ? {} : { cause });
}

/** `'it'\''s'`: a word the remote shell takes literally. */
export function shellQuote(s: string): string {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/** `ssh://user@host[:port]` → its parts; the path, if any, is returned too. */
export function parseSshUrl(url: string): { host: string; port: number; username: string; path: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw sshError(`${url} is not an ssh:// URL; write ssh://user@host[:port]`, err);
  }
  if (parsed.protocol !== "ssh:" || parsed.hostname === "" || parsed.username === "") throw sshError(`${url} is not an ssh://user@host[:port] URL`);
  if (parsed.password !== "") throw sshError("passwords in ssh:// URLs are not supported; use key authentication (--identity)");
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 22 : Number(parsed.port),
    username: decodeURIComponent(parsed.username),
    path: decodeURIComponent(parsed.pathname),
  };
}

/**
 * Connects to `ssh://user@host[:port]` with key authentication after checking the host key
 * (INSPECT_SSH_HOST_KEY before any credential is sent when it does not match). The connection
 * sends keepalives and bounds every request, so a server that stops answering ends in
 * INSPECT_TIMEOUT rather than a wait forever.
 */
export async function connectSsh(url: string, options: SshConnectOptions): Promise<SshConnection> {
  const { host, port, username } = parseSshUrl(url);
  options.signal?.throwIfAborted();
  if (options.knownHosts === undefined && options.fingerprint === undefined) {
    throw new InspectError("INSPECT_SSH_HOST_KEY", "the host key cannot be checked: give a known_hosts file (--known-hosts) or the key's SHA256 fingerprint (--fingerprint)");
  }
  if (options.fingerprint !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(options.fingerprint)) {
    throw new InspectError("INSPECT_SSH_HOST_KEY", `${options.fingerprint} is not a SHA256 fingerprint; copy it from 'ssh-keygen -lf KEY' (SHA256:…)`);
  }
  // `~/` as a shell would expand it: these paths are usually typed as in ssh's own options.
  const expand = (p: string) => (p === "~" || p.startsWith("~/") ? join(homedir(), p.slice(1)) : p);
  let privateKey: Buffer | string;
  let knownHostsText: string | undefined;
  let reading = "the identity file";
  try {
    if (options.privateKey !== undefined) privateKey = typeof options.privateKey === "string" ? options.privateKey : Buffer.from(options.privateKey);
    else if (options.identity !== undefined) privateKey = await readFile(expand(options.identity));
    else throw sshError("no private key: give an identity file (--identity) or the key itself");
    reading = "the known_hosts file";
    if (options.knownHosts !== undefined) knownHostsText = await readFile(expand(options.knownHosts), "utf8");
  } catch (err) {
    if (err instanceof InspectError) throw err;
    throw sshError(`cannot read ${reading}: ${(err as Error).message}`, err);
  }

  let hostKeyFingerprint = "";
  let hostKeyProblem: string | undefined;
  const verify = (key: Buffer): boolean => {
    const fp = sha256Fingerprint(key);
    hostKeyFingerprint = fp;
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
  const { Client: ClientClass } = await import("ssh2");
  const client = new ClientClass();
  const config: ConnectConfig = {
    host,
    port,
    username,
    privateKey,
    hostVerifier: verify,
    readyTimeout: options.connectTimeoutMs ?? 20_000,
    keepaliveInterval: options.keepaliveIntervalMs ?? 10_000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
    tryKeyboard: false,
  };
  if (options.passphrase !== undefined) config.passphrase = options.passphrase;
  const connection = new Connection(client, host, port, username, options);
  const onAbort = () => client.destroy();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        client.removeListener("ready", onReady);
        if (options.signal?.aborted) reject(options.signal.reason);
        else if (hostKeyProblem !== undefined) reject(new InspectError("INSPECT_SSH_HOST_KEY", hostKeyProblem, { cause: err }));
        else if (/timed out/i.test(err.message)) reject(new InspectError("INSPECT_TIMEOUT", `${host}:${port} did not complete the SSH handshake within ${config.readyTimeout} ms; check the host and port`, { cause: err }));
        else reject(sshError(`cannot connect to ${host}:${port} as ${username}: ${err.message}`, err));
      };
      const onReady = () => {
        client.removeListener("error", onError);
        client.removeListener("close", onClose);
        resolve();
      };
      const onClose = () => onError(options.signal?.aborted ? (options.signal.reason as Error) : new Error("the connection closed during the handshake"));
      client.once("error", onError);
      client.once("ready", onReady);
      client.once("close", onClose);
      client.connect(config);
    });
  } catch (err) {
    options.signal?.removeEventListener("abort", onAbort);
    // A handshake given up (timed out) still reports its socket closing as an error: nobody waits for it now.
    client.on("error", () => {});
    client.destroy();
    throw err;
  }
  options.signal?.removeEventListener("abort", onAbort);
  connection.start(hostKeyFingerprint);
  return connection;
}

class Connection implements SshConnection {
  hostKeyFingerprint = "";
  #failure: unknown;
  readonly #pending = new Set<(err: unknown) => void>();
  #channels = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #requestTimeoutMs: number;

  constructor(
    readonly client: Client,
    readonly host: string,
    readonly port: number,
    readonly username: string,
    readonly options: SshConnectOptions,
  ) {
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** Called once the handshake is done: from here on, failures end every pending call. */
  start(fingerprint: string): void {
    this.hostKeyFingerprint = fingerprint;
    this.client.on("error", (err: Error & { level?: string }) => {
      this.#fail(
        err.level === "client-timeout" || /keepalive/i.test(err.message)
          ? new InspectError("INSPECT_TIMEOUT", `${this.host} stopped answering (no reply to ${this.options.keepaliveCountMax ?? 3} keepalives); the connection is closed`, { cause: err })
          : sshError(`the connection to ${this.host} failed: ${err.message}`, err),
      );
    });
    this.client.on("close", () => this.#fail(sshError(`the connection to ${this.host} is closed`)));
    const signal = this.options.signal;
    if (signal?.aborted) this.#fail(signal.reason);
    else signal?.addEventListener("abort", () => this.#fail(signal.reason), { once: true });
  }

  get closed(): boolean {
    return this.#failure !== undefined;
  }

  #fail(reason: unknown): void {
    if (this.#failure === undefined) this.#failure = reason;
    for (const reject of [...this.#pending]) reject(this.#failure);
    this.#pending.clear();
    this.client.destroy();
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Runs `start` (which calls back once) as one request: rejected when the connection fails, and
   * when no answer comes within the request timeout (the connection is then closed).
   */
  request<T>(what: string, start: (done: (err: Error | null | undefined, value: T) => void) => void, mapError: (err: Error) => unknown = (err) => sshError(`${what} failed on ${this.host}: ${err.message}`, err)): Promise<T> {
    this.#check();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(onFailure);
        if (err !== undefined) reject(err);
        else resolve(value as T);
      };
      const onFailure = (err: unknown) => finish(err);
      const timer = setTimeout(() => {
        const err = new InspectError("INSPECT_TIMEOUT", `${this.host} did not answer ${what} within ${this.#requestTimeoutMs} ms; the connection is closed`);
        finish(err);
        this.#fail(err);
      }, this.#requestTimeoutMs);
      this.#pending.add(onFailure);
      try {
        start((err, value) => (err ? finish(mapError(err)) : finish(undefined, value)));
      } catch (err) {
        finish(sshError(`${what} failed on ${this.host}: ${(err as Error).message}`, err));
      }
    });
  }

  /** Waits for a free channel slot; the returned function gives it back. */
  async #channel(): Promise<() => void> {
    while (this.#channels >= MAX_CHANNELS) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#channels++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#channels--;
      this.#waiting.shift()?.();
    };
  }

  async exec(command: string, options: SshExecOptions = {}): Promise<SshExecResult> {
    options.signal?.throwIfAborted();
    const release = await this.#channel();
    try {
      const stream = await this.request<ClientChannel>(`starting a command`, (done) => this.client.exec(command, done));
      return await this.#run(stream, command, options);
    } finally {
      release();
    }
  }

  #run(stream: ClientChannel, command: string, options: SshExecOptions): Promise<SshExecResult> {
    const maxBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    return new Promise<SshExecResult>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let stderr = "";
      let exitCode: number | null = null;
      let exitSignal: string | undefined;
      let settled = false;
      const finish = (err: unknown, result?: SshExecResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(onFailure);
        options.signal?.removeEventListener("abort", onAbort);
        if (err !== undefined) {
          stream.close();
          reject(err);
        } else resolve(result as SshExecResult);
      };
      const onFailure = (err: unknown) => finish(err);
      const onAbort = () => {
        stream.signal("KILL");
        finish(options.signal?.reason);
      };
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
        stream.signal("KILL");
        finish(new InspectError("INSPECT_TIMEOUT", `a command on ${this.host} did not end within ${options.timeoutMs} ms and was stopped: ${command.slice(0, 200)}`));
      }, options.timeoutMs);
      this.#pending.add(onFailure);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      // Aborted while the command was being started: the listener above came too late.
      if (options.signal?.aborted) onAbort();
      stream.on("data", (d: Buffer) => {
        if (options.onStdout) {
          const pending = options.onStdout(d);
          if (pending && typeof (pending as Promise<void>).then === "function") {
            stream.pause();
            (pending as Promise<void>).then(() => stream.resume(), (err: unknown) => finish(err));
          }
          return;
        }
        size += d.length;
        if (size > maxBytes) {
          stream.signal("KILL");
          finish(new InspectError("INSPECT_TOO_LARGE", `the output of a command on ${this.host} is larger than ${maxBytes} bytes: ${command.slice(0, 200)}`));
          return;
        }
        chunks.push(d);
      });
      stream.stderr.on("data", (d: Buffer) => {
        if (stderr.length < 65536) stderr += d.toString("utf8");
      });
      stream.on("exit", (code: number | null, signal?: string) => {
        exitCode = code;
        exitSignal = signal ?? undefined;
      });
      stream.on("close", () => finish(undefined, { exitCode, exitSignal, stdout: Buffer.concat(chunks), stderr }));
      void this.#feed(stream, options.stdin).catch((err: unknown) => finish(err));
    });
  }

  async #feed(stream: ClientChannel, stdin: SshExecOptions["stdin"]): Promise<void> {
    if (stdin === undefined) {
      stream.end();
      return;
    }
    const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = typeof stdin === "string" ? [Buffer.from(stdin)] : stdin instanceof Uint8Array ? [stdin] : stdin;
    for await (const chunk of chunks) {
      if (!stream.write(chunk)) await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          stream.removeListener("close", onClose);
          resolve();
        };
        const onClose = () => {
          stream.removeListener("drain", onDrain);
          reject(sshError(`the command on ${this.host} ended before reading all of its input`));
        };
        stream.once("drain", onDrain);
        stream.once("close", onClose);
      });
    }
    stream.end();
  }

  async sftp(): Promise<SshSftp> {
    const release = await this.#channel();
    try {
      const sftp = await this.request<SFTPWrapper>("opening SFTP", (done) => this.client.sftp(done), (err) => sshError(`SFTP is not available on ${this.host}: ${err.message}`, err));
      return sftpSession(this, sftp, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#failure === undefined) this.#fail(new InspectError("INSPECT_CLOSED", `the connection to ${this.host} was closed; connect again to use it`));
  }
}

/** An SFTP status as the InspectError it means. */
function sftpError(err: Error, path: string, host: string): InspectError {
  const code = (err as { code?: unknown }).code;
  if (code === 2) return new InspectError("INSPECT_NOT_FOUND", `${path} does not exist on ${host}`, { path, cause: err });
  if (code === 3) return new InspectError("INSPECT_PERMISSION_DENIED", `permission denied on ${path} on ${host}; connect as a user who may read it, or use sudo`, { path, cause: err });
  return new InspectError("INSPECT_SSH", `SFTP failed on ${path} on ${host}: ${err.message}`, { path, cause: err });
}

function attributesOf(st: Stats): SftpAttributes {
  return { type: typeOfMode(st.mode), mode: st.mode & 0o7777, size: st.size, uid: st.uid, gid: st.gid, atime: st.atime, mtime: st.mtime };
}

function sftpSession(connection: Connection, sftp: SFTPWrapper, release: () => void): SshSftp {
  const call = <T>(what: string, path: string, start: (done: (err: Error | null | undefined, value: T) => void) => void) =>
    connection.request<T>(`SFTP ${what} of ${path}`, start, (err) => sftpError(err, path, connection.host));
  const closeHandle = (handle: Buffer) => call<void>("close", "a file", (done) => sftp.close(handle, (err) => done(err, undefined))).catch(() => {});

  const session: SshSftp = {
    async lstat(path) {
      return attributesOf(await call<Stats>("lstat", path, (done) => sftp.lstat(path, done)));
    },
    async stat(path) {
      return attributesOf(await call<Stats>("stat", path, (done) => sftp.stat(path, done)));
    },
    async readdir(path) {
      const list = await call<{ filename: string; attrs: Stats }[]>("readdir", path, (done) => sftp.readdir(path, done));
      return list.filter((e) => e.filename !== "." && e.filename !== "..").map((e) => ({ name: e.filename, attributes: attributesOf(e.attrs) }));
    },
    readlink: (path) => call<string>("readlink", path, (done) => sftp.readlink(path, done)),
    async open(path) {
      const handle = await call<Buffer>("open", path, (done) => sftp.open(path, "r", done));
      let st: Stats;
      try {
        st = await call<Stats>("fstat", path, (done) => sftp.fstat(handle, done));
        const type = typeOfMode(st.mode);
        if (type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `${path} is a directory on ${connection.host}, not a file`, { path });
        if (type !== "file") throw new InspectError("INSPECT_UNSUPPORTED", `${path} is not a regular file on ${connection.host}`, { path });
      } catch (err) {
        await closeHandle(handle);
        throw err;
      }
      let closed = false;
      return {
        size: st.size,
        async read(buffer, position) {
          if (closed) throw new InspectError("INSPECT_CLOSED", `${path} was closed; open it again to read from it`, { path });
          const target = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
          let got = 0;
          while (got < target.length) {
            const n = await call<number>("read", path, (done) => sftp.read(handle, target, got, Math.min(target.length - got, SFTP_CHUNK), position + got, (err, bytesRead) => done(err, bytesRead)));
            if (n === 0) break;
            got += n;
          }
          return got;
        },
        async close() {
          if (closed) return;
          closed = true;
          await closeHandle(handle);
        },
      };
    },
    async writeFile(path, content, options = {}) {
      options.signal?.throwIfAborted();
      const slash = path.lastIndexOf("/");
      const temp = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.partial-${process.pid}-${Date.now().toString(36)}`;
      const handle = await call<Buffer>("create", temp, (done) => sftp.open(temp, "wx", { mode: options.mode ?? 0o644 }, done));
      let position = 0;
      try {
        const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = content instanceof Uint8Array ? [content] : content;
        for await (const chunk of chunks) {
          options.signal?.throwIfAborted();
          const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          for (let at = 0; at < data.length; at += SFTP_CHUNK) {
            const piece = data.subarray(at, at + SFTP_CHUNK);
            await call<void>("write", temp, (done) => sftp.write(handle, piece, 0, piece.length, position, (err) => done(err, undefined)));
            position += piece.length;
          }
        }
        await call<void>("close", temp, (done) => sftp.close(handle, (err) => done(err, undefined)));
        options.signal?.throwIfAborted();
        await call<void>("rename", temp, (done) => sftp.ext_openssh_rename(temp, path, (err) => done(err, undefined)));
      } catch (err) {
        await closeHandle(handle);
        await call<void>("unlink", temp, (done) => sftp.unlink(temp, (e) => done(e, undefined))).catch(() => {});
        throw err;
      }
    },
    rename: (from, to) => call<void>("rename", from, (done) => sftp.ext_openssh_rename(from, to, (err) => done(err, undefined))),
    unlink: (path) => call<void>("unlink", path, (done) => sftp.unlink(path, (err) => done(err, undefined))),
    mkdir: (path, mode) => call<void>("mkdir", path, (done) => sftp.mkdir(path, mode === undefined ? {} : { mode }, (err) => done(err, undefined))),
    async close() {
      sftp.end();
      release();
    },
  };
  return session;
}
