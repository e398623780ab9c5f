import type { OperationOptions } from "@leapp/storage";
import { InspectError } from "../errors.js";
import { GuestReader } from "../guestfs/guest-reader.js";
import type { WritableGuest } from "../guestfs/writable-guest.js";
import { identify } from "../os/inspect.js";
import type { OsIdentity } from "../os/os-release.js";
import type { OperationContext, OperationHandler, OperationHandlers } from "./context.js";
import { fileOperations } from "./files.js";
import { primaryPath, type CustomizeOperation, type OperationReport } from "./operations.js";
import { requestSelinuxRelabel, systemOperations } from "./system.js";

const handlers: OperationHandlers = { ...fileOperations, ...systemOperations };

export interface ApplyOptions extends OperationOptions {
  /** Resolve every path and report where each operation would land; change nothing. */
  dryRun?: boolean;
  /** After changes to an SELinux guest, have it relabel itself at next boot (default true), as virt-customize does. */
  selinuxRelabel?: boolean;
}

export interface ApplyResult {
  operations: OperationReport[];
  /** What the user should know that did not stop the run. */
  warnings: string[];
}

function handlerOf(operation: CustomizeOperation): OperationHandler<CustomizeOperation> {
  const handler = (handlers as Record<string, OperationHandler<CustomizeOperation> | undefined>)[(operation as { op?: unknown })?.op as string];
  if (!handler) throw new InspectError("INSPECT_INVALID", `unknown customize operation ${JSON.stringify((operation as { op?: unknown })?.op)}; see CustomizeOperation for the ones leapp makes`);
  return handler;
}

/** Checks every operation's arguments before anything is opened: a bad one is a typed error, and nothing has been written. */
export function checkOperations(operations: readonly CustomizeOperation[]): void {
  for (const operation of operations) handlerOf(operation).check(operation);
}

/**
 * Applies operations to an open writable guest, in order, as virt-customize applies its options
 * in command-line order. Stops at the first failure (what ran before stays done: callers that
 * need all-or-nothing work on an overlay and discard it, as `customize` does). The caller flushes.
 */
export async function applyOperations(guest: WritableGuest, operations: readonly CustomizeOperation[], options: ApplyOptions = {}): Promise<ApplyResult> {
  checkOperations(operations);
  const warnings: string[] = [];
  let os: Promise<OsIdentity> | undefined;
  const context: OperationContext = {
    guest,
    warn: (message) => warnings.push(message),
    os: () => (os ??= identify(new GuestReader(guest))),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  const reports: OperationReport[] = [];
  for (const [index, operation] of operations.entries()) {
    options.signal?.throwIfAborted();
    options.onProgress?.({ phase: "customize", done: index, total: operations.length, unit: "steps", detail: `${operation.op} ${primaryPath(operation)}` });
    const handler = handlerOf(operation);
    const targets = await handler.targets(operation, context);
    reports.push(await report(guest, operation.op, targets[0] ?? primaryPath(operation), targets));
    if (!options.dryRun) await handler.run(operation, context);
  }
  if (operations.length > 0 && options.selinuxRelabel !== false && (await requestSelinuxRelabel(context, options.dryRun ?? false))) {
    reports.push(await report(guest, "selinux-relabel", "/.autorelabel", ["/.autorelabel"]));
  }
  options.onProgress?.({ phase: "customize", done: operations.length, total: operations.length, unit: "steps" });
  return { operations: reports, warnings };
}

async function report(guest: WritableGuest, op: OperationReport["op"], path: string, targets: readonly string[]): Promise<OperationReport> {
  const where = async (p: string) => {
    const mount = await guest.mountOf(p);
    return { path: p, filesystem: mount.device, mountpoint: mount.mountpoint, mount };
  };
  const primary = await where(path);
  const all = await Promise.all(targets.map(where));
  const refusing = [primary, ...all].find((t) => !t.mount.fs.writable);
  return {
    op,
    path,
    filesystem: primary.filesystem,
    mountpoint: primary.mountpoint,
    targets: all.map(({ path: p, filesystem, mountpoint }) => ({ path: p, filesystem, mountpoint })),
    ...(refusing ? { refused: `${refusing.mountpoint} (${refusing.filesystem}) cannot be written${refusing.mount.refusal ? `: ${refusing.mount.refusal.message}` : ""}` } : {}),
  };
}
