// SSH servers that misbehave, written here with ssh2's own server (a real SSH protocol peer in this
// process): one that authenticates and then never answers a request, one that goes silent on the
// wire (keepalives unanswered), one whose command never ends. Every wait ends in INSPECT_TIMEOUT
// (or the caller's AbortSignal), never forever.
import { createServer, type AddressInfo, type Socket } from "node:net";
import ssh2, { type Connection, type Server } from "ssh2";
import { afterEach, describe, expect, it } from "vitest";
import { openSshGuest } from "./ssh-guest.js";
import { connectSsh } from "./ssh-client.js";
import { sha256Fingerprint } from "./known-hosts.js";

const hostKey = ssh2.utils.generateKeyPairSync("ed25519");
const clientKey = ssh2.utils.generateKeyPairSync("ed25519");
const fingerprint = sha256Fingerprint((ssh2.utils.parseKey(hostKey.public) as { getPublicSSH(): Buffer }).getPublicSSH());

type Behaviour = "ignore-requests" | "go-silent" | "endless-command";
const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});
const socketOf = (client: Connection) => (client as unknown as { _sock: Socket })._sock;

/** A server accepting our key, then misbehaving as told; resolves to its ssh:// URL. */
async function server(behaviour: Behaviour): Promise<string> {
  const srv = new ssh2.Server({ hostKeys: [hostKey.private] }, (client: Connection) => {
    sockets.push(socketOf(client));
    client.on("error", () => {});
    client.on("authentication", (ctx) => (ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"])));
    client.on("ready", () => {
      if (behaviour === "go-silent") {
        // Nothing more goes out, nothing more is read: as a host that froze.
        const socket = socketOf(client);
        socket.pause();
        socket.write = (() => true) as typeof socket.write;
      }
      client.on("session", (accept) => {
        if (behaviour === "ignore-requests") return; // the channel is never confirmed
        const session = accept();
        session.on("exec", (acceptExec) => {
          acceptExec(); // started, and then nothing: no output, no exit status
        });
        session.on("sftp", () => {}); // never answered
      });
    });
  });
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return `ssh://root@127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

const auth = { privateKey: clientKey.private, fingerprint };

describe("connectSsh against servers that stop answering", () => {
  it("fails a request nobody answers with INSPECT_TIMEOUT, and closes the connection", async () => {
    const ssh = await connectSsh(await server("ignore-requests"), { ...auth, requestTimeoutMs: 300 });
    expect(ssh.hostKeyFingerprint).toBe(fingerprint);
    await expect(ssh.exec("true")).rejects.toMatchObject({ code: "INSPECT_TIMEOUT", message: expect.stringContaining("did not answer starting a command within 300 ms") });
    expect(ssh.closed).toBe(true);
    await expect(ssh.exec("true")).rejects.toMatchObject({ code: "INSPECT_TIMEOUT" });
  });

  it("notices a silent server by its unanswered keepalives", async () => {
    const ssh = await connectSsh(await server("go-silent"), { ...auth, keepaliveIntervalMs: 100, keepaliveCountMax: 2, requestTimeoutMs: 60_000 });
    await expect(ssh.exec("true")).rejects.toMatchObject({ code: "INSPECT_TIMEOUT", message: expect.stringContaining("keepalives") });
  });

  it("stops a command that never ends at its deadline, or when its signal is aborted", async () => {
    const ssh = await connectSsh(await server("endless-command"), { ...auth, requestTimeoutMs: 2000 });
    await expect(ssh.exec("sleep infinity", { timeoutMs: 200 })).rejects.toMatchObject({ code: "INSPECT_TIMEOUT", message: expect.stringContaining("did not end within 200 ms") });
    const controller = new AbortController();
    const reason = new Error("user stopped it");
    const pending = ssh.exec("sleep infinity", { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    await ssh.close();
  });

  it("gives up a connection when its signal is aborted, during the calls as before them", async () => {
    const url = await server("ignore-requests");
    const controller = new AbortController();
    const ssh = await connectSsh(url, { ...auth, signal: controller.signal });
    const pending = ssh.exec("true");
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(connectSsh(url, { ...auth, signal: controller.signal })).rejects.toBe(reason);
  });

  it("never hangs `openSshGuest` on a server that authenticates and then stalls", async () => {
    for (const behaviour of ["ignore-requests", "endless-command"] as const) {
      await expect(openSshGuest(await server(behaviour), { ...auth, requestTimeoutMs: 300, commandTimeoutMs: 300 })).rejects.toMatchObject({ code: "INSPECT_TIMEOUT" });
    }
  });

  it("gives up a handshake a peer never starts, and nothing is thrown later when its socket closes", async () => {
    // As QEMU's user-mode forwarding does while the guest's sshd is not up yet: the TCP connection is accepted, nothing is said.
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `ssh://root@127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      await expect(connectSsh(url, { ...auth, connectTimeoutMs: 200 })).rejects.toMatchObject({ code: "INSPECT_TIMEOUT" });
      await new Promise((resolve) => setTimeout(resolve, 100)); // an error emitted late would fail the run as unhandled
    } finally {
      silent.close();
    }
  });

  it("refuses a host key that is not the pinned one before authenticating", async () => {
    const other = ssh2.utils.generateKeyPairSync("ed25519");
    const wrong = sha256Fingerprint((ssh2.utils.parseKey(other.public) as { getPublicSSH(): Buffer }).getPublicSSH());
    await expect(connectSsh(await server("ignore-requests"), { privateKey: clientKey.private, fingerprint: wrong })).rejects.toMatchObject({ code: "INSPECT_SSH_HOST_KEY" });
    await expect(connectSsh(await server("ignore-requests"), { privateKey: clientKey.private })).rejects.toMatchObject({ code: "INSPECT_SSH_HOST_KEY" });
  });
});
