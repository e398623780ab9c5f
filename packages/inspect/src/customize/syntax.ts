// virt-customize's option syntax (`--write PATH:CONTENT`, `--chown UID:GID:PATH`…) read into
// typed operations: what `leapp customize` parses its command line with.
import { open, readdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { InspectError } from "../errors.js";
import { randomSalt } from "./crypt.js";
import type { CustomizeOperation, CustomizeOperationName } from "./operations.js";

/** The options, as virt-customize names them (without the leading dashes). */
export const customizeOptionNames: readonly CustomizeOperationName[] = [
  "write", "append-line", "upload", "copy-in", "mkdir", "touch", "truncate", "delete", "move", "link",
  "chmod", "chown", "hostname", "timezone", "edit", "ssh-inject", "root-password",
];

export interface ParsedOption {
  operation: CustomizeOperation;
  /** Something the user should see (a decimal mode, a generated password). */
  note?: string;
}

/** Host files named in options (keys, password files) are small: this much is read at most. */
const MAX_HOST_TEXT = 64 * 1024;

const usage = (name: string, syntax: string, value: string) =>
  new InspectError("INSPECT_INVALID", `--${name} ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}: expected --${name} ${syntax}`);

/** `A:B` split at the first colon. */
function pair(name: string, syntax: string, value: string): [string, string] {
  const at = value.indexOf(":");
  if (at <= 0) throw usage(name, syntax, value);
  return [value.slice(0, at), value.slice(at + 1)];
}

async function readHostText(path: string, what: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw new InspectError("INSPECT_NOT_FOUND", `${what}: cannot read ${path} on this host (${(err as { code?: string }).code ?? String(err)})`, { path, cause: err });
  }
  try {
    const buffer = Buffer.alloc(MAX_HOST_TEXT + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_HOST_TEXT) throw new InspectError("INSPECT_TOO_LARGE", `${what}: ${path} is larger than ${MAX_HOST_TEXT} bytes; it should hold one line`, { path });
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** The newest ~/.ssh/id*.pub of the user running leapp, as ssh-copy-id picks it. */
async function ownPublicKey(): Promise<string> {
  const dir = join(homedir(), ".ssh");
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => /^id.*\.pub$/.test(n) && !n.endsWith("-cert.pub"));
  } catch {
    // no ~/.ssh at all: the error below says what to do
  }
  if (names.length === 0) throw new InspectError("INSPECT_NOT_FOUND", `--ssh-inject: no public key (id*.pub) in ${dir}; name one with USER:file:KEYFILE`);
  const dated = await Promise.all(names.map(async (n) => ({ path: join(dir, n), mtime: (await stat(join(dir, n))).mtimeMs })));
  dated.sort((a, b) => b.mtime - a.mtime);
  return readHostText(dated[0]!.path, "--ssh-inject");
}

/** A permission mode as virt-customize reads it: octal with a leading 0, decimal otherwise. */
function parseMode(text: string, value: string): { mode: number; note?: string } {
  if (/^0[0-7]*$/.test(text)) return { mode: parseInt(text, 8) };
  if (/^[1-9][0-9]{0,4}$/.test(text)) {
    const mode = parseInt(text, 10);
    return { mode, note: `--chmod ${text}: read as decimal ${text} = 0${mode.toString(8)}, as virt-customize reads it; write 0${text} if you meant octal` };
  }
  throw usage("chmod", "PERMISSIONS:FILE (octal with a leading 0, e.g. 0644)", value);
}

const decimalId = (text: string, value: string): number => {
  if (!/^\d{1,10}$/.test(text)) throw usage("chown", "UID:GID:PATH (numeric ids)", value);
  return Number(text);
};

/** One virt-customize option (name without dashes) and its value, as the typed operation. */
export async function parseCustomizeOption(name: string, value: string): Promise<ParsedOption> {
  switch (name) {
    case "write": {
      const [path, content] = pair(name, "PATH:CONTENT", value);
      return { operation: { op: "write", path, content } };
    }
    case "append-line": {
      const [path, line] = pair(name, "PATH:LINE", value);
      return { operation: { op: "append-line", path, line } };
    }
    case "upload": {
      const [hostFile, path] = pair(name, "HOSTFILE:PATH", value);
      return { operation: { op: "upload", hostFile, path } };
    }
    case "copy-in": {
      const [hostPath, guestDir] = pair(name, "HOSTPATH:GUESTDIR", value);
      return { operation: { op: "copy-in", hostPath, guestDir } };
    }
    case "mkdir":
    case "touch":
    case "truncate":
    case "delete":
      return { operation: { op: name, path: value } };
    case "move": {
      const [from, to] = pair(name, "SRC:DST", value);
      return { operation: { op: "move", from, to } };
    }
    case "link": {
      const [target, ...links] = value.split(":");
      if (!target || links.length === 0 || links.some((l) => l === "")) throw usage(name, "TARGET:LINK[:LINK…]", value);
      return { operation: { op: "link", target, links } };
    }
    case "chmod": {
      const [text, path] = pair(name, "PERMISSIONS:FILE", value);
      const { mode, note } = parseMode(text, value);
      return { operation: { op: "chmod", mode, path }, ...(note ? { note } : {}) };
    }
    case "chown": {
      const [uid, rest] = pair(name, "UID:GID:PATH", value);
      const [gid, path] = pair(name, "UID:GID:PATH", rest);
      return { operation: { op: "chown", uid: decimalId(uid, value), gid: decimalId(gid, value), path } };
    }
    case "hostname":
      return { operation: { op: "hostname", hostname: value } };
    case "timezone":
      return { operation: { op: "timezone", timezone: value } };
    case "edit": {
      const [path, expression] = pair(name, "PATH:s/REGEX/REPLACEMENT/[g]", value);
      return { operation: { op: "edit", path, expression } };
    }
    case "ssh-inject": {
      const at = value.indexOf(":");
      const user = at < 0 ? value : value.slice(0, at);
      const selector = at < 0 ? "" : value.slice(at + 1);
      let key: string;
      if (selector === "") key = await ownPublicKey();
      else if (selector.startsWith("file:")) key = await readHostText(selector.slice(5), "--ssh-inject");
      else if (selector.startsWith("string:")) key = selector.slice(7);
      else throw usage(name, "USER[:file:KEYFILE|:string:KEY]", value);
      return { operation: { op: "ssh-inject", user, key } };
    }
    case "root-password": {
      if (value === "disabled" || value === "disable") return { operation: { op: "root-password", password: null } };
      if (value.startsWith("password:")) return { operation: { op: "root-password", password: value.slice(9) } };
      if (value.startsWith("file:")) return { operation: { op: "root-password", password: (await readHostText(value.slice(5), "--root-password")).split("\n")[0]! } };
      if (value === "random") {
        const password = randomSalt(16).replace(/[./]/g, "x");
        return { operation: { op: "root-password", password }, note: `--root-password random: root's password is ${password}` };
      }
      throw usage(name, "password:PASSWORD | file:FILENAME | random | disabled", value);
    }
    default:
      throw new InspectError("INSPECT_INVALID", `--${name} is not a customize option; these are: ${customizeOptionNames.map((n) => `--${n}`).join(" ")}`);
  }
}
