// Writing a guest's root tree: files where the real distribution puts them.
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ZooError } from "./errors.js";

/** A guest path under `root`, refusing anything that would leave it. */
export function guestPath(root: string, path: string): string {
  if (!path.startsWith("/") || path.split("/").includes("..")) throw new ZooError("ZOO_BAD_INPUT", `guest path '${path}' must be absolute and without '..'`);
  return join(root, path);
}

export function writeGuestFile(root: string, path: string, content: string | Buffer, mode = 0o644): void {
  const full = guestPath(root, path);
  mkdirSync(dirname(full), { recursive: true });
  rmSync(full, { force: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

export function mkGuestDirs(root: string, paths: string[], mode = 0o755): void {
  for (const p of paths) {
    const full = guestPath(root, p);
    mkdirSync(full, { recursive: true });
    chmodSync(full, mode);
  }
}

export function guestSymlink(root: string, path: string, target: string): void {
  const full = guestPath(root, path);
  mkdirSync(dirname(full), { recursive: true });
  rmSync(full, { force: true });
  symlinkSync(target, full);
}

/** Text of a config file: lines joined with newlines, ending in one. */
export function lines(...text: string[]): string {
  return `${text.join("\n")}\n`;
}
