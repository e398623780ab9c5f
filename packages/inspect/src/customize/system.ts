// The operations whose files depend on the guest's distribution — hostname, timezone, root
// password, SSH keys — each writing what that distribution reads, as virt-customize does.
import { InspectError } from "../errors.js";
import type { Distro, OsIdentity } from "../os/os-release.js";
import { SMALL_FILE_BYTES } from "../read-limits.js";
import { checkGuestPath, statOrUndefined, type OperationContext, type OperationHandlers } from "./context.js";
import { guestJoin } from "./copy-tree.js";
import { md5Crypt, sha512Crypt } from "./crypt.js";

const encoder = new TextEncoder();
const rhelLike: readonly Distro[] = ["rhel", "centos", "scientificlinux", "oraclelinux", "rocky", "redhat-based"];
const debianLike: readonly Distro[] = ["debian", "ubuntu", "linuxmint"];
const suseLike: readonly Distro[] = ["opensuse", "sles", "suse-based"];

/** A small guest text file, or undefined when it does not exist. */
async function readText(context: OperationContext, path: string): Promise<string | undefined> {
  const st = await statOrUndefined(context.guest, path);
  if (st === undefined) return undefined;
  if (st.type !== "file") throw new InspectError("INSPECT_INVALID", `${path} in the guest is a ${st.type}, not a file`, { path });
  return Buffer.from(await context.guest.readFile(path, { maxBytes: SMALL_FILE_BYTES })).toString("utf8");
}

/** Writes a guest file in place (a symlink followed, the inode and its attributes kept). */
async function writeText(context: OperationContext, path: string, text: string): Promise<void> {
  await context.guest.writeFile(await context.guest.realpath(path), encoder.encode(text));
}

/** KEY=value replacing every KEY= line (appended at the end), as virt-customize edits sysconfig files. */
async function replaceKey(context: OperationContext, path: string, key: string, value: string): Promise<void> {
  const old = await readText(context, path);
  const kept = old === undefined ? [] : old.split("\n").filter((line, i, all) => !line.startsWith(`${key}=`) && !(i === all.length - 1 && line === ""));
  await writeText(context, path, [...kept, `${key}=${value}`].join("\n") + "\n");
}

type HostnameStyle = "hostname-file" | "debian" | "sysconfig" | "suse" | undefined;

function hostnameStyle(os: OsIdentity): HostnameStyle {
  if ((os.distro === "fedora" && os.majorVersion >= 18) || (rhelLike.includes(os.distro) && os.majorVersion >= 7)) return "hostname-file";
  if (debianLike.includes(os.distro)) return "debian";
  if (os.distro === "fedora" || rhelLike.includes(os.distro)) return "sysconfig";
  return suseLike.includes(os.distro) ? "suse" : undefined;
}

/** /etc/hosts with the old name (full or short) and Debian's installer placeholders replaced. */
export function replaceHostInHosts(text: string, oldHost: string | undefined, newHost: string): string {
  const [oldShort] = oldHost === undefined ? [undefined] : oldHost.split(".");
  const newShort = newHost.split(".")[0]!;
  const newHasDomain = newHost.includes(".");
  return text
    .split("\n")
    .map((line) => {
      if (line.trimStart().startsWith("#")) return line;
      const parts = line.split(/(\s+)/);
      let seenAddress = false;
      for (let i = 0; i < parts.length; i++) {
        const token = parts[i]!;
        if (token === "" || /^\s+$/.test(token)) continue;
        if (token.startsWith("#")) break;
        if (!seenAddress) {
          seenAddress = true;
          continue;
        }
        if (oldHost !== undefined && token === oldHost) parts[i] = newHost;
        else if (oldShort !== undefined && token === oldShort) parts[i] = newShort;
        else if (token === "unassigned-hostname") parts[i] = newShort;
        else if (token === "unassigned-hostname.unassigned-domain" && newHasDomain) parts[i] = newHost;
      }
      return parts.join("");
    })
    .join("\n");
}

/** The hash a guest's libc understands: SHA-512 crypt since glibc 2.7 (2007), MD5 crypt before. */
function hashFor(os: OsIdentity, password: string, warn: (m: string) => void): string {
  const v = os.majorVersion;
  const old =
    (rhelLike.includes(os.distro) && v < 6) ||
    (os.distro === "fedora" && v < 9) ||
    (os.distro === "debian" && v < 5) ||
    (os.distro === "ubuntu" && v < 10) ||
    (suseLike.includes(os.distro) && v < 11) ||
    os.distro === "unknown";
  if (os.distro === "unknown") warn("--root-password: the guest's distribution is unknown; hashing with MD5 crypt, which every libc reads");
  return old ? md5Crypt(password) : sha512Crypt(password);
}

/** A user's uid, gid and home from /etc/passwd. */
async function passwdEntry(context: OperationContext, user: string): Promise<{ uid: number; gid: number; home: string }> {
  const passwd = (await readText(context, "/etc/passwd")) ?? "";
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] !== user || f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    const home = f[5]!;
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || !home.startsWith("/")) throw new InspectError("INSPECT_CORRUPT", `the guest's /etc/passwd entry of ${user} is malformed`, { path: "/etc/passwd" });
    return { uid, gid, home };
  }
  throw new InspectError("INSPECT_NOT_FOUND", `--ssh-inject: the user ${user} does not exist in the guest (no entry in /etc/passwd)`, { path: "/etc/passwd" });
}

const hostnamePattern = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;
const zonePattern = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/;
const userPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/;

export const systemOperations: Pick<OperationHandlers, "hostname" | "timezone" | "root-password" | "ssh-inject"> = {
  hostname: {
    check(o) {
      if (o.hostname.length > 253 || !hostnamePattern.test(o.hostname)) throw new InspectError("INSPECT_INVALID", `--hostname: ${JSON.stringify(o.hostname)} is not a host name (letters, digits, - and _, dot-separated, at most 253 characters)`);
    },
    async targets(o, context) {
      const style = hostnameStyle(await context.os());
      if (style === "hostname-file") return ["/etc/hostname", "/etc/machine-info"];
      if (style === "debian") return ["/etc/hostname", "/etc/hosts"];
      if (style === "suse") return ["/etc/HOSTNAME"];
      if (style === "sysconfig") return (await statOrUndefined(context.guest, "/etc/hostname")) ? ["/etc/sysconfig/network", "/etc/hostname"] : ["/etc/sysconfig/network"];
      return [];
    },
    async run(o, context) {
      const style = hostnameStyle(await context.os());
      switch (style) {
        case "hostname-file":
          await writeText(context, "/etc/hostname", `${o.hostname}\n`);
          await replaceKey(context, "/etc/machine-info", "PRETTY_HOSTNAME", o.hostname);
          break;
        case "debian": {
          const old = (await readText(context, "/etc/hostname"))?.split("\n")[0]?.trim();
          await writeText(context, "/etc/hostname", `${o.hostname}\n`);
          const hosts = await readText(context, "/etc/hosts");
          if (hosts !== undefined) await writeText(context, "/etc/hosts", replaceHostInHosts(hosts, old || undefined, o.hostname));
          break;
        }
        case "sysconfig":
          await replaceKey(context, "/etc/sysconfig/network", "HOSTNAME", o.hostname);
          // What `leapp inspect` and the hostname command read first, where a later tool left one.
          if (await statOrUndefined(context.guest, "/etc/hostname")) await writeText(context, "/etc/hostname", `${o.hostname}\n`);
          break;
        case "suse":
          await writeText(context, "/etc/HOSTNAME", o.hostname);
          break;
        default: {
          const os = await context.os();
          context.warn(`--hostname: leapp does not know where ${os.distro} ${os.majorVersion} keeps its hostname; nothing changed (virt-customize does not know either)`);
        }
      }
    },
  },

  timezone: {
    check(o) {
      if (!zonePattern.test(o.timezone) || o.timezone.split("/").includes("..")) throw new InspectError("INSPECT_INVALID", `--timezone: ${JSON.stringify(o.timezone)} is not a time zone name; use a location like Europe/London`);
    },
    async targets(o, context) {
      const os = await context.os();
      if (debianLike.includes(os.distro)) return ["/etc/localtime", "/etc/timezone"];
      if (rhelLike.includes(os.distro) && os.majorVersion <= 6) return ["/etc/localtime", "/etc/sysconfig/clock"];
      return ["/etc/localtime"];
    },
    async run(o, context) {
      const { guest } = context;
      const zoneFile = `/usr/share/zoneinfo/${o.timezone}`;
      if ((await statOrUndefined(guest, zoneFile))?.type !== "file") {
        throw new InspectError("INSPECT_NOT_FOUND", `--timezone: ${o.timezone} does not exist in the guest (no ${zoneFile}); use a location like Europe/London`, { path: zoneFile });
      }
      const current = await statOrUndefined(guest, "/etc/localtime", false);
      if (current?.type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", "--timezone: /etc/localtime is a directory in the guest", { path: "/etc/localtime" });
      if (current) await guest.unlink("/etc/localtime");
      await guest.symlink(zoneFile, "/etc/localtime");
      const os = await context.os();
      if (debianLike.includes(os.distro)) await writeText(context, "/etc/timezone", `${o.timezone}\n`);
      else if (rhelLike.includes(os.distro) && os.majorVersion <= 6) await replaceKey(context, "/etc/sysconfig/clock", "ZONE", `"${o.timezone}"`);
    },
  },

  "root-password": {
    check(o) {
      if (o.password !== null && (typeof o.password !== "string" || /[\0\n]/.test(o.password))) throw new InspectError("INSPECT_INVALID", "--root-password: the password must not hold a NUL or a line break");
    },
    targets: async () => ["/etc/shadow"],
    async run(o, context) {
      const shadow = await readText(context, "/etc/shadow");
      if (shadow === undefined) throw new InspectError("INSPECT_NOT_FOUND", "--root-password: the guest has no /etc/shadow", { path: "/etc/shadow" });
      const lines = shadow.split("\n");
      const at = lines.findIndex((l) => l.startsWith("root:"));
      if (at < 0) throw new InspectError("INSPECT_NOT_FOUND", "--root-password: /etc/shadow in the guest has no entry for root", { path: "/etc/shadow" });
      const fields = lines[at]!.split(":");
      fields[1] = o.password === null ? "*" : hashFor(await context.os(), o.password, context.warn);
      lines[at] = fields.join(":");
      await writeText(context, "/etc/shadow", lines.join("\n"));
    },
  },

  "ssh-inject": {
    check(o) {
      if (!userPattern.test(o.user)) throw new InspectError("INSPECT_INVALID", `--ssh-inject: ${JSON.stringify(o.user)} is not a user name`);
      if (o.key.trim() === "" || /[\0\r]/.test(o.key) || o.key.trimEnd().includes("\n")) throw new InspectError("INSPECT_INVALID", "--ssh-inject: the key must be one non-empty line (an OpenSSH public key)");
    },
    async targets(o, context) {
      const { home } = await passwdEntry(context, o.user);
      return [guestJoin(home, ".ssh/authorized_keys")];
    },
    async run(o, context) {
      const { guest } = context;
      const { uid, gid, home } = await passwdEntry(context, o.user);
      if ((await statOrUndefined(guest, home))?.type !== "directory") throw new InspectError("INSPECT_NOT_FOUND", `--ssh-inject: the home directory ${home} of ${o.user} does not exist in the guest`, { path: home });
      const sshDir = guestJoin(home, ".ssh");
      checkGuestPath(sshDir, "--ssh-inject");
      if (!(await statOrUndefined(guest, sshDir))) await guest.mkdir(sshDir, { mode: 0o700, uid, gid });
      const keys = guestJoin(sshDir, "authorized_keys");
      const key = o.key.trimEnd();
      const old = await readText(context, keys);
      if (old === undefined) return guest.writeFile(await guest.realpath(keys), encoder.encode(`${key}\n`), { mode: 0o600, uid, gid });
      if (old.split("\n").some((line) => line.trim() === key)) return;
      await writeText(context, keys, `${old}${old === "" || old.endsWith("\n") ? "" : "\n"}${key}\n`);
    },
  },
};

/**
 * After changes to a guest that runs SELinux, files made here carry no label: as virt-customize
 * does when it cannot run setfiles, ask the guest to relabel itself at next boot. Returns whether
 * the guest runs SELinux (and so, unless a dry run, whether /.autorelabel is there now).
 */
export async function requestSelinuxRelabel(context: OperationContext, dryRun: boolean): Promise<boolean> {
  const { guest } = context;
  const selinux = (await statOrUndefined(guest, "/usr/sbin/load_policy"))?.type === "file" && (await statOrUndefined(guest, "/etc/selinux/config"))?.type === "file";
  if (!selinux) return false;
  if (!dryRun && !(await statOrUndefined(guest, "/.autorelabel", false))) await guest.writeFile("/.autorelabel", new Uint8Array(0));
  return true;
}
