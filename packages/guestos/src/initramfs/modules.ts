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
  aliases: ModuleAlias[];
  /** The aliases of `modules` only (tens of thousands of lines hold a few of theirs), in file order. */
  aliasesOf(modules: ReadonlySet<string>): ModuleAlias[];
  builtin: Set<string>;
}

export interface ModuleAlias {
  pattern: string;
  module: string;
  symbol: boolean;
}

const MAX_LINES = 200_000;

/** Dashes as underscores, as kmod compares module names. */
const underscores = (s: string) => (s.includes("-") ? s.replace(/-/g, "_") : s);

export function moduleName(path: string): string {
  const file = path.slice(path.lastIndexOf("/") + 1);
  // The file name without .ko[.xz|.gz|.zst]: only the last ".ko" can start such an ending.
  const ko = file.lastIndexOf(".ko");
  const ext = ko < 0 ? undefined : file.slice(ko + 3);
  return underscores(ext === "" || ext === ".xz" || ext === ".gz" || ext === ".zst" ? file.slice(0, ko) : file);
}

/** A modules.dep path relative to the version folder (module-init-tools wrote absolute ones). */
function relative(path: string, version: string): string {
  if (!path.startsWith("/")) return path;
  const abs = `/lib/modules/${version}/`;
  return path.startsWith(abs) ? path.slice(abs.length) : path.replace(/^\/usr\/lib\/modules\/[^/]+\//, "");
}

/**
 * Calls `f` with the offsets of each of the first MAX_LINES lines of `text`, the pieces
 * `split("\n")` would make, without making them: these files have tens of thousands of lines.
 */
function eachLine(text: string, f: (start: number, end: number, index: number) => void): void {
  for (let i = 0, start = 0; i < MAX_LINES; i++) {
    const nl = text.indexOf("\n", start);
    f(start, nl < 0 ? text.length : nl, i);
    if (nl < 0) return;
    start = nl + 1;
  }
}

/**
 * `alias PATTERN MODULE` at a line start, matched in place (sticky) in the whole text; within a
 * line `[^\S\n]` is `\s`, so this reads each line as /^alias\s+(\S+)\s+(\S+)/ would.
 */
const ALIAS = /alias[^\S\n]+(\S+)[^\S\n]+(\S+)/y;

function parseAliases(alias: string, symbols: string, modules?: ReadonlySet<string>): ModuleAlias[] {
  const aliases: ModuleAlias[] = [];
  for (const [text, symbol] of [[alias, false], [symbols, true]] as const) {
    eachLine(text, (start) => {
      ALIAS.lastIndex = start;
      const m = ALIAS.exec(text);
      if (!m) return;
      const module = underscores(m[2] as string);
      if (!modules || modules.has(module)) aliases.push({ pattern: m[1] as string, module, symbol });
    });
  }
  return aliases;
}

/**
 * The module database of one kernel from its text files (any may be missing). The aliases are
 * read when asked for: choosing a kernel needs only the modules, an initramfs the aliases of a few.
 */
export function parseModuleDb(version: string, files: { dep?: string; alias?: string; symbols?: string; builtin?: string; order?: string }): ModuleDb {
  // A missing file reads as an empty one: neither has a line that says anything.
  const { dep = "", alias = "", symbols = "", builtin: builtinText = "", order: orderText = "" } = files;
  const order = new Map<string, number>();
  eachLine(orderText, (start, end, i) => {
    const t = orderText.slice(start, end).trim();
    if (t !== "") order.set(moduleName(t), i + 1);
  });
  const modules = new Map<string, ModuleInfo>();
  eachLine(dep, (start, end, i) => {
    const l = dep.slice(start, end);
    const colon = l.indexOf(":");
    if (colon <= 0) return;
    const path = relative(l.slice(0, colon).trim(), version);
    const name = moduleName(path);
    if (modules.has(name)) return;
    const rest = l.slice(colon + 1).trim();
    const deps = rest === "" ? [] : rest.split(/\s+/).map((d) => relative(d, version));
    modules.set(name, { name, path, deps, priority: order.get(name) ?? order.size + i + 1 });
  });
  const builtin = new Set<string>();
  eachLine(builtinText, (start, end) => {
    const t = builtinText.slice(start, end).trim();
    if (t !== "") builtin.add(moduleName(t));
  });
  let aliases: ModuleAlias[] | undefined;
  return {
    version,
    modules,
    get aliases() {
      return (aliases ??= parseAliases(alias, symbols));
    },
    aliasesOf: (names) => aliases?.filter((a) => names.has(a.module)) ?? parseAliases(alias, symbols, names),
    builtin,
  };
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
