// A kernel's module tree and its dracut initramfs for guests whose kernel package cannot be
// installed here (RHEL's). The modules are stand-ins: real ELF relocatable objects, compiled by the
// host's gcc, whose .modinfo carries the real module's name, license, aliases, dependencies and
// vermagic — what modinfo, depmod's files and leapp read — but no code. The initramfs is laid out
// as dracut's hostonly one and archived by the real cpio and gzip.
import { lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ZooError } from "../errors.js";
import { run } from "../run.js";
import { writeGuestFile } from "../tree.js";

export interface StandInModule {
  /** Path under /lib/modules/VERSION ("kernel/drivers/block/virtio_blk.ko"). */
  path: string;
  /** Names of the modules it needs (depmod would find them through symbols). */
  depends?: string[];
  aliases?: string[];
  /** Symbols it exports (modules.symbols). */
  exports?: string[];
  description: string;
}

/** Every file of a build gets this mtime, so the same inputs make the same bytes. */
const FIXED_TIME = 1552387267;

const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1).replace(/\.ko$/, "").replace(/-/g, "_");

function cString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new ZooError("ZOO_BAD_INPUT", `module info '${s}' must be printable ASCII`);
  return JSON.stringify(s);
}

/** The C source of one stand-in: its .modinfo strings, in the order modpost emits them. */
function moduleSource(m: StandInModule, version: string): string {
  const info: [string, string][] = [
    ["license", "GPL"],
    ["description", m.description],
    ...(m.aliases ?? []).map((a): [string, string] => ["alias", a]),
    ["depends", (m.depends ?? []).join(",")],
    ["name", nameOf(m.path)],
    ["vermagic", `${version} SMP mod_unload modversions `],
  ];
  const lines = info.map(([tag, value], i) => `static const char modinfo_${i}[] __attribute__((section(".modinfo"), used, aligned(1))) = ${cString(`${tag}=${value}`)};`);
  return `/* Stand-in for ${m.path}: module metadata only, no code. */\n${lines.join("\n")}\n`;
}

/**
 * Writes /lib/modules/VERSION under `root`: the stand-in modules and the text indexes depmod
 * leaves (modules.dep, .alias, .symbols, .order, .builtin). `work` is scratch space.
 */
export function writeModuleTree(root: string, version: string, modules: StandInModule[], work: string): void {
  const byName = new Map(modules.map((m) => [nameOf(m.path), m]));
  for (const m of modules) for (const d of m.depends ?? []) if (!byName.has(d)) throw new ZooError("ZOO_BAD_INPUT", `module ${m.path} depends on ${d}, which the tree lacks`);
  const src = join(work, "kmod-src");
  mkdirSync(src, { recursive: true });
  const sources = modules.map((m) => {
    const file = `${nameOf(m.path)}.c`;
    writeFileSync(join(src, file), moduleSource(m, version));
    return file;
  });
  // One gcc for all: it writes NAME.o beside each source. No debug info, so no build paths inside.
  run("gcc", ["-c", "-O0", "-fno-asynchronous-unwind-tables", "-fno-ident", ...sources], { cwd: src });
  const dir = `/lib/modules/${version}`;
  for (const m of modules) writeGuestFile(root, `${dir}/${m.path}`, readFileSync(join(src, `${nameOf(m.path)}.o`)));

  // modules.dep lists every dependency, indirect ones too, nearest first (as depmod does).
  const closure = (m: StandInModule): string[] => {
    const out: string[] = [];
    const visit = (n: string) => {
      for (const d of byName.get(n)?.depends ?? []) {
        const p = (byName.get(d) as StandInModule).path;
        if (!out.includes(p)) {
          out.push(p);
          visit(d);
        }
      }
    };
    visit(nameOf(m.path));
    return out;
  };
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join("");
  writeGuestFile(root, `${dir}/modules.dep`, text(modules.map((m) => `${m.path}:${closure(m).map((p) => ` ${p}`).join("")}`)));
  writeGuestFile(root, `${dir}/modules.order`, text(modules.map((m) => m.path)));
  writeGuestFile(root, `${dir}/modules.builtin`, "");
  writeGuestFile(root, `${dir}/modules.alias`, text(["# Aliases extracted from modules themselves.", ...modules.flatMap((m) => (m.aliases ?? []).map((a) => `alias ${a} ${nameOf(m.path)}`))]));
  writeGuestFile(root, `${dir}/modules.symbols`, text(["# Aliases for symbols, used by symbol_request().", ...modules.flatMap((m) => (m.exports ?? []).map((s) => `alias symbol:${s} ${nameOf(m.path)}`))]));
}

/**
 * A RHEL 6 (dracut 004) hostonly initramfs for `version`, with only `wanted` modules (and what
 * they need) from the tree writeModuleTree made under `root`: a gzip-compressed newc cpio, written
 * to `initrd` in the guest.
 */
export function writeDracutInitramfs(root: string, version: string, modules: StandInModule[], wanted: string[], initrd: string, work: string): void {
  const byName = new Map(modules.map((m) => [nameOf(m.path), m]));
  const chosen = new Set<string>();
  const add = (n: string) => {
    if (chosen.has(n)) return;
    if (!byName.has(n)) throw new ZooError("ZOO_BAD_INPUT", `initramfs module ${n} is not in the module tree`);
    chosen.add(n);
    for (const d of byName.get(n)?.depends ?? []) add(d);
  };
  for (const w of wanted) add(w.replace(/-/g, "_"));
  const inImage = modules.filter((m) => chosen.has(nameOf(m.path)));

  const img = join(work, "initramfs");
  const moduleDir = `/lib/modules/${version}`;
  for (const d of ["/bin", "/sbin", "/dev", "/proc", "/sys", "/sysroot", "/tmp", "/var/run", "/cmdline", "/pre-udev", "/pre-trigger", "/initqueue", "/pre-mount", "/mount", "/pre-pivot", "/etc/udev/rules.d"]) mkdirSync(join(img, d), { recursive: true });
  writeGuestFile(img, "/init", "#!/bin/sh\n# dracut's init: mounts the root named on the command line and switches to it\n", 0o755);
  writeGuestFile(img, "/lib/dracut-lib.sh", "# dracut's shell library\n");
  writeGuestFile(img, "/etc/ld.so.conf", "include ld.so.conf.d/*.conf\n");
  writeGuestFile(img, "/dracut-004-411.el6", "");
  for (const m of inImage) writeGuestFile(img, `${moduleDir}/${m.path}`, readFileSync(join(root, moduleDir, m.path)));
  // depmod -b on the image, as dracut runs it: the indexes of the modules it holds.
  const indexLine = (file: string, keep: (l: string) => boolean) => {
    const kept = readFileSync(join(root, moduleDir, file), "utf8").split("\n").filter((l) => l !== "" && keep(l));
    writeGuestFile(img, `${moduleDir}/${file}`, kept.map((l) => `${l}\n`).join(""));
  };
  const held = new Set(inImage.map((m) => m.path));
  const heldNames = new Set(inImage.map((m) => nameOf(m.path)));
  indexLine("modules.dep", (l) => held.has(l.slice(0, l.indexOf(":"))));
  indexLine("modules.order", (l) => held.has(l));
  indexLine("modules.alias", (l) => l.startsWith("#") || heldNames.has(l.split(/\s+/)[2] ?? ""));
  indexLine("modules.symbols", (l) => l.startsWith("#") || heldNames.has(l.split(/\s+/)[2] ?? ""));

  // Sorted names, fixed times, root's ownership, no inode or device numbers: the same bytes every build.
  const paths = listTree(img);
  for (const p of [...paths].reverse()) lutimesSync(join(img, p), FIXED_TIME, FIXED_TIME);
  lutimesSync(img, FIXED_TIME, FIXED_TIME);
  const cpio = run("cpio", ["-o", "-H", "newc", "--quiet", "--reproducible", "-R", "0:0"], { cwd: img, input: [".", ...paths].join("\n") + "\n" });
  writeGuestFile(root, initrd, run("gzip", ["-n", "-9"], { input: cpio }), 0o600);
}

/** Every path under `dir`, relative, in byte order. */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      out.push(relative(dir, path));
      if (lstatSync(path).isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
