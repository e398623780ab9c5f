// The file operations of virt-customize, each as its option does it in the appliance (write,
// append-line, upload, copy-in, mkdir, touch, truncate, delete, move, link, chmod, chown, edit).
import { basename } from "node:path";
import { InspectError } from "../errors.js";
import { splitGuestPath } from "../guestfs/guest-path.js";
import { DEFAULT_MAX_BYTES } from "../read-limits.js";
import { checkGuestPath, checkHostPath, statOrUndefined, type OperationContext, type OperationHandlers } from "./context.js";
import { checkNoMountBelow, copyGuestTree, copyHostTree, guestJoin, guestSplit, removeTree, uploadHostFile } from "./copy-tree.js";
import { parseSubstitution, substituteLines } from "./edit.js";
import { expandGlob } from "./glob.js";

const encoder = new TextEncoder();
const now = () => BigInt(Date.now()) * 1_000_000n;
const MAX_ID = 2 ** 32 - 2;

/** Where a name goes when `path` is an existing directory (as cp, mv and ln put it): inside it. */
async function intoDirectory(context: OperationContext, path: string, name: string): Promise<string> {
  const st = await statOrUndefined(context.guest, path);
  return st?.type === "directory" ? guestJoin(path, name) : path;
}

/** mkdir -p, following links in the parts that exist. */
export async function makeDirectories(context: OperationContext, path: string): Promise<void> {
  let prefix = "";
  for (const component of splitGuestPath(path)) {
    prefix = `${prefix}/${component}`;
    const st = await statOrUndefined(context.guest, prefix);
    if (st === undefined) await context.guest.mkdir(prefix);
    else if (st.type !== "directory") throw new InspectError("INSPECT_NOT_A_DIRECTORY", `--mkdir ${path}: ${prefix} exists and is not a directory`, { path });
  }
}

/** The line ending a file already uses (from its first 8 KiB), as virt-customize guesses it. */
function lineEnding(head: Uint8Array): string {
  const text = Buffer.from(head.subarray(0, 8192)).toString("latin1");
  if (text.includes("\r\n")) return "\r\n";
  if (text.includes("\n")) return "\n";
  return text.includes("\r") ? "\r" : "\n";
}

const single = (option: string) => ({
  check(o: { path: string }) {
    checkGuestPath(o.path, option);
  },
  async targets(o: { path: string }) {
    return [o.path];
  },
});

export const fileOperations: Omit<OperationHandlers, "hostname" | "timezone" | "root-password" | "ssh-inject"> = {
  write: {
    ...single("--write"),
    async run(o, { guest }) {
      const content = typeof o.content === "string" ? encoder.encode(o.content) : o.content;
      await guest.writeFile(await guest.realpath(o.path), content);
    },
  },

  "append-line": {
    check(o) {
      checkGuestPath(o.path, "--append-line");
      if (/[\r\n]/.test(o.line)) throw new InspectError("INSPECT_INVALID", "--append-line: the line must not hold a line break; give --append-line once per line", { path: o.path });
    },
    targets: async (o) => [o.path],
    async run(o, { guest }) {
      const real = await guest.realpath(o.path);
      const st = await statOrUndefined(guest, real, false);
      if (st === undefined) return guest.writeFile(real, encoder.encode(`${o.line}\n`));
      if (st.type !== "file") throw new InspectError("INSPECT_INVALID", `--append-line: ${o.path} is a ${st.type}, not a file`, { path: o.path });
      const old = await guest.readFile(real, { maxBytes: DEFAULT_MAX_BYTES });
      const newline = lineEnding(old);
      const tail = Buffer.from(old.subarray(Math.max(0, old.length - newline.length))).toString("latin1");
      const addition = (old.length === 0 || tail === newline ? "" : newline) + o.line + newline;
      await guest.writeFile(real, Buffer.concat([old, Buffer.from(addition, "utf8")]));
    },
  },

  upload: {
    check(o) {
      checkGuestPath(o.path, "--upload");
    },
    async targets(o, context) {
      await checkHostPath(o.hostFile, "--upload");
      return [await intoDirectory(context, o.path, basename(o.hostFile))];
    },
    async run(o, context) {
      const [target] = await this.targets(o, context);
      await uploadHostFile(context.guest, o.hostFile, target!, context);
    },
  },

  "copy-in": {
    check(o) {
      checkGuestPath(o.guestDir, "--copy-in");
    },
    async targets(o, { guest }) {
      await checkHostPath(o.hostPath, "--copy-in");
      const st = await statOrUndefined(guest, o.guestDir);
      if (st?.type !== "directory") {
        throw new InspectError(st ? "INSPECT_NOT_A_DIRECTORY" : "INSPECT_NOT_FOUND", `--copy-in: ${o.guestDir} must be an existing directory in the guest (make it first with --mkdir)`, { path: o.guestDir });
      }
      return [guestJoin(o.guestDir, basename(o.hostPath))];
    },
    async run(o, context) {
      const [target] = await this.targets(o, context);
      const { dir, base } = guestSplit(target!);
      await copyHostTree(context.guest, o.hostPath, guestJoin(await context.guest.realpath(dir), base), context);
    },
  },

  mkdir: {
    ...single("--mkdir"),
    async run(o, context) {
      await makeDirectories(context, o.path);
    },
  },

  touch: {
    ...single("--touch"),
    async run(o, { guest }) {
      const real = await guest.realpath(o.path);
      const st = await statOrUndefined(guest, real, false);
      if (st === undefined) return guest.writeFile(real, new Uint8Array(0));
      if (st.type !== "file") throw new InspectError("INSPECT_INVALID", `--touch: ${o.path} is a ${st.type}; touch works on regular files`, { path: o.path });
      const t = now();
      await guest.utimes(real, t, t);
    },
  },

  truncate: {
    ...single("--truncate"),
    async run(o, { guest }) {
      const st = await guest.stat(o.path);
      if (st.type !== "file") throw new InspectError("INSPECT_INVALID", `--truncate: ${o.path} is a ${st.type}, not a file`, { path: o.path });
      await guest.truncate(o.path, 0);
    },
  },

  delete: {
    check(o) {
      checkGuestPath(o.path, "--delete");
      const last = o.path.split("/").filter((c) => c !== "").at(-1);
      if (last === undefined || last === "." || last === "..") throw new InspectError("INSPECT_INVALID", `--delete ${o.path}: refusing to delete / or a path ending in "${last ?? "/"}"`, { path: o.path });
    },
    targets: (o, { guest }) => expandGlob(guest, o.path),
    async run(o, { guest, signal }) {
      const matches = await expandGlob(guest, o.path);
      for (const path of matches) await checkNoMountBelow(guest, path, "delete");
      for (const path of matches) await removeTree(guest, path, signal);
    },
  },

  move: {
    check(o) {
      checkGuestPath(o.from, "--move");
      checkGuestPath(o.to, "--move");
    },
    async targets(o, context) {
      if (!(await statOrUndefined(context.guest, o.from, false))) throw new InspectError("INSPECT_NOT_FOUND", `--move: ${o.from} does not exist in the guest`, { path: o.from });
      return [await intoDirectory(context, o.to, guestSplit(o.from).base), o.from];
    },
    async run(o, context) {
      const { guest, signal } = context;
      const [target] = await this.targets(o, context);
      await checkNoMountBelow(guest, o.from, "move");
      try {
        await guest.rename(o.from, target!);
      } catch (err) {
        if (!(err instanceof InspectError) || err.code !== "INSPECT_CROSS_DEVICE") throw err;
        // As mv does between filesystems: replace the target, copy, then remove the source.
        const existing = await statOrUndefined(guest, target!, false);
        if (existing?.type === "directory") await guest.rmdir(target!);
        else if (existing) await guest.unlink(target!);
        await copyGuestTree(guest, o.from, target!, context);
        await removeTree(guest, o.from, signal);
      }
    },
  },

  link: {
    check(o) {
      if (o.target === "" || o.target.includes("\0")) throw new InspectError("INSPECT_INVALID", "--link: the link target must be a non-empty path without NUL");
      if (o.links.length === 0) throw new InspectError("INSPECT_INVALID", "--link: name at least one link (TARGET:LINK[:LINK…])");
      for (const link of o.links) checkGuestPath(link, "--link");
    },
    async targets(o, context) {
      const out: string[] = [];
      for (const link of o.links) out.push(await intoDirectory(context, link, basename(o.target)));
      return out;
    },
    async run(o, context) {
      const { guest } = context;
      for (const link of await this.targets(o, context)) {
        const st = await statOrUndefined(guest, link, false);
        if (st?.type === "directory") throw new InspectError("INSPECT_IS_A_DIRECTORY", `--link: ${link} is a directory; ln -sf does not replace one`, { path: link });
        if (st) await guest.unlink(link);
        await guest.symlink(o.target, link);
      }
    },
  },

  chmod: {
    check(o) {
      checkGuestPath(o.path, "--chmod");
      if (!Number.isInteger(o.mode) || o.mode < 0 || o.mode > 0o7777) throw new InspectError("INSPECT_INVALID", `--chmod: ${o.mode} is not a permission mode (0 to 07777)`, { path: o.path });
    },
    targets: async (o) => [o.path],
    async run(o, { guest }) {
      await guest.chmod(o.path, o.mode);
    },
  },

  chown: {
    check(o) {
      checkGuestPath(o.path, "--chown");
      for (const id of [o.uid, o.gid]) {
        if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw new InspectError("INSPECT_INVALID", `--chown: ${id} is not a user or group id (0 to ${MAX_ID})`, { path: o.path });
      }
    },
    targets: async (o) => [o.path],
    async run(o, { guest }) {
      await guest.chown(o.path, o.uid, o.gid);
    },
  },

  edit: {
    check(o) {
      checkGuestPath(o.path, "--edit");
      parseSubstitution(o.expression);
    },
    targets: async (o) => [o.path],
    async run(o, { guest }) {
      const st = await guest.stat(o.path);
      if (st.type !== "file") throw new InspectError("INSPECT_INVALID", `--edit: ${o.path} is a ${st.type}, not a regular file`, { path: o.path });
      // Bytes in, bytes out — as Perl without `use utf8` edits: the expression is taken as its UTF-8 bytes too.
      const substitution = parseSubstitution(Buffer.from(o.expression, "utf8").toString("latin1"));
      const real = await guest.realpath(o.path);
      const before = Buffer.from(await guest.readFile(real, { maxBytes: DEFAULT_MAX_BYTES })).toString("latin1");
      const after = substituteLines(before, substitution);
      if (after !== before) await guest.writeFile(real, Buffer.from(after, "latin1"));
    },
  },
};
