// A live machine over SSH: a real OpenSSH sshd on 127.0.0.1 (own port, host key, authorized key)
// serving a copy of the el6-xen guest's tree, containerized as `leapp containerize ssh://…` reads
// it — host key checked — into the same image as from the tree itself, file for file.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDirectoryGuest, openSshGuest } from "@leapp/inspect";
import { buildZooGuest, freeLocalPort } from "@leapp/zoo";
import { containerize, type ContainerizeResult } from "./containerize.js";
import { scratchDir, tool } from "./testing.js";

let sshd: ChildProcess | undefined;
let port = 0;
let work: string;
let tree: string;


beforeAll(async () => {
  work = scratchDir();
  tree = join(work, "guest-root");
  cpSync((await buildZooGuest("el6-xen", "raw")).rootTree, tree, { recursive: true, verbatimSymlinks: true });
  for (const key of ["host_key", "client_key"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(work, key)]);
  writeFileSync(join(work, "authorized_keys"), readFileSync(join(work, "client_key.pub")));
  port = await freeLocalPort();
  const config = join(work, "sshd_config");
  writeFileSync(config, [`Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${join(work, "host_key")}`, `PidFile ${join(work, "sshd.pid")}`, `AuthorizedKeysFile ${join(work, "authorized_keys")}`, "PasswordAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp", ""].join("\n"));
  const hostPub = readFileSync(join(work, "host_key.pub"), "utf8").trim().split(/\s+/);
  writeFileSync(join(work, "known_hosts"), `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
  sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 15_000);
    sshd!.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("Server listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    sshd!.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${code}: ${log}`));
    });
  });
}, 120_000);

afterAll(() => {
  if (sshd && sshd.exitCode === null) sshd.kill("SIGTERM");
});

/** The first layer's members, as GNU tar lists them (names, types, modes, owners, sizes, links). */
function rootfsListing(archive: string): string[] {
  const dir = join(work, `x-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  tool("tar", ["-xf", archive, "-C", dir]);
  return tool("tar", ["--numeric-owner", "-tvf", join(dir, "1/layer.tar")])
    .toString()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/\s\d{4}-\d\d-\d\d \d\d:\d\d\s/, " "));
}

it("containerizes the live machine over SSH into the image its tree makes", async () => {
  const live = await openSshGuest(`ssh://root@127.0.0.1:${port}`, { identity: join(work, "client_key"), knownHosts: join(work, "known_hosts"), root: tree });
  let overSsh: ContainerizeResult;
  try {
    overSsh = await containerize(live, join(work, "ssh.tar"), { reference: "web01:ssh" });
  } finally {
    await live.close();
  }
  const local = await openDirectoryGuest(tree);
  let fromTree: ContainerizeResult;
  try {
    fromTree = await containerize(local, join(work, "tree.tar"), { reference: "web01:tree" });
  } finally {
    await local.close();
  }
  expect(overSsh.runSpec.labels["io.leapp.source.kind"]).toBe("ssh");
  expect(overSsh.runSpec.command).toEqual(fromTree.runSpec.command);
  expect(overSsh.runSpec.exposedPorts).toEqual(fromTree.runSpec.exposedPorts);
  expect(overSsh.runSpec.adaptations).toEqual(fromTree.runSpec.adaptations);
  expect(overSsh.rootfs.files).toBe(fromTree.rootfs.files);
  expect(rootfsListing(join(work, "ssh.tar"))).toEqual(rootfsListing(join(work, "tree.tar")));
});
