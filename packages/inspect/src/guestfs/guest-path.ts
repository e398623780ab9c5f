import { InspectError } from "../errors.js";

/** Longest guest path we accept; a guest may hold anything, we need not follow it everywhere. */
export const MAX_PATH_LENGTH = 4096;

/**
 * The components of a guest path, with `.` and empty parts dropped. `..` is kept: only the
 * resolver knows what it means once symlinks are involved.
 */
export function splitGuestPath(path: string): string[] {
  if (path.length > MAX_PATH_LENGTH) throw new InspectError("INSPECT_NOT_FOUND", `guest path is longer than ${MAX_PATH_LENGTH} characters`, { path: path.slice(0, 80) + "…" });
  if (path.includes("\0")) throw new InspectError("INSPECT_NOT_FOUND", "guest path contains a NUL byte", { path });
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/** `/a/b` from ["a", "b"]. */
export function joinGuestPath(components: readonly string[]): string {
  return "/" + components.join("/");
}

/** A path with `.`/`..` folded lexically, never above `/` (for paths already free of symlinks). */
export function normalizeGuestPath(path: string): string {
  const out: string[] = [];
  for (const c of splitGuestPath(path)) {
    if (c === "..") out.pop();
    else out.push(c);
  }
  return joinGuestPath(out);
}

/** The parent directory and name of a path already normalized. */
export function dirAndBase(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf("/");
  return { dir: i <= 0 ? "/" : path.slice(0, i), base: path.slice(i + 1) };
}
