/**
 * Progress and cancellation, one shape for every long operation in every leapp package: the CLI
 * draws the events (bar on a TTY, JSON lines with --progress=json), the migrator streams them.
 */
export interface ProgressEvent {
  /** What is being done, as a stable word: "copy", "convert", "inspect", "write", "stream"… */
  phase: string;
  /** Work done so far, in `unit`s. */
  done: number;
  /** Total work in `unit`s, when known. */
  total?: number;
  unit: "bytes" | "files" | "steps";
  /** The item being worked on (a disk, a guest path), for people. */
  detail?: string;
}

export type ProgressListener = (event: ProgressEvent) => void;

/**
 * What every long operation accepts. An aborted operation rejects with the signal's reason (a
 * DOMException named "AbortError" unless the caller gave another), after removing what it had
 * half-written.
 */
export interface OperationOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

/** Whether `err` is the rejection of an aborted operation (the reason of an aborted signal). */
export function isAbortError(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted && err === signal.reason) return true;
  return (err as { name?: unknown } | null)?.name === "AbortError";
}
