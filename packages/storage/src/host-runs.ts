// Where a device's content lies in host files, for copies that go around `read()`: the native
// copy (native/sparse.c) moves plain runs of a host file straight into the target, with no
// JavaScript between the read and the write.
import type { BlockDevice } from "./block-device.js";

/**
 * A range [offset, offset+length) of a device's content: `length` plain bytes of the host file
 * `fd` from `fileOffset`, zeros, or something only `read()` can produce (compressed, past the end
 * of its file, inside another device…).
 */
export type HostRun =
  | { kind: "file"; offset: number; length: number; fd: number; fileOffset: number }
  | { kind: "zero"; offset: number; length: number }
  | { kind: "other"; offset: number; length: number };

/** A device that can say where its content lies; the runs cover [start, start+length) in order. */
export interface HostMapped {
  hostRuns(start: number, length: number): AsyncIterable<HostRun>;
}

export function isHostMapped(device: BlockDevice): device is BlockDevice & HostMapped {
  return typeof (device as Partial<HostMapped>).hostRuns === "function";
}

/**
 * The runs of [start, end) read from `below` at `offset` plus the position (a backing file, a
 * vmdk extent), reported at `shift` plus the position: its own runs where it maps them, `other`
 * where it does not, zeros past its end or without it.
 */
export async function* backingRuns(below: BlockDevice | undefined, start: number, end: number, offset = 0, shift = 0): AsyncIterable<HostRun> {
  const inBelow = below ? Math.max(start, Math.min(end, below.size - offset)) : start;
  if (inBelow > start) {
    if (isHostMapped(below!)) {
      for await (const run of below.hostRuns(start + offset, inBelow - start)) yield { ...run, offset: run.offset - offset + shift };
    } else yield { kind: "other", offset: start + shift, length: inBelow - start };
  }
  if (inBelow < end) yield { kind: "zero", offset: inBelow + shift, length: end - inBelow };
}
