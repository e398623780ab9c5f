// Where a plan is put together: edits to the same file from different steps (device names, then
// the console, then the default entry) compose on one working copy, and each file ends up as one
// change that says every reason it changed.
import { createHash } from "node:crypto";
import { InspectError, type GuestFS } from "@leapp/inspect";
import type { Change, FileState } from "./plan-types.js";

/** Text files a plan edits are configuration: larger ones are not what we think they are. */
const MAX_TEXT = 8 * 1024 * 1024;

export function sha256(b: Uint8Array | string): string {
  return createHash("sha256").update(b).digest("hex");
}

interface Working {
  path: string;
  original: string | undefined;
  state: FileState | undefined;
  text: string | undefined;
  mode: number;
  whys: string[];
}

export class PlanWorkspace {
  readonly warnings: string[] = [];
  readonly #files = new Map<string, Working>();
  readonly #other: Change[] = [];
  constructor(readonly guest: GuestFS) {}

  /** The guest path with symlinks resolved (menu.lst → grub.conf), so one file gets one change. */
  async #canonical(path: string): Promise<string> {
    let p = path;
    for (let i = 0; i < 40; i++) {
      try {
        const st = await this.guest.lstat(p);
        if (st.type !== "symlink") return p;
      } catch (err) {
        if (err instanceof InspectError && (err.code === "INSPECT_NOT_FOUND" || err.code === "INSPECT_NOT_A_DIRECTORY")) return p;
        throw err;
      }
      const target = await this.guest.readlink(p);
      p = target.startsWith("/") ? target : `${p.slice(0, p.lastIndexOf("/") + 1)}${target}`;
      p = normalize(p);
    }
    return p;
  }

  async #load(path: string): Promise<Working> {
    const canonical = await this.#canonical(path);
    let w = this.#files.get(canonical);
    if (w) return w;
    let text: string | undefined;
    let state: FileState | undefined;
    let mode = 0o644;
    try {
      const st = await this.guest.stat(canonical);
      if (st.type === "file") {
        const bytes = await this.guest.readFile(canonical, { maxBytes: MAX_TEXT });
        text = Buffer.from(bytes).toString("utf8");
        state = { sha256: sha256(bytes), size: bytes.length };
        mode = st.mode;
      }
    } catch (err) {
      if (!(err instanceof InspectError)) throw err;
      if (err.code === "INSPECT_TOO_LARGE") this.warnings.push(`${canonical} is larger than ${MAX_TEXT} bytes: left as it is`);
    }
    w = { path: canonical, original: text, state, text, mode, whys: [] };
    this.#files.set(canonical, w);
    return w;
  }

  /** Current text of a guest file (with the plan's edits so far), undefined when absent. */
  async read(path: string): Promise<string | undefined> {
    return (await this.#load(path)).text;
  }

  /**
   * The digest of a guest file as the plan first read it (undefined: absent, not a file, or too
   * large to be read as text).
   */
  async digest(path: string): Promise<string | undefined> {
    return (await this.#load(path)).state?.sha256;
  }

  /** Edits an existing text file; `edit` returns the new text (the same text: no change). */
  async edit(path: string, why: string, edit: (text: string) => string): Promise<boolean> {
    const w = await this.#load(path);
    if (w.text === undefined) return false;
    const next = edit(w.text);
    if (next === w.text) return false;
    w.text = next;
    if (!w.whys.includes(why)) w.whys.push(why);
    return true;
  }

  /** Creates (or replaces) a text file. */
  async write(path: string, content: string, why: string, mode = 0o644): Promise<void> {
    const w = await this.#load(path);
    w.text = content;
    if (w.original === undefined) w.mode = mode;
    if (!w.whys.includes(why)) w.whys.push(why);
  }

  add(change: Change): void {
    this.#other.push(change);
  }

  changes(): Change[] {
    const out: Change[] = [];
    for (const w of [...this.#files.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      if (w.text === undefined || w.text === w.original) continue;
      const why = w.whys.join("; ");
      if (w.state) out.push({ kind: "edit", path: w.path, why, before: w.state, content: w.text });
      else out.push({ kind: "create", path: w.path, why, content: w.text, mode: w.mode });
    }
    return [...out, ...this.#other];
  }
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return `/${out.join("/")}`;
}

/** Lines of a text with their line ends kept, so an edit never changes what it does not mean to. */
export function mapLines(text: string, f: (line: string) => string | string[] | null): string {
  const parts = text.split("\n");
  const out: string[] = [];
  parts.forEach((line, i) => {
    if (i === parts.length - 1 && line === "") {
      out.push("");
      return;
    }
    const r = f(line);
    if (r === null) return;
    if (Array.isArray(r)) out.push(...r);
    else out.push(r);
  });
  return out.join("\n");
}
