import { corrupt } from "./volumes-io.js";

/** A value of LVM2's text metadata: a number, a string, a list of those, or a section. */
export type LvmValue = number | string | Array<number | string> | LvmSection;
export interface LvmSection {
  [key: string]: LvmValue;
}

const MAX_TEXT = 16 * 1024 * 1024;
const MAX_DEPTH = 16;
const MAX_ITEMS = 200_000;

/**
 * Parses LVM2's metadata text (`key = value`, `name { … }`, `[a, b]`, `#` comments), bounded in
 * size, depth and item count. Anything else is INSPECT_CORRUPT.
 */
export function parseLvmText(text: string): LvmSection {
  if (text.length > MAX_TEXT) throw corrupt(`LVM metadata of ${text.length} bytes is larger than any real volume group's`);
  let at = 0;
  let items = 0;
  const fail = (what: string): never => {
    throw corrupt(`LVM metadata: ${what} at character ${at}`);
  };
  const skipSpace = () => {
    while (at < text.length) {
      const c = text[at]!;
      if (c === "#") {
        while (at < text.length && text[at] !== "\n") at++;
      } else if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\0") at++;
      else break;
    }
  };
  const word = (): string => {
    const start = at;
    while (at < text.length && /[A-Za-z0-9_.+-]/.test(text[at]!)) at++;
    if (at === start) fail(`expected a name, found ${JSON.stringify(text[at] ?? "end of text")}`);
    return text.slice(start, at);
  };
  const string = (): string => {
    at++; // opening quote
    let out = "";
    while (true) {
      if (at >= text.length) fail("unterminated string");
      const c = text[at++]!;
      if (c === '"') return out;
      if (c === "\\") {
        if (at >= text.length) fail("unterminated string");
        out += text[at++];
      } else out += c;
    }
  };
  const scalar = (): number | string => {
    if (text[at] === '"') return string();
    const w = word();
    if (!/^-?[0-9]+$/.test(w)) fail(`expected a number or a string, found ${JSON.stringify(w)}`);
    const n = Number(w);
    if (!Number.isSafeInteger(n)) fail(`number ${w} is out of range`);
    return n;
  };
  const section = (depth: number, closing: boolean): LvmSection => {
    if (depth > MAX_DEPTH) fail("sections nested too deeply");
    const out: LvmSection = Object.create(null) as LvmSection;
    while (true) {
      skipSpace();
      if (at >= text.length) {
        if (closing) fail("unterminated section");
        return out;
      }
      if (text[at] === "}") {
        if (!closing) fail("unexpected }");
        at++;
        return out;
      }
      if (++items > MAX_ITEMS) fail("too many items");
      const key = word();
      skipSpace();
      if (text[at] === "{") {
        at++;
        out[key] = section(depth + 1, true);
      } else if (text[at] === "=") {
        at++;
        skipSpace();
        if (text[at] === "[") {
          at++;
          const list: Array<number | string> = [];
          while (true) {
            skipSpace();
            if (text[at] === "]") {
              at++;
              break;
            }
            if (++items > MAX_ITEMS) fail("too many items");
            list.push(scalar());
            skipSpace();
            if (text[at] === ",") at++;
            else if (text[at] !== "]") fail("expected , or ] in a list");
          }
          out[key] = list;
        } else {
          out[key] = scalar();
        }
      } else {
        fail(`expected = or { after ${JSON.stringify(key)}`);
      }
    }
  };
  return section(0, false);
}

export function sectionOf(value: LvmValue | undefined, what: string): LvmSection {
  if (value === undefined || typeof value !== "object" || Array.isArray(value)) throw corrupt(`LVM metadata: ${what} is missing or not a section`);
  return value;
}

export function numberOf(value: LvmValue | undefined, what: string): number {
  if (typeof value !== "number" || value < 0) throw corrupt(`LVM metadata: ${what} is missing or not a number`);
  return value;
}

export function stringOf(value: LvmValue | undefined, what: string): string {
  if (typeof value !== "string") throw corrupt(`LVM metadata: ${what} is missing or not a string`);
  return value;
}

export function listOf(value: LvmValue | undefined, what: string): Array<number | string> {
  if (!Array.isArray(value)) throw corrupt(`LVM metadata: ${what} is missing or not a list`);
  return value;
}

/** Named sub-sections of a section (physical_volumes, logical_volumes, segments). */
export function subsections(section: LvmSection): Array<[string, LvmSection]> {
  return Object.entries(section).filter((e): e is [string, LvmSection] => typeof e[1] === "object" && !Array.isArray(e[1]));
}
