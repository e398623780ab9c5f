import { InspectError } from "../errors.js";

/** A parsed `s/REGEX/REPLACEMENT/FLAGS`. */
export interface Substitution {
  pattern: RegExp;
  /** In JavaScript's replacement syntax ($1, $&, $$). */
  replacement: string;
}

const MAX_EXPRESSION = 64 * 1024;

/**
 * Parses the Perl substitution virt-customize's --edit takes, the form almost every use has:
 * `s` + a delimiter (any punctuation, `s|a|b|` as well as `s/a/b/`), the regex (JavaScript
 * syntax, which agrees with Perl's on the common ground), the replacement as Perl reads it
 * (`$1` or `\1`, `\n`, `\t`, `\\`, an escaped delimiter) and flags `g` and `i`.
 */
export function parseSubstitution(expression: string): Substitution {
  const bad = (why: string) => new InspectError("INSPECT_INVALID", `--edit expression ${JSON.stringify(expression.slice(0, 80))}: ${why}; write s/REGEX/REPLACEMENT/ with optional flags g and i`);
  if (expression.length > MAX_EXPRESSION) throw bad(`longer than ${MAX_EXPRESSION} characters`);
  const delimiter = expression[1];
  if (expression[0] !== "s" || delimiter === undefined || !/^[!"#%&',./:;<=>@|~^+*?-]$/.test(delimiter)) throw bad("not a substitution");
  const parts: string[] = [];
  let current = "";
  let i = 2;
  for (; i < expression.length && parts.length < 2; i++) {
    const c = expression[i]!;
    if (c === "\\" && i + 1 < expression.length) {
      const next = expression[++i]!;
      // An escaped delimiter is the delimiter itself; every other escape stays for the next stage.
      current += next === delimiter ? (parts.length === 0 && /[.*+?^${}()|[\]\\/]/.test(next) ? `\\${next}` : next) : `\\${next}`;
    } else if (c === delimiter) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  if (parts.length < 2) throw bad("it is not closed by a third delimiter");
  const flags = expression.slice(i);
  if (!/^[gi]*$/.test(flags) || new Set(flags).size !== flags.length) throw bad(`unknown flags ${JSON.stringify(flags)}`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(parts[0]!, flags);
  } catch (err) {
    throw new InspectError("INSPECT_INVALID", `--edit: ${(err as Error).message}`, { cause: err });
  }
  return { pattern, replacement: perlReplacement(parts[1]!) };
}

/** Perl's replacement (a double-quoted string) in JavaScript's replacement syntax. */
function perlReplacement(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && i + 1 < text.length) {
      const next = text[++i]!;
      out += next === "n" ? "\n" : next === "t" ? "\t" : /[1-9]/.test(next) ? `$${next}` : next === "$" ? "$$" : next;
    } else if (c === "$" && text[i + 1] === "{" && /^\$\{\d+\}/.test(text.slice(i))) {
      const m = /^\$\{(\d+)\}/.exec(text.slice(i))!;
      out += `$${m[1]}`;
      i += m[0].length - 1;
    } else out += c;
  }
  return out;
}

/**
 * Applies a substitution to each line, as `virt-edit -e` runs Perl over the file: the line
 * endings stay as they are, `$` anchors before them.
 */
export function substituteLines(text: string, s: Substitution): string {
  return text.replace(/[^\n]*(\n|$)/g, (line, newline: string) => {
    if (line === "") return line;
    const body = newline ? line.slice(0, -1) : line;
    s.pattern.lastIndex = 0;
    return body.replace(s.pattern, s.replacement) + newline;
  });
}
