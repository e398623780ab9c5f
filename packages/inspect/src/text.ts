/** Guest text files as strings: bytes that are not UTF-8 become U+FFFD instead of failing. */
const decoder = new TextDecoder("utf-8", { fatal: false });

export function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Lines of a text file; a file of a million lines is cut, a guest gets no more of our time. */
export function textLines(text: string, maxLines = 100_000): string[] {
  const lines = text.split(/\r?\n/);
  return lines.length > maxLines ? lines.slice(0, maxLines) : lines;
}

/** The first line, without its newline (release files keep their product name there). */
export function firstLine(text: string): string {
  const i = text.indexOf("\n");
  return (i < 0 ? text : text.slice(0, i)).replace(/\r$/, "");
}

/**
 * `KEY=value` assignments as shell-style configuration files write them (os-release, ifcfg-*,
 * /etc/sysconfig/network, /etc/default/grub): comments and blank lines skipped, one level of
 * single or double quotes removed, backslash escapes inside double quotes honoured. Later
 * assignments win, as when the shell sources the file.
 */
export function parseShellVars(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const raw of textLines(text)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    vars.set(m[1] as string, unquoteShell(m[2] as string));
  }
  return vars;
}

/** One shell word's value: `"a b"` → `a b`, `'x'` → `x`, `v # c` → `v`. */
export function unquoteShell(value: string): string {
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) return out + value.slice(i + 1);
      out += value.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < value.length && value[i] !== '"') {
        if (value[i] === "\\" && i + 1 < value.length && '"\\$`'.includes(value[i + 1] as string)) i++;
        out += value[i];
        i++;
      }
      i++;
    } else if (c === "#" && (i === 0 || /\s/.test(value[i - 1] as string))) {
      break;
    } else if (/\s/.test(c)) {
      // An unquoted blank ends the word (anything after it would be a command).
      break;
    } else if (c === "\\" && i + 1 < value.length) {
      out += value[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** `alias NAME DRIVER` lines of modprobe configuration. */
export function parseModprobeAliases(text: string): { alias: string; driver: string }[] {
  const out: { alias: string; driver: string }[] = [];
  for (const line of textLines(text, 50_000)) {
    const words = line.trim().split(/[ \t]+/);
    if (words[0] === "alias" && words[1] && words[2] && out.length < 10_000) out.push({ alias: words[1], driver: words[2] });
  }
  return out;
}

/** Whether an upstart job file has a `start on` stanza. */
export function isUpstartJobStartedOnEvent(text: string): boolean {
  return textLines(text, 50_000).some((line) => /^start[ \t]+on\b/.test(line.trim()));
}
