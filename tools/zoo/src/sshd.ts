// A real OpenSSH server for tests of live hosts: its own config, host key and authorized client
// key, on 127.0.0.1 at a free port, as a host tests can log in to without touching this
// machine's own sshd — and the same in front of this machine's podman, as a container host.
// Test support only: it shapes no zoo guest.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZooError } from "./errors.js";

export interface SshdOptions {
  /** Extra sshd_config lines (`SetEnv CONTAINERS_CONF=…`, `ForceCommand …`). */
  config?: string[];
}

/** A running sshd and what a client needs to log in to it with its host key checked. */
export interface TestSshd {
  port: number;
  /** `ssh://USER@127.0.0.1:PORT`. */
  url(user?: string): string;
  /** The client's private key (its public half is the only authorized key). */
  identity: string;
  /** A known_hosts file listing this server's key for `[127.0.0.1]:PORT`. */
  knownHosts: string;
  /** The host key's fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** A known_hosts file listing another key for the same host and port: what a man in the middle looks like. */
  wrongKnownHosts: string;
  /** What sshd has logged so far (`-e`: connections, authentications). */
  log(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free now: the caller binds it next). */
export async function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function keygen(path: string): void {
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "leapp-test", "-f", path], { stdio: "pipe" });
  } catch (err) {
    throw new ZooError("ZOO_TOOL_FAILED", `ssh-keygen failed: ${(err as Error).message} (install openssh-client)`, { cause: err });
  }
}

/** A known_hosts line for `[127.0.0.1]:port` from an OpenSSH public key file. */
export function knownHostsLine(port: number, publicKeyFile: string): string {
  const [type, blob] = readFileSync(publicKeyFile, "utf8").trim().split(/\s+/);
  return `[127.0.0.1]:${port} ${type} ${blob}\n`;
}

/** Starts `/usr/sbin/sshd -D -e` with a config of its own; resolves once it listens. */
export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), "leapp-sshd-"));
  for (const key of ["host_key", "other_host_key", "client_key"]) keygen(join(dir, key));
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const port = await freeLocalPort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "Subsystem sftp internal-sftp",
      ...(options.config ?? []),
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "known_hosts"), knownHostsLine(port, join(dir, "host_key.pub")));
  writeFileSync(join(dir, "wrong_known_hosts"), knownHostsLine(port, join(dir, "other_host_key.pub")));
  const fingerprint = execFileSync("ssh-keygen", ["-lf", join(dir, "host_key.pub")]).toString().split(/\s+/)[1]!;
  // The privilege-separation directory systemd-tmpfiles would make at boot.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
  const proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr!.on("data", (d: Buffer) => {
    log += d.toString();
    if (log.length > 1 << 20) log = log.slice(-(1 << 19));
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ZooError("ZOO_TOOL_FAILED", `sshd did not start within 15 s: ${log}`)), 15_000);
    const onData = () => {
      if (log.includes("Server listening")) {
        clearTimeout(timer);
        proc.stderr!.off("data", onData);
        resolve();
      }
    };
    proc.stderr!.on("data", onData);
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(new ZooError("ZOO_TOOL_FAILED", `cannot run /usr/sbin/sshd (install openssh-server): ${err.message}`, { cause: err }));
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new ZooError("ZOO_TOOL_FAILED", `sshd exited with ${code}: ${log}`));
    });
  });
  return {
    port,
    url: (user = "root") => `ssh://${user}@127.0.0.1:${port}`,
    identity: join(dir, "client_key"),
    knownHosts: join(dir, "known_hosts"),
    wrongKnownHosts: join(dir, "wrong_known_hosts"),
    fingerprint,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * This machine's podman needs runc (crun does not work on its kernel) and the open-file and
 * process limits systemd asks for: a quirk of the test machine, so it lives in the
 * containers.conf the container host's SSH sessions get, never in what leapp runs there.
 */
export const testContainersConf = ["[containers]", 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]', "", "[engine]", 'runtime = "runc"', ""].join("\n");

/** This machine as a container host over SSH, and its podman as that host's sessions run it. */
export interface TestContainerHost extends TestSshd {
  /** Runs podman here with the host's containers.conf; `allowFailure` turns a failure into "". */
  podman(args: string[], options?: { allowFailure?: boolean }): string;
}

/** An sshd whose sessions get `CONTAINERS_CONF` (testContainersConf), in front of this machine's podman. */
export async function startContainerHost(): Promise<TestContainerHost> {
  const dir = mkdtempSync(join(tmpdir(), "leapp-target-"));
  const conf = join(dir, "containers.conf");
  writeFileSync(conf, testContainersConf);
  const sshd = await startSshd({ config: [`SetEnv CONTAINERS_CONF=${conf}`] });
  const stop = sshd.stop;
  return Object.assign(sshd, {
    podman(args: string[], options: { allowFailure?: boolean } = {}): string {
      try {
        return execFileSync("podman", args, { env: { ...process.env, CONTAINERS_CONF: conf }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 }).toString();
      } catch (err) {
        const e = err as { status?: number; stderr?: Buffer; code?: string };
        if (e.code === "ENOENT") throw new ZooError("ZOO_TOOL_MISSING", "podman is not installed (scripts/install-debian-tools.sh installs what the tests need)");
        if (options.allowFailure) return "";
        throw new ZooError("ZOO_TOOL_FAILED", `podman ${args.join(" ")} failed (exit ${e.status}): ${e.stderr?.toString() ?? ""}`);
      }
    },
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
