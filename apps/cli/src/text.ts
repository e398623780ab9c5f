// Guest metadata is hostile text: a VM name, a backing file name or a host name can hold a newline
// (forging extra output lines), an ESC sequence (driving the user's terminal) or a bidirectional
// override (showing text other than what is there). Everything leapp prints as text passes here;
// --json needs nothing, JSON.stringify escapes control characters itself.

/** C0 and C1 controls, DEL, the Unicode line/paragraph separators and bidirectional controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** The same, but keeping newlines and tabs: for whole documents leapp itself laid out (XML). */
// eslint-disable-next-line no-control-regex -- as above
const UNSAFE_IN_DOCUMENT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeOne(c: string): string {
  const code = c.codePointAt(0)!;
  return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`);
}

/** `text` on one line, with every control character spelled out (`\n`, `\x1b`, `\u{202e}`). */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** A document leapp laid out itself (XML): its lines stay, other control characters are spelled out. */
export function escapeDocument(text: string): string {
  return text.replace(UNSAFE_IN_DOCUMENT, escapeOne);
}

/**
 * A copy of `value` with every string in it (plain objects and arrays, any depth) passed through
 * `escapeControl`, for renderers that lay out guest data in lines. Other objects are kept as they are.
 */
export function escapeStrings<T>(value: T): T {
  if (typeof value === "string") return escapeControl(value) as T;
  if (Array.isArray(value)) return value.map((v) => escapeStrings(v)) as T;
  if (value !== null && typeof value === "object" && isPlainObject(value)) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) copy[k] = escapeStrings(v);
    return copy as T;
  }
  return value;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
