import { InspectError } from "../errors.js";
import { splitGuestPath } from "../guestfs/guest-path.js";
import type { GuestFS } from "../guestfs/guestfs.js";

/** Most names one glob may match: a pattern is a request, not a licence to walk a whole guest. */
export const MAX_GLOB_MATCHES = 100_000;

const isMagic = (component: string) => /(?<!\\)[*?[]/.test(component);
const unescape = (component: string) => component.replace(/\\(.)/g, "$1");

/**
 * One path component of a glob(3) pattern as a regular expression: `*`, `?`, bracket
 * expressions (`[a-z]`, `[!x]`, `[^x]`), backslash escapes. An unclosed `[` is literal.
 */
export function componentPattern(component: string): RegExp {
  let source = "";
  for (let i = 0; i < component.length; i++) {
    const c = component[i]!;
    if (c === "\\" && i + 1 < component.length) source += escapeRegex(component[++i]!);
    else if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      let j = i + 1;
      if (component[j] === "!" || component[j] === "^") j++;
      if (component[j] === "]") j++;
      while (j < component.length && component[j] !== "]") j++;
      if (j >= component.length) {
        source += "\\[";
        continue;
      }
      let body = component.slice(i + 1, j);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      source += `[${negated ? "^" : ""}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = j;
    } else source += escapeRegex(c);
  }
  return new RegExp(`^${source}$`, "su");
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * The guest paths a glob pattern matches, sorted, as glob(3) finds them: wildcards never match
 * `/`, and match a leading `.` only when the pattern's component starts with one. A pattern
 * without wildcards matches itself if it exists (a dangling symlink included). No match is [].
 */
export async function expandGlob(guest: GuestFS, pattern: string): Promise<string[]> {
  const components = splitGuestPath(pattern);
  let current = [""];
  for (const component of components) {
    const next: string[] = [];
    if (!isMagic(component)) {
      for (const dir of current) next.push(`${dir}/${unescape(component)}`);
    } else {
      const re = componentPattern(component);
      const dotOk = component.startsWith(".");
      for (const dir of current) {
        let names: string[];
        try {
          names = await guest.readdir(dir === "" ? "/" : dir);
        } catch (err) {
          if (err instanceof InspectError && ["INSPECT_NOT_FOUND", "INSPECT_NOT_A_DIRECTORY"].includes(err.code)) continue;
          throw err;
        }
        for (const name of names) if ((dotOk || !name.startsWith(".")) && re.test(name)) next.push(`${dir}/${name}`);
      }
    }
    if (next.length > MAX_GLOB_MATCHES) throw new InspectError("INSPECT_TOO_LARGE", `${pattern} matches more than ${MAX_GLOB_MATCHES} names; narrow it`, { path: pattern });
    current = next;
  }
  const found: string[] = [];
  for (const path of current) {
    try {
      await guest.lstat(path === "" ? "/" : path);
      found.push(path === "" ? "/" : path);
    } catch (err) {
      if (!(err instanceof InspectError) || !["INSPECT_NOT_FOUND", "INSPECT_NOT_A_DIRECTORY"].includes(err.code)) throw err;
    }
  }
  return found.sort();
}
