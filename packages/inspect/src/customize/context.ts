import { stat } from "node:fs/promises";
import type { ProgressListener } from "@leapp/storage";
import { InspectError } from "../errors.js";
import type { GuestStat } from "../fs/filesystem.js";
import type { WritableGuest } from "../guestfs/writable-guest.js";
import type { OsIdentity } from "../os/os-release.js";
import type { CustomizeOperation } from "./operations.js";

/** What every operation runs with. */
export interface OperationContext {
  guest: WritableGuest;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Something the user should know that does not stop the run. */
  warn(message: string): void;
  /** The guest's distribution and version, read once. */
  os(): Promise<OsIdentity>;
}

/** How one kind of operation is checked, planned and applied. */
export interface OperationHandler<O extends CustomizeOperation> {
  /** Checks the arguments alone, before any guest is opened (typed errors, nothing read). */
  check(operation: O): void;
  /** The guest paths it would change, read from the guest without changing it. */
  targets(operation: O, context: OperationContext): Promise<string[]>;
  run(operation: O, context: OperationContext): Promise<void>;
}

export type OperationHandlers = { [K in CustomizeOperation["op"]]: OperationHandler<Extract<CustomizeOperation, { op: K }>> };

/** stat of a guest path (following links), or undefined when nothing is there. */
export async function statOrUndefined(guest: WritableGuest, path: string, follow = true): Promise<GuestStat | undefined> {
  try {
    return follow ? await guest.stat(path) : await guest.lstat(path);
  } catch (err) {
    if (err instanceof InspectError && err.code === "INSPECT_NOT_FOUND") return undefined;
    throw err;
  }
}

/** A host path that must exist, as a typed error naming the option when it does not. */
export async function checkHostPath(path: string, option: string): Promise<void> {
  try {
    await stat(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new InspectError(code === "ENOENT" ? "INSPECT_NOT_FOUND" : "INSPECT_UNSUPPORTED", `${option}: cannot read ${path} on this host (${code ?? String(err)})`, { path, cause: err });
  }
}

/** An absolute guest path, or a typed error naming the option. */
export function checkGuestPath(path: string, option: string): void {
  if (typeof path !== "string" || !path.startsWith("/")) throw new InspectError("INSPECT_INVALID", `${option}: ${JSON.stringify(path)} is not an absolute guest path`, { path: String(path) });
  if (path.includes("\0")) throw new InspectError("INSPECT_INVALID_NAME", `${option}: the guest path holds a NUL byte`, { path });
}
