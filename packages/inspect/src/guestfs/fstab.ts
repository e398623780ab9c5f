import { textLines } from "../text.js";

export interface FstabEntry {
  spec: string;
  mountpoint: string;
  vfstype: string;
  options: string;
}

/** `\040` and friends, as getmntent decodes them. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** `/etc/fstab`: six whitespace-separated fields per line, comments and short lines skipped. */
export function parseFstab(text: string): FstabEntry[] {
  const entries: FstabEntry[] = [];
  for (const raw of textLines(text, 10_000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    if (fields.length < 2) continue;
    entries.push({
      spec: unescapeOctal(fields[0] as string),
      mountpoint: unescapeOctal(fields[1] as string),
      vfstype: fields[2] ?? "auto",
      options: fields[3] ?? "defaults",
    });
  }
  return entries;
}

/** `///usr//local/` → `/usr/local`, as libguestfs canonicalizes mountpoints. */
export function canonicalMountpoint(mp: string): string {
  if (!mp.startsWith("/")) return mp;
  const s = "/" + mp.split("/").filter((c) => c !== "").join("/");
  return s;
}

/** Entries libguestfs ignores: floppies, CD-ROMs, and mountpoints under /dev, /proc, /sys, /media, /selinux. */
export function isIgnoredFstabEntry(e: FstabEntry): boolean {
  const spec = e.spec;
  if (/^\/dev\/(fd|cd)\d/.test(spec) || spec === "/dev/floppy" || spec === "/dev/cdrom" || spec.startsWith("/dev/iso9660/")) return true;
  const mp = canonicalMountpoint(e.mountpoint);
  return ["/dev", "/proc", "/sys", "/selinux"].some((p) => mp === p || mp.startsWith(p + "/")) || mp.startsWith("/media/");
}

/** What a guest's block device may be known as in its fstab. */
export interface VolumeRef {
  /** The name libguestfs gives it: /dev/sda1, /dev/VG/LV. */
  device: string;
  uuid?: string | undefined;
  label?: string | undefined;
  partUuid?: string | undefined;
}

/** `a` → 0, `z` → 25, `aa` → 26: a disk's letters as an index. */
function diskIndex(letters: string): number {
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

/** 0 → `a`, 26 → `aa`. */
export function diskLetters(index: number): string {
  let s = "";
  let n = index + 1;
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(97 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

/**
 * The device (as libguestfs names it) an fstab spec refers to, or undefined when it names none of
 * the guest's volumes: `UUID=`, `LABEL=`, `PARTUUID=`, `/dev/disk/by-*`, `/dev/mapper/VG-LV`,
 * `/dev/VG/LV`, and `/dev/{h,s,v,xv}dXN` mapped by disk order onto `/dev/sdXN`.
 */
export function resolveFstabSpec(spec: string, volumes: readonly VolumeRef[], diskCount: number, rootDevice?: string): string | undefined {
  const unquote = (s: string) => s.replace(/^(["'])(.*)\1$/, "$2");
  const byUuid = (u: string) => volumes.find((v) => v.uuid !== undefined && v.uuid.toLowerCase() === u.toLowerCase())?.device;
  if (spec.startsWith("UUID=")) return byUuid(unquote(spec.slice(5)));
  if (spec.startsWith("LABEL=")) {
    const label = unquote(spec.slice(6));
    return volumes.find((v) => v.label === label)?.device;
  }
  if (spec.startsWith("PARTUUID=")) {
    const p = unquote(spec.slice(9)).toLowerCase();
    return volumes.find((v) => v.partUuid?.toLowerCase() === p)?.device;
  }
  if (spec === "/dev/root") return rootDevice;
  if (spec.startsWith("/dev/disk/by-uuid/")) return byUuid(spec.slice(18));
  if (spec.startsWith("/dev/disk/by-label/")) return volumes.find((v) => v.label === spec.slice(19))?.device;
  if (spec.startsWith("/dev/disk/by-partuuid/")) return volumes.find((v) => v.partUuid?.toLowerCase() === spec.slice(22).toLowerCase())?.device;
  const exists = (d: string) => (volumes.some((v) => v.device === d) ? d : undefined);
  const xdev = /^\/dev\/(h|s|v|xv)d([a-z]{1,3})(\d{0,4})$/.exec(spec);
  if (xdev) {
    const index = diskIndex(xdev[2] as string);
    if (index < 0 || index >= diskCount) return undefined;
    return exists(`/dev/sd${diskLetters(index)}${xdev[3]}`);
  }
  const mapper = /^\/dev\/mapper\/(.+)$/.exec(spec);
  if (mapper) {
    // device-mapper doubles dashes inside names: vg--data-lv--home is VG vg-data, LV lv-home.
    const m = /^((?:[^-]|--)+)-((?:[^-]|--)+)$/.exec(mapper[1] as string);
    if (!m) return undefined;
    return exists(`/dev/${(m[1] as string).replace(/--/g, "-")}/${(m[2] as string).replace(/--/g, "-")}`);
  }
  if (spec.startsWith("/dev/")) return exists(spec);
  return undefined;
}
