// mkfs.xfs -p PROTOFILE: the tree as the protofile language of xfsprogs' proto.c describes it
// (a boot-image name, two ignored numbers, then the root directory's entries up to "$").
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { ZooError } from "./errors.js";

function modeToken(type: string, mode: number): string {
  const setuid = mode & 0o4000 ? "u" : "-";
  const setgid = mode & 0o2000 ? "g" : "-";
  return `${type}${setuid}${setgid}${(mode & 0o777).toString(8).padStart(3, "0")}`;
}

function checkName(name: string, path: string): void {
  // Whitespace would split the protofile's tokens.
  if (/\s/.test(name) || name === "$") throw new ZooError("ZOO_BAD_INPUT", `${path}: a name mkfs.xfs's protofile cannot hold`);
}

export interface ProtofileOptions {
  /** Modes that replace the tree's, by path inside the filesystem ("/root"). */
  modes?: Record<string, number>;
  /** The owner each file gets (default: its owner on the host). */
  owner?: (st: { uid: number; gid: number }) => { uid: number; gid: number };
}

/** The protofile text for the tree at `dir`: owners and modes as they are on the host, unless told otherwise. */
export function xfsProtofile(dir: string, options: ProtofileOptions = {}): string {
  const out: string[] = ["/dev/null", "0 0"];
  const ownerOf = (st: { uid: number; gid: number }): string => {
    const o = options.owner ? options.owner(st) : st;
    return `${o.uid} ${o.gid}`;
  };
  const modeOf = (path: string, st: { mode: number }): number => options.modes?.[`/${relative(dir, path)}`] ?? st.mode;
  const root = lstatSync(dir);
  out.push(`${modeToken("d", root.mode)} ${ownerOf(root)}`);
  const walk = (at: string, depth: number): void => {
    const indent = " ".repeat(depth);
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      checkName(name, path);
      const st = lstatSync(path);
      const owner = ownerOf(st);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(path);
        checkName(target, path);
        out.push(`${indent}${name} ${modeToken("l", 0o777)} ${owner} ${target}`);
      } else if (st.isDirectory()) {
        out.push(`${indent}${name} ${modeToken("d", modeOf(path, st))} ${owner}`);
        walk(path, depth + 1);
        out.push(`${indent}$`);
      } else if (st.isFile()) {
        checkName(path, path);
        out.push(`${indent}${name} ${modeToken("-", modeOf(path, st))} ${owner} ${path}`);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const major = Math.floor(st.rdev / 256) & 0xfff;
        const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
        out.push(`${indent}${name} ${modeToken(st.isCharacterDevice() ? "c" : "b", st.mode)} ${owner} ${major} ${minor}`);
      } else if (st.isFIFO()) {
        out.push(`${indent}${name} ${modeToken("p", st.mode)} ${owner}`);
      }
    }
  };
  walk(dir, 1);
  out.push("$", "");
  return out.join("\n");
}
