// The guest's boot configuration, edited in place rather than regenerated: grub legacy
// (grub.conf/menu.lst), grub 2 (grub.cfg, /etc/default/grub, grubenv), BootLoaderSpec entries,
// and grub's device.map. Regenerating grub.cfg from /etc/default/grub on the conversion host is
// what makes a guest with GRUB_DISABLE_LINUX_UUID=true come out with the host's device names.
import type { BootEntry, InspectionReport } from "@leapp/inspect";
import { editCmdline, type CmdlineOptions } from "./cmdline.js";
import { remapDevicesIn } from "./devices.js";
import { mapLines, type PlanWorkspace } from "./workspace.js";

const WHY_CMDLINE = "kernel command line: device names for virtio disks, console on the serial port";

/** Edits a shell variable assignment's value (quotes kept as they were). */
export function editShellVar(text: string, name: string, f: (value: string) => string): string {
  const re = new RegExp(`^(\\s*(?:export\\s+)?${name}=)("([^"\\\\]*(?:\\\\.[^"\\\\]*)*)"|'([^']*)'|(\\S*))(.*)$`);
  return mapLines(text, (line) => {
    const m = re.exec(line);
    if (!m) return line;
    const [, head, , dq, sq, bare, tail] = m as unknown as [string, string, string, string | undefined, string | undefined, string | undefined, string];
    if (dq !== undefined) return `${head}"${f(dq)}"${tail}`;
    if (sq !== undefined) return `${head}'${f(sq)}'${tail}`;
    const v = f(bare ?? "");
    return `${head}${/\s/.test(v) ? `"${v}"` : v}${tail}`;
  });
}

function kernelFileVersion(kernel: string | undefined): string | undefined {
  const file = kernel?.split("/").pop();
  const m = file === undefined ? null : /^(?:vmlinuz|vmlinux|kernel)-(.+)$/.exec(file);
  return m ? (m[1] as string) : undefined;
}

export function entryBoots(entry: BootEntry, version: string): boolean {
  return entry.version === version || kernelFileVersion(entry.kernel) === version;
}

/** grub legacy: kernel lines, the default entry, and the `#boot=` note anaconda leaves. */
async function editGrubLegacy(ws: PlanWorkspace, path: string, kernel: string, o: CmdlineOptions): Promise<void> {
  const text = await ws.read(path);
  if (text === undefined) return;
  let index = -1;
  let chosen = -1;
  const lines = text.split("\n");
  for (const line of lines) {
    if (/^\s*title\b/.test(line)) index++;
    const k = /^\s*kernel\s+(\S+)/.exec(line);
    if (k && chosen < 0 && index >= 0 && kernelFileVersion(k[1]) === kernel) chosen = index;
  }
  await ws.edit(path, WHY_CMDLINE, (t) =>
    mapLines(t, (line) => {
      const m = /^(\s*kernel\s+\S+)(\s+)(.*)$/.exec(line);
      if (m) return `${m[1]}${m[2]}${editCmdline(m[3] as string, o)}`;
      if (/^#\s*boot=/.test(line)) return remapDevicesIn(line, o.mapper);
      return line;
    }),
  );
  if (chosen >= 0) {
    await ws.edit(path, `boot ${kernel} by default: it runs on KVM`, (t) => mapLines(t, (line) => (/^\s*default\s*=?\s*\d+\s*$/.test(line) ? line.replace(/\d+/, String(chosen)) : line)));
  }
}

/** grub 2's grub.cfg: linux lines of every entry; the default when it is a plain index or title. */
async function editGrub2Cfg(ws: PlanWorkspace, path: string, o: CmdlineOptions): Promise<void> {
  await ws.edit(path, WHY_CMDLINE, (t) =>
    mapLines(t, (line) => {
      const m = /^(\s*(?:linux|linux16|linuxefi|kernel)\s+\S+)(\s+)(.*)$/.exec(line);
      if (m) return `${m[1]}${m[2]}${editCmdline(m[3] as string, o)}`;
      const bare = /^(\s*(?:linux|linux16|linuxefi)\s+\S+)\s*$/.exec(line);
      if (bare) return `${bare[1]} ${editCmdline("", o)}`.trimEnd();
      return line;
    }),
  );
}

/** grubenv is a 1024-byte block: edits keep its size by re-padding with '#'. */
async function editGrubEnv(ws: PlanWorkspace, path: string, why: string, f: (key: string, value: string) => string | undefined): Promise<void> {
  await ws.edit(path, why, (t) => {
    const size = Buffer.byteLength(t);
    const body = t.replace(/#+$/, "");
    const edited = mapLines(body, (line) => {
      const eq = line.indexOf("=");
      if (line.startsWith("#") || eq <= 0) return line;
      const v = f(line.slice(0, eq), line.slice(eq + 1));
      return v === undefined ? line : `${line.slice(0, eq)}=${v}`;
    });
    const len = Buffer.byteLength(edited);
    if (len > size) {
      ws.warnings.push(`${path}: the edited environment block would not fit in ${size} bytes; left as it is`);
      return t;
    }
    return edited + "#".repeat(size - len);
  });
}

/**
 * Every boot configuration file the guest has, edited for KVM, and `kernel` made the default
 * when the current default cannot boot there.
 */
export async function planBoot(ws: PlanWorkspace, report: InspectionReport, kernel: string, o: CmdlineOptions): Promise<void> {
  const boot = report.boot;
  for (const p of ["/boot/grub/grub.conf", "/boot/grub/menu.lst", "/etc/grub.conf"]) if ((await ws.read(p)) !== undefined) await editGrubLegacy(ws, p, kernel, o);
  for (const p of ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg", ...(boot?.config && /grub\.cfg$/.test(boot.config) ? [boot.config] : [])]) {
    if ((await ws.read(p)) !== undefined) await editGrub2Cfg(ws, p, o);
  }
  if ((await ws.read("/etc/default/grub")) !== undefined) {
    for (const v of ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT", "GRUB_CMDLINE_XEN"]) {
      await ws.edit("/etc/default/grub", "what grub-mkconfig will write on the next kernel update: the same command line edits", (t) => editShellVar(t, v, (value) => (v === "GRUB_CMDLINE_LINUX_DEFAULT" ? editCmdlineNoConsole(value, o) : editCmdline(value, o))));
    }
  }
  const entriesDir = "/boot/loader/entries";
  if (boot?.loader === "grub2-bls") {
    for (const e of boot.entries.filter((x) => x.id !== undefined)) {
      await ws.edit(`${entriesDir}/${e.id}.conf`, WHY_CMDLINE, (t) => mapLines(t, (line) => {
        const m = /^(\s*options\s+)(.*)$/.exec(line);
        return m ? `${m[1]}${editCmdline(m[2] as string, o)}` : line;
      }));
    }
  }
  for (const env of ["/boot/grub2/grubenv", "/boot/grub/grubenv"]) {
    if ((await ws.read(env)) === undefined) continue;
    await editGrubEnv(ws, env, WHY_CMDLINE, (key, value) => (key === "kernelopts" ? editCmdline(value, o) : undefined));
    const chosen = boot?.entries.find((e) => entryBoots(e, kernel));
    if (boot && chosen && boot.default && !entryBoots(boot.default, kernel)) {
      await editGrubEnv(ws, env, `boot ${kernel} by default: it runs on KVM`, (key) => (key === "saved_entry" ? (chosen.id ?? chosen.title) : undefined));
    }
  }
  for (const map of ["/boot/grub/device.map", "/boot/grub2/device.map"]) {
    await ws.edit(map, "grub's BIOS disk map names the virtio disks", (t) => remapDevicesIn(t, o.mapper));
  }
  // grub.cfg's `set default` (and GRUB_DEFAULT for the next grub-mkconfig) when they name an entry that cannot boot on KVM.
  if (boot?.loader === "grub2" && boot.default && !entryBoots(boot.default, kernel)) {
    const cfg = await ws.read(boot.config);
    const chosen = cfg === undefined ? undefined : grub2EntryPath(cfg, kernel);
    if (chosen !== undefined) {
      const why = `boot ${kernel} by default: it runs on KVM`;
      await ws.edit(boot.config, why, (t) => mapLines(t, (line) => (/^\s*set default="?[\d>]+"?\s*$/.test(line) ? `set default="${chosen}"` : line)));
      await ws.edit("/etc/default/grub", why, (t) => mapLines(t, (line) => (/^GRUB_DEFAULT="?[\d>]+"?\s*$/.test(line) ? `GRUB_DEFAULT="${chosen}"` : line)));
    }
  }
}

/**
 * grub's path to the first entry that boots `version`: its index among the top-level entries, or
 * "submenu>entry" inside a submenu (what `set default` accepts).
 */
export function grub2EntryPath(cfg: string, version: string): string | undefined {
  const open: ("submenu" | "entry" | "other")[] = [];
  const path: number[] = [];
  const counters: number[] = [0];
  let entry: string | undefined;
  for (const raw of cfg.split("\n", 200_000)) {
    const line = raw.trim();
    const kind = /^submenu\b/.test(line) ? "submenu" : /^menuentry\b/.test(line) ? "entry" : undefined;
    if (kind) {
      const level = path.length;
      const index = counters[level] ?? 0;
      counters[level] = index + 1;
      if (kind === "submenu") {
        path.push(index);
        counters[level + 1] = 0;
      } else entry = [...path, index].join(">");
    }
    const linux = /^(?:linux|linux16|linuxefi)\s+(\S+)/.exec(line);
    if (linux && entry !== undefined && kernelFileVersion(linux[1]) === version) return entry;
    for (const c of line) {
      if (c === "{") open.push(kind ?? "other");
      else if (c === "}") {
        const closed = open.pop();
        if (closed === "submenu") path.pop();
        if (closed === "entry") entry = undefined;
      }
    }
  }
  return undefined;
}

/** GRUB_CMDLINE_LINUX_DEFAULT: device names only — the console goes once, in GRUB_CMDLINE_LINUX. */
function editCmdlineNoConsole(value: string, o: CmdlineOptions): string {
  return editCmdline(value, { ...o, serialConsole: false }).replace(/\s*console=tty0$/, "");
}
