// Edits the hypervisor drivers make beyond the OS plan, folded into the plan's own list of
// changes: an edit of a file the plan already changes applies on top of the plan's content (one
// change per file, every reason kept), so applying the list never undoes an earlier step.
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { InspectError, type GuestFS } from "@leapp/inspect";
import type { Change } from "@leapp/guestos";

/** Configuration files are small: anything larger is not what an edit expects. */
const MAX_TEXT = 8 * 1024 * 1024;
const MAX_LINK_HOPS = 40;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class ChangeSet {
  constructor(
    readonly guest: GuestFS,
    readonly changes: Change[],
  ) {}

  /** The guest path with every symlink followed (in guest space), so one file gets one change. */
  async #canonical(path: string): Promise<string | undefined> {
    let p = posix.normalize(path);
    for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
      const planned = this.changes.find((c) => (c.kind === "create" || c.kind === "symlink") && c.path === p);
      if (planned?.kind === "create") return p;
      let target: string;
      if (planned?.kind === "symlink") target = planned.target;
      else {
        try {
          const st = await this.guest.lstat(p);
          if (st.type !== "symlink") return st.type === "file" ? p : undefined;
          target = await this.guest.readlink(p);
        } catch (err) {
          if (err instanceof InspectError) return undefined;
          throw err;
        }
      }
      p = posix.normalize(target.startsWith("/") ? target : posix.join(posix.dirname(p), target));
    }
    return undefined;
  }

  /** The text of `path` as the changes so far leave it; undefined when it is no regular file. */
  async read(path: string): Promise<string | undefined> {
    const canonical = await this.#canonical(path);
    if (canonical === undefined) return undefined;
    const planned = this.#planned(canonical);
    if (planned) return planned.content;
    if (this.changes.some((c) => c.kind === "remove" && c.path === canonical)) return undefined;
    try {
      return Buffer.from(await this.guest.readFile(canonical, { maxBytes: MAX_TEXT })).toString("utf8");
    } catch (err) {
      if (err instanceof InspectError) return undefined;
      throw err;
    }
  }

  #planned(path: string): Extract<Change, { kind: "edit" | "create" }> | undefined {
    return this.changes.find((c): c is Extract<Change, { kind: "edit" | "create" }> => (c.kind === "edit" || c.kind === "create") && c.path === path);
  }

  /**
   * Edits an existing text file of the guest: `edit` gets the text as the plan leaves it and
   * returns the new one (the same text: no change). Returns whether anything changed.
   */
  async edit(path: string, why: string, edit: (text: string) => string): Promise<boolean> {
    const canonical = await this.#canonical(path);
    if (canonical === undefined) return false;
    const planned = this.#planned(canonical);
    if (planned) {
      const next = edit(planned.content);
      if (next === planned.content) return false;
      planned.content = next;
      if (!planned.why.includes(why)) planned.why = `${planned.why}; ${why}`;
      return true;
    }
    if (this.changes.some((c) => (c.kind === "remove" && c.path === canonical) || (c.kind === "initramfs" && c.path === canonical))) return false;
    let bytes: Uint8Array;
    try {
      bytes = await this.guest.readFile(canonical, { maxBytes: MAX_TEXT });
    } catch (err) {
      if (err instanceof InspectError) return false;
      throw err;
    }
    const text = Buffer.from(bytes).toString("utf8");
    const next = edit(text);
    if (next === text) return false;
    this.changes.push({ kind: "edit", path: canonical, why, before: { sha256: sha256(bytes), size: bytes.length }, content: next });
    return true;
  }
}
