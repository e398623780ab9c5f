// What a kernel's module tree says about its modules, read from the text files depmod leaves in
// /lib/modules/VERSION: where each module is, what it needs, which aliases load it, which are
// built in. Names follow kmod: the file name without .ko[.xz|.gz|.zst], dashes as underscores.

export interface ModuleInfo {
  name: string;
  /** Path relative to /lib/modules/VERSION ("kernel/drivers/block/virtio_blk.ko.xz"). */
  path: string;
  /** Paths of the modules it needs, as modules.dep lists them. */
  deps: string[];
  /** Load order from modules.order (lower first); the line number of modules.dep otherwise. */
  priority: number;
}

export interface ModuleDb {
  version: string;
  modules: Map<string, ModuleInfo>;
  /** `alias PATTERN MODULE` lines of modules.alias and modules.symbols, in file order. */
  aliases: { pattern: string; module: string; symbol: boolean }[];
  builtin: Set<string>;
}

const MAX_LINES = 200_000;

export function moduleName(path: string): string {
  const file = path.slice(path.lastIndexOf("/") + 1);
  return file.replace(/\.ko(\.(xz|gz|zst))?$/, "").replace(/-/g, "_");
}

/** A modules.dep path relative to the version folder (module-init-tools wrote absolute ones). */
function relative(path: string, version: string): string {
  const abs = `/lib/modules/${version}/`;
  return path.startsWith(abs) ? path.slice(abs.length) : path.replace(/^\/usr\/lib\/modules\/[^/]+\//, "");
}

function lines(text: string | undefined): string[] {
  return text === undefined ? [] : text.split("\n", MAX_LINES);
}

/** The module database of one kernel from its text files (any may be missing). */
export function parseModuleDb(version: string, files: { dep?: string; alias?: string; symbols?: string; builtin?: string; order?: string }): ModuleDb {
  const order = new Map<string, number>();
  lines(files.order).forEach((l, i) => {
    const t = l.trim();
    if (t !== "") order.set(moduleName(t), i + 1);
  });
  const modules = new Map<string, ModuleInfo>();
  lines(files.dep).forEach((l, i) => {
    const colon = l.indexOf(":");
    if (colon <= 0) return;
    const path = relative(l.slice(0, colon).trim(), version);
    const deps = l.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== "").map((d) => relative(d, version));
    const name = moduleName(path);
    if (!modules.has(name)) modules.set(name, { name, path, deps, priority: order.get(name) ?? order.size + i + 1 });
  });
  const aliases: ModuleDb["aliases"] = [];
  for (const [text, symbol] of [[files.alias, false], [files.symbols, true]] as const) {
    for (const l of lines(text)) {
      const m = /^alias\s+(\S+)\s+(\S+)/.exec(l);
      if (m) aliases.push({ pattern: m[1] as string, module: (m[2] as string).replace(/-/g, "_"), symbol });
    }
  }
  const builtin = new Set(lines(files.builtin).map((l) => l.trim()).filter((l) => l !== "").map(moduleName));
  return { version, modules, aliases, builtin };
}

/** `names` and everything they need, dependencies first (the order insmod must follow). */
export function dependencyClosure(db: ModuleDb, names: readonly string[]): ModuleInfo[] {
  const out: ModuleInfo[] = [];
  const seen = new Set<string>();
  const visit = (name: string, depth: number) => {
    if (seen.has(name) || depth > 64) return;
    seen.add(name);
    const m = db.modules.get(name);
    if (!m) return;
    for (const d of m.deps) visit(moduleName(d), depth + 1);
    out.push(m);
  };
  for (const n of names) visit(n.replace(/-/g, "_"), 0);
  return out;
}
