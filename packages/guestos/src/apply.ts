// applyPlan: carries a ChangePlan out on a writable guest (an overlay, or the memory guest for a
// dry run). Every file is checked against the state the plan was made from before anything is
// written; a failure or an abort undoes what was done, so the guest is as it was.
import { InspectError, type GuestStat, type WritableGuestFS } from "@leapp/inspect";
import type { OperationOptions } from "@leapp/storage";
import { GuestOSError, throwIfAborted } from "./errors.js";
import { readInitramfs } from "./initramfs/archive.js";
import { amendInitramfs, type InitramfsAmendment } from "./initramfs/amend.js";
import { inputsUnchanged, MAX_MODULE, moduleDb, moduleDir, preparedInitramfs } from "./kernel.js";
import type { Change, ChangePlan, FileState, NothingToPlan } from "./plan-types.js";
import { PlanWorkspace, sha256 } from "./workspace.js";

const MAX_INITRAMFS = 512 * 1024 * 1024;

export interface ApplyResult {
  /** Changes carried out. */
  applied: number;
}

function isMissing(err: unknown): boolean {
  return err instanceof InspectError && (err.code === "INSPECT_NOT_FOUND" || err.code === "INSPECT_NOT_A_DIRECTORY");
}

async function lstatOrUndefined(guest: WritableGuestFS, path: string): Promise<GuestStat | undefined> {
  try {
    return await guest.lstat(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

async function checkState(guest: WritableGuestFS, path: string, before: FileState, max: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await guest.readFile(path, { maxBytes: max });
  } catch (err) {
    throw new GuestOSError("GUESTOS_STALE_PLAN", `${path} cannot be read as the plan expects (${(err as Error).message}): make the plan again`, { cause: err, path });
  }
  if (bytes.length !== before.size || sha256(bytes) !== before.sha256) throw new GuestOSError("GUESTOS_STALE_PLAN", `${path} changed since the plan was made: make the plan again`, { path });
  return bytes;
}

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) if (p.length > 0) yield p;
}

/** Carries out `plan` on `guest`: all of it, or — on failure or abort — none of it. */
export async function applyPlan(plan: ChangePlan | NothingToPlan, guest: WritableGuestFS, options: OperationOptions = {}): Promise<ApplyResult> {
  if (plan.status !== "planned") return { applied: 0 };
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  // Preconditions first: a stale plan writes nothing.
  for (const c of plan.changes) {
    if (c.kind === "edit") await checkState(guest, c.path, c.before, 64 * 1024 * 1024);
    if (c.kind === "initramfs") await checkState(guest, c.path, c.before, MAX_INITRAMFS);
    if (c.kind === "create" || c.kind === "symlink" || c.kind === "copy") {
      const st = await lstatOrUndefined(guest, c.path);
      if (st && !(c.kind === "symlink" && st.type === "symlink" && (await guest.readlink(c.path)) === c.target)) throw new GuestOSError("GUESTOS_STALE_PLAN", `${c.path} exists now but did not when the plan was made: make the plan again`, { path: c.path });
    }
  }
  const undo: (() => Promise<void>)[] = [];
  let applied = 0;
  try {
    for (const c of plan.changes) {
      throwIfAborted(signal);
      onProgress?.({ phase: "convert", done: applied, total: plan.changes.length, unit: "steps", detail: "path" in c ? c.path : c.from });
      await applyOne(guest, c, undo, signal);
      applied++;
    }
    throwIfAborted(signal);
    await guest.flush();
    onProgress?.({ phase: "convert", done: applied, total: plan.changes.length, unit: "steps" });
    return { applied };
  } catch (err) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {
        // Best effort: the error that matters is the first one.
      }
    }
    if (err instanceof InspectError && (err.code as string) === "INSPECT_NO_SPACE") {
      const where = err.path ?? "";
      let mp = "/";
      try {
        mp = where ? await guest.mountpointOf(where) : "/";
      } catch {
        // The path may be gone: the message still says what to do.
      }
      throw new GuestOSError("GUESTOS_NO_SPACE", `the guest filesystem mounted at ${mp} is full (writing ${where || "a file"}): free some space on it in the source guest (old kernels, logs, caches) and convert again; nothing was changed`, { cause: err, path: where });
    }
    throw err;
  }
}

async function ensureParents(guest: WritableGuestFS, path: string, undo: (() => Promise<void>)[]): Promise<void> {
  const parts = path.split("/").filter((p) => p !== "");
  let dir = "";
  for (const part of parts.slice(0, -1)) {
    dir = `${dir}/${part}`;
    if (await lstatOrUndefined(guest, dir)) continue;
    await guest.mkdir(dir, { mode: 0o755 });
    const made = dir;
    undo.push(() => guest.rmdir(made));
  }
}

async function applyOne(guest: WritableGuestFS, c: Change, undo: (() => Promise<void>)[], signal: AbortSignal | undefined): Promise<void> {
  const text = (s: string) => Buffer.from(s, "utf8");
  switch (c.kind) {
    case "edit": {
      const original = await guest.readFile(c.path, { maxBytes: 64 * 1024 * 1024 });
      await guest.writeFile(c.path, text(c.content));
      undo.push(() => guest.writeFile(c.path, original));
      return;
    }
    case "create": {
      await ensureParents(guest, c.path, undo);
      await guest.writeFile(c.path, text(c.content), { mode: c.mode });
      undo.push(() => guest.unlink(c.path));
      return;
    }
    case "symlink": {
      if (await lstatOrUndefined(guest, c.path)) return;
      await ensureParents(guest, c.path, undo);
      await guest.symlink(c.target, c.path);
      undo.push(() => guest.unlink(c.path));
      return;
    }
    case "remove": {
      const st = await lstatOrUndefined(guest, c.path);
      if (!st) return;
      if (st.type === "symlink") {
        const target = await guest.readlink(c.path);
        await guest.unlink(c.path);
        undo.push(() => guest.symlink(target, c.path));
      } else if (st.type === "file") {
        const data = await guest.readFile(c.path, { maxBytes: 64 * 1024 * 1024 });
        await guest.unlink(c.path);
        undo.push(() => guest.writeFile(c.path, data, { mode: st.mode, uid: st.uid, gid: st.gid }));
      } else throw new GuestOSError("GUESTOS_STALE_PLAN", `${c.path} is a ${st.type}, not the file the plan removes: make the plan again`, { path: c.path });
      return;
    }
    case "rename": {
      if (await lstatOrUndefined(guest, c.to)) throw new GuestOSError("GUESTOS_STALE_PLAN", `${c.to} exists now: make the plan again`, { path: c.to });
      await guest.rename(c.from, c.to);
      undo.push(() => guest.rename(c.to, c.from));
      return;
    }
    case "copy": {
      const st = await guest.stat(c.from);
      const data = await guest.readFile(c.from, { maxBytes: 64 * 1024 * 1024 });
      await ensureParents(guest, c.path, undo);
      await guest.writeFile(c.path, data, { mode: st.mode });
      undo.push(() => guest.unlink(c.path));
      return;
    }
    case "initramfs":
      await appendToInitramfs(guest, c, undo, signal);
      return;
  }
}

/**
 * Rebuilds the same archive the plan described from the guest's own module files and appends
 * it: into a new file renamed over the old one when the filesystem has room for both, in place
 * otherwise.
 */
async function appendToInitramfs(guest: WritableGuestFS, c: Extract<Change, { kind: "initramfs" }>, undo: (() => Promise<void>)[], signal: AbortSignal | undefined): Promise<void> {
  const original = await guest.readFile(c.path, { maxBytes: MAX_INITRAMFS });
  // The archive planned in this process, when nothing it was built from has changed since (the
  // image itself was checked against the plan before any change was made); else it is built
  // again from the guest's files and must come out as the plan said.
  const prepared = preparedInitramfs.get(c);
  let amendment: InitramfsAmendment;
  if (prepared && (await inputsUnchanged(guest, prepared))) amendment = prepared.amendment;
  else {
    const db = await moduleDb(new PlanWorkspace(guest), c.kernel);
    const dir = await moduleDir(guest, c.kernel);
    amendment = await amendInitramfs(await readInitramfs(original), db, c.modules, (rel) => guest.readFile(`${dir}/${rel}`, { maxBytes: MAX_MODULE }), c.texts);
    if (amendment.added.join() !== c.added.join() || amendment.files.length !== c.files.length) throw new GuestOSError("GUESTOS_STALE_PLAN", `the modules of ${c.kernel} changed since the plan was made: make the plan again`, { path: c.path });
  }
  throwIfAborted(signal);
  const pad = new Uint8Array(amendment.offset - original.length);
  const st = await guest.stat(c.path);
  const slash = c.path.lastIndexOf("/");
  const temp = `${c.path.slice(0, slash)}/.${c.path.slice(slash + 1)}.leapp-tmp`;
  undo.push(() => guest.writeFile(c.path, original, { mode: st.mode, uid: st.uid, gid: st.gid }));
  try {
    await guest.writeFile(temp, chunks(original, pad, amendment.segment), { mode: st.mode, uid: st.uid, gid: st.gid }, { signal });
    throwIfAborted(signal);
    await guest.rename(temp, c.path);
  } catch (err) {
    try {
      await guest.unlink(temp);
    } catch {
      // Never made, or already renamed.
    }
    if (!(err instanceof InspectError && (err.code as string) === "INSPECT_NO_SPACE")) throw err;
    // No room for a second copy: append in place (only the new archive's blocks are needed).
    await guest.writeFile(c.path, chunks(original, pad, amendment.segment), undefined, { signal });
  }
}
