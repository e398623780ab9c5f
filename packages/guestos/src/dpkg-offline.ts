// Removing a Debian package offline, where dpkg's database allows it safely: a package with no
// maintainer scripts to run on removal (prerm, postrm), no triggers, no conffiles, that nothing
// installed depends on, is removed as `dpkg --purge` would — its files, its info files, its status
// stanza — without running anything. Every other package waits for the first boot, where the
// guest's own apt removes it.
import type { PlanWorkspace } from "./workspace.js";

const ADMIN = "/var/lib/dpkg";
/** Most files one package may list for an offline removal; more is not a small tools package. */
const MAX_FILES = 2000;

interface Stanza {
  start: number;
  end: number;
  fields: Map<string, string>;
}

function stanzas(status: string): Stanza[] {
  const out: Stanza[] = [];
  const re = /(?:^|\n)(?=Package:)/g;
  const starts: number[] = [];
  for (let m = re.exec(status); m !== null; m = re.exec(status)) {
    starts.push(m.index === 0 ? 0 : m.index + 1);
    if (m.index === re.lastIndex) re.lastIndex++;
  }
  starts.forEach((start, i) => {
    const next = starts[i + 1] ?? status.length;
    const text = status.slice(start, next);
    const fields = new Map<string, string>();
    let key = "";
    for (const line of text.split("\n")) {
      const m = /^([A-Za-z][A-Za-z0-9-]*):\s?(.*)$/.exec(line);
      if (m) {
        key = m[1] as string;
        fields.set(key, m[2] as string);
      } else if (/^\s/.test(line) && key) fields.set(key, `${fields.get(key)}\n${line}`);
    }
    out.push({ start, end: next, fields });
  });
  return out;
}

/** Package names a Depends/Pre-Depends field names (alternatives and versions aside). */
function dependedOn(field: string | undefined): string[] {
  if (!field) return [];
  return field.split(/[,|]/).map((d) => d.trim().split(/[\s(:]/)[0] as string).filter((n) => n !== "");
}

/**
 * Splits `names` into those removed now (their changes added to the plan) and those left for the
 * first boot, with why for each of the latter.
 */
export async function planDpkgRemovals(ws: PlanWorkspace, names: string[], why: string): Promise<{ now: string[]; later: string[] }> {
  const status = await ws.read(`${ADMIN}/status`);
  if (status === undefined) return { now: [], later: names };
  const all = stanzas(status);
  const installed = all.filter((s) => /\binstalled$/.test(s.fields.get("Status") ?? ""));
  const info = new Set(await ws.guest.readdir(`${ADMIN}/info`).catch(() => [] as string[]));
  const now: string[] = [];
  const later: string[] = [];
  const removed: Stanza[] = [];
  for (const name of names) {
    const st = installed.find((s) => s.fields.get("Package") === name);
    if (!st) {
      later.push(name);
      continue;
    }
    const provides = dependedOn(st.fields.get("Provides"));
    const needed = installed.some((o) => o !== st && !names.includes(o.fields.get("Package") ?? "") && [...dependedOn(o.fields.get("Depends")), ...dependedOn(o.fields.get("Pre-Depends"))].some((d) => d === name || provides.includes(d)));
    const arch = st.fields.get("Architecture");
    const prefixes = [`${name}.`, `${name}:${arch}.`];
    const own = [...info].filter((f) => prefixes.some((p) => f.startsWith(p)));
    const scripted = own.some((f) => /\.(prerm|postrm|triggers|config|templates)$/.test(f));
    const listFile = own.find((f) => f.endsWith(".list"));
    if (needed || scripted || st.fields.has("Conffiles") || !listFile) {
      later.push(name);
      continue;
    }
    const list = ((await ws.read(`${ADMIN}/info/${listFile}`)) ?? "").split("\n").filter((l) => l.startsWith("/"));
    if (list.length > MAX_FILES) {
      later.push(name);
      continue;
    }
    for (const path of list) {
      try {
        const type = (await ws.guest.lstat(path)).type;
        // Directories stay: other packages share them, and dpkg keeps them when they are not empty.
        if (type === "file" || type === "symlink") ws.add({ kind: "remove", path, why: `${why}: package ${name} removed as dpkg --purge would (it has no maintainer scripts to run)` });
      } catch {
        // Already gone: nothing to remove.
      }
    }
    for (const f of own) ws.add({ kind: "remove", path: `${ADMIN}/info/${f}`, why: `dpkg's record of ${name}'s files, removed with it` });
    removed.push(st);
    now.push(name);
  }
  if (removed.length > 0) {
    await ws.edit(`${ADMIN}/status`, `dpkg's database: ${now.join(", ")} no longer installed`, (t) => {
      let out = t;
      for (const s of [...removed].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + out.slice(s.end);
      return out;
    });
  }
  return { now, later };
}
