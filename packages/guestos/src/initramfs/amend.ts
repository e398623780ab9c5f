// Adding drivers to an initramfs without running the guest's dracut or update-initramfs: the
// kernel unpacks every cpio archive concatenated in the file, later files replacing earlier ones,
// whatever the first archive's compression. So leapp leaves the original bytes as they are and
// appends one plain cpio archive holding the module files, the module indexes rebuilt for the
// enlarged set, and the generator's own list of modules to load (initramfs-tools' conf/modules,
// nash's insmod lines). Truncating the file to its old size undoes it exactly.
import { GuestOSError } from "../errors.js";
import { resolveInArchive, type Initramfs } from "./archive.js";
import { writeCpio, type CpioEntry, type CpioInput } from "./cpio.js";
import { writeKmodIndex } from "./kmod-index.js";
import { dependencyClosure, moduleName, type ModuleDb, type ModuleInfo } from "./modules.js";

export type InitramfsGenerator = "dracut" | "initramfs-tools" | "mkinitrd-nash" | "unknown";

export interface InitramfsAmendment {
  generator: InitramfsGenerator;
  /** Modules the image gains (with their dependencies), dependencies first. */
  added: string[];
  /** Wanted modules it already had, or that are built into the kernel. */
  present: string[];
  builtin: string[];
  /** Wanted modules this kernel does not have at all. */
  missing: string[];
  /** What the appended archive holds, by path (for dry runs and reports). */
  files: { path: string; size: number; why: string }[];
  /** Offset the archive is appended at (the old size rounded up to 4), and its bytes. */
  offset: number;
  segment: Uint8Array;
}

export function detectGenerator(tree: Map<string, CpioEntry>): InitramfsGenerator {
  const init = tree.get("init");
  if (init?.type === "file" && Buffer.from(init.data.subarray(0, 32)).toString("latin1").startsWith("#!/bin/nash")) return "mkinitrd-nash";
  if (tree.has("conf/initramfs.conf") || tree.has("scripts/functions")) return "initramfs-tools";
  for (const p of ["usr/lib/dracut", "lib/dracut", "usr/lib/dracut-lib.sh", "lib/dracut-lib.sh", "etc/initrd-release"]) if (tree.has(p)) return "dracut";
  return "unknown";
}

const text = (e: CpioEntry | undefined) => (e?.type === "file" ? Buffer.from(e.data).toString("utf8") : undefined);

/** Module names of the `.ko` files under `dir` in the archive. */
function modulesIn(tree: Map<string, CpioEntry>, dir: string): Set<string> {
  const names = new Set<string>();
  for (const [path, e] of tree) if (e.type === "file" && path.startsWith(`${dir}/`) && /\.ko(\.(xz|gz|zst))?$/.test(path)) names.add(moduleName(path));
  return names;
}

/** Directories leading to `path` that the archive lacks (parents first). */
function missingDirs(tree: Map<string, CpioEntry>, path: string, made: Set<string>): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join("/");
    if (!tree.has(dir) && !made.has(dir)) {
      made.add(dir);
      out.push(dir);
    }
  }
  return out;
}

/**
 * Plans and builds the archive that makes `image` load `wanted` (plus dependencies) for the
 * kernel `db` describes. `readModule` reads a module file by its path relative to the kernel's
 * module folder in the guest.
 */
export async function amendInitramfs(image: Initramfs, db: ModuleDb, wanted: readonly string[], readModule: (relPath: string) => Promise<Uint8Array>, texts: readonly { path: string; content: string; why: string }[] = []): Promise<InitramfsAmendment> {
  if (!image.complete) {
    const s = image.segments.find((x) => x.entries === undefined);
    throw new GuestOSError("GUESTOS_INITRAMFS", `the initramfs has a ${s?.compression} segment leapp cannot read, so it cannot tell which drivers it holds: rebuild it with gzip, xz or zstd compression (dracut --gzip, COMPRESS=gzip) and convert again`);
  }
  const tree = image.tree;
  const generator = detectGenerator(tree);
  const nash = generator === "mkinitrd-nash";
  const moduleDir = resolveInArchive(tree, `lib/modules/${db.version}`);
  const have = nash ? modulesIn(tree, "lib") : modulesIn(tree, moduleDir);
  const builtin = wanted.filter((w) => db.builtin.has(w));
  const missing = wanted.filter((w) => !db.builtin.has(w) && !db.modules.has(w));
  const loadable = wanted.filter((w) => db.modules.has(w));
  const closure = dependencyClosure(db, loadable);
  const toAdd = closure.filter((m) => !have.has(m.name));
  const present = wanted.filter((w) => have.has(w));

  const inputs: CpioInput[] = [];
  const files: InitramfsAmendment["files"] = [];
  const made = new Set<string>();
  const add = (path: string, data: Uint8Array | string, why: string, mode = 0o644) => {
    for (const d of missingDirs(tree, path, made)) inputs.push({ name: d, type: "directory" });
    inputs.push({ name: path, type: "file", data, mode });
    files.push({ path, size: typeof data === "string" ? Buffer.byteLength(data) : data.length, why });
  };

  if (toAdd.length > 0) {
    for (const m of toAdd) {
      const data = await readModule(m.path);
      const dest = nash ? `lib/${m.path.slice(m.path.lastIndexOf("/") + 1)}` : resolveInArchive(tree, `${moduleDir}/${m.path}`);
      add(dest, data, `driver ${m.name}`);
    }
    if (nash) addNashLoads(tree, toAdd, add);
    else addModuleIndexes(tree, db, moduleDir, have, toAdd, add);
    if (generator === "initramfs-tools") {
      const confPath = resolveInArchive(tree, "conf/modules");
      const old = text(tree.get(confPath)) ?? "";
      const listed = new Set(old.split("\n").map((l) => l.trim().split(/\s+/)[0]));
      const extra = loadable.filter((w) => !listed.has(w));
      if (extra.length > 0) add(confPath, `${old}${old === "" || old.endsWith("\n") ? "" : "\n"}${extra.join("\n")}\n`, "initramfs-tools loads the modules listed here at boot");
    }
  }
  for (const t of texts) {
    const path = resolveInArchive(tree, t.path);
    if (text(tree.get(path)) !== t.content) add(path, t.content, t.why);
  }
  const offset = (image.size + 3) & ~3;
  const segment = inputs.length === 0 ? new Uint8Array(0) : writeCpio(inputs);
  return { generator, added: toAdd.map((m) => m.name), present, builtin, missing, files, offset, segment };
}

/** modules.dep/.alias/.symbols (text and kmod binary) for the modules already there plus the new ones. */
function addModuleIndexes(tree: Map<string, CpioEntry>, db: ModuleDb, moduleDir: string, have: Set<string>, toAdd: ModuleInfo[], add: (path: string, data: Uint8Array | string, why: string) => void): void {
  const names = new Set([...have, ...toAdd.map((m) => m.name)]);
  const mods = [...db.modules.values()].filter((m) => names.has(m.name));
  // Modules the image has but the guest's modules.dep does not know keep the image's own line.
  const oldDep = text(tree.get(resolveInArchive(tree, `${moduleDir}/modules.dep`))) ?? "";
  const foreign = oldDep.split("\n").filter((l) => {
    const c = l.indexOf(":");
    return c > 0 && names.has(moduleName(l.slice(0, c))) && !db.modules.has(moduleName(l.slice(0, c)));
  });
  const depLine = (m: ModuleInfo) => `${m.path}:${m.deps.map((d) => ` ${d}`).join("")}`;
  const depText = [...mods.map(depLine), ...foreign].map((l) => `${l}\n`).join("");
  const priorityOf = new Map(mods.map((m) => [m.name, m.priority]));
  const dir = (name: string) => resolveInArchive(tree, `${moduleDir}/${name}`);
  add(dir("modules.dep"), depText, "module dependencies for the enlarged set (depmod's text)");
  add(dir("modules.dep.bin"), writeKmodIndex([...mods.map((m) => ({ key: m.name, value: depLine(m), priority: m.priority }))]), "module dependencies as modprobe reads them");
  const ours = db.aliasesOf(names);
  for (const symbol of [false, true]) {
    const aliases = ours.filter((a) => a.symbol === symbol);
    const name = symbol ? "modules.symbols" : "modules.alias";
    add(dir(name), `# Aliases extracted from modules themselves.\n${aliases.map((a) => `alias ${a.pattern} ${a.module}\n`).join("")}`, symbol ? "exported symbols of the modules" : "device aliases: udev loads drivers by these");
    add(dir(`${name}.bin`), writeKmodIndex(aliases.map((a) => ({ key: symbol ? a.pattern : normalizeAlias(a.pattern), value: a.module, priority: priorityOf.get(a.module) ?? 0 }))), `${name} as modprobe reads it`);
  }
}

/** Files of an initramfs that name the root or resume device: dracut's cmdline.d, initramfs-tools' resume and parameters. */
export function deviceNamingFiles(tree: Map<string, CpioEntry>): { path: string; content: string }[] {
  const out: { path: string; content: string }[] = [];
  for (const [path, e] of tree) {
    if (e.type !== "file" || e.data.length > 64 * 1024) continue;
    if (/^etc\/cmdline\.d\/[^/]+\.conf$|^etc\/cmdline$|^conf\/conf\.d\/[^/]+$|^conf\/param\.conf$/.test(path)) out.push({ path, content: Buffer.from(e.data).toString("utf8") });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** depmod's alias_normalize: the binary index keys aliases with dashes as underscores, except inside [...]. */
export function normalizeAlias(alias: string): string {
  let out = "";
  let inBrackets = false;
  for (const c of alias) {
    if (c === "[") inBrackets = true;
    else if (c === "]") inBrackets = false;
    out += c === "-" && !inBrackets ? "_" : c;
  }
  return out;
}

/** nash (RHEL 5 mkinitrd) loads exactly the modules its init script insmods, before the root device is made. */
function addNashLoads(tree: Map<string, CpioEntry>, toAdd: ModuleInfo[], add: (path: string, data: Uint8Array | string, why: string, mode?: number) => void): void {
  const init = text(tree.get("init"));
  if (init === undefined) throw new GuestOSError("GUESTOS_INITRAMFS", "the mkinitrd initrd has no /init script to add driver loads to");
  const lines = init.split("\n");
  let at = lines.findIndex((l) => /^\s*(mkblkdevs|mkrootdev|resume)\b/.test(l));
  if (at < 0) at = lines.length;
  const loads = toAdd.flatMap((m) => {
    const file = m.path.slice(m.path.lastIndexOf("/") + 1);
    return [`echo "Loading ${file} module"`, `insmod /lib/${file}`];
  });
  lines.splice(at, 0, ...loads);
  add("init", lines.join("\n"), "nash's init loads the added drivers before it makes the root device", 0o755);
}
