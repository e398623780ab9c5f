import { parseShellVars, textLines, unquoteShell } from "../text.js";

/** One boot menu entry, whichever boot loader configuration it came from. */
export interface BootEntry {
  title: string;
  /** Kernel image path as the boot loader names it (relative to the partition it boots from). */
  kernel: string | undefined;
  initrd: string | undefined;
  /** Kernel command line. */
  options: string;
  /** BLS entry file name without `.conf` (what grubenv's saved_entry names). */
  id?: string;
  /** BLS `version` field. */
  version?: string;
}

const MAX_ENTRIES = 1000;

/** Grub legacy's `grub.conf` / `menu.lst`: `default=N` and `title` stanzas. */
export function parseGrubLegacy(text: string): { entries: BootEntry[]; default: string | undefined } {
  const entries: BootEntry[] = [];
  let defaultValue: string | undefined;
  let current: BootEntry | undefined;
  for (const raw of textLines(text, 50_000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    const key = (m ? m[1] : line) as string;
    const value = (m ? m[2] : "") as string;
    if (key === "title") {
      if (entries.length >= MAX_ENTRIES) break;
      current = { title: value, kernel: undefined, initrd: undefined, options: "" };
      entries.push(current);
    } else if (key === "default" && current === undefined) {
      defaultValue = value;
    } else if (key === "kernel" && current) {
      const [kernel, ...options] = value.split(/\s+/);
      current.kernel = kernel;
      current.options = options.join(" ");
    } else if ((key === "initrd" || key === "module") && current && current.initrd === undefined) {
      current.initrd = value.split(/\s+/)[0];
    }
  }
  return { entries, default: defaultValue };
}

/**
 * Grub 2's generated `grub.cfg`: its top-level and submenu `menuentry` blocks with their `linux`
 * and `initrd` lines, and whether it loads BLS entries (`blscfg`).
 */
export function parseGrub2Cfg(text: string): { entries: BootEntry[]; usesBls: boolean; defaultSet: string | undefined } {
  const entries: BootEntry[] = [];
  let usesBls = false;
  let defaultSet: string | undefined;
  let current: BootEntry | undefined;
  let depth = 0;
  let entryDepth = -1;
  for (const raw of textLines(text, 200_000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/^blscfg\b/.test(line)) usesBls = true;
    const setDefault = /^set\s+default=(.*)$/.exec(line);
    if (setDefault && current === undefined && defaultSet === undefined) {
      const v = unquoteShell(setDefault[1] as string);
      if (!v.startsWith("$")) defaultSet = v;
    }
    const me = /^menuentry\s+(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+))/.exec(line);
    if (me && entries.length < MAX_ENTRIES) {
      current = { title: (me[1] ?? me[2] ?? me[3] ?? "") as string, kernel: undefined, initrd: undefined, options: "" };
      entries.push(current);
      entryDepth = depth;
    } else if (current) {
      const linux = /^(?:linux|linux16|linuxefi|kernel)\s+(\S+)\s*(.*)$/.exec(line);
      const initrd = /^(?:initrd|initrd16|initrdefi)\s+(\S+)/.exec(line);
      if (linux) {
        current.kernel = linux[1];
        current.options = (linux[2] as string).trim();
      } else if (initrd) current.initrd = initrd[1];
    }
    depth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
    if (current && depth <= entryDepth) {
      current = undefined;
      entryDepth = -1;
    }
  }
  return { entries, usesBls, defaultSet };
}

/** A BLS entry file (`/boot/loader/entries/*.conf`). */
export function parseBlsEntry(id: string, text: string): BootEntry {
  const entry: BootEntry = { title: id, kernel: undefined, initrd: undefined, options: "", id };
  for (const raw of textLines(text, 1000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const value = (m[2] as string).trim();
    switch (m[1]) {
      case "title": entry.title = value; break;
      case "version": entry.version = value; break;
      case "linux": entry.kernel = value; break;
      case "initrd": entry.initrd ??= value.split(/\s+/)[0]; break;
      case "options": entry.options = value; break;
    }
  }
  return entry;
}

/** `grubenv`: a `KEY=value` block padded with `#`. */
export function parseGrubEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of textLines(text, 1000)) {
    if (line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

/** `/etc/default/grub`. */
export function parseDefaultGrub(text: string): Map<string, string> {
  return parseShellVars(text);
}

/**
 * Which entry boots by default, as grub picks it: a number indexes the menu, anything else names
 * an entry by title or id (`saved` means grubenv's saved_entry). Falls back to the first entry.
 */
export function pickDefault(entries: readonly BootEntry[], selector: string | undefined, savedEntry: string | undefined): BootEntry | undefined {
  let sel = selector?.trim();
  if (sel === "saved" || sel === "${saved_entry}") sel = savedEntry;
  if (sel !== undefined && sel !== "") {
    if (/^\d{1,6}$/.test(sel)) return entries[Number(sel)] ?? entries[0];
    // Grub 2 submenu paths ("1>2" or "Advanced>title") name the entry after the last '>'.
    const last = sel.includes(">") ? (sel.split(">").pop() as string) : sel;
    if (/^\d{1,6}$/.test(last)) return entries[Number(last)] ?? entries[0];
    const hit = entries.find((e) => e.id === last || e.title === last);
    if (hit) return hit;
  }
  return entries[0];
}
