/** qcow2 on-disk constants shared by the reader and the writer. */
export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/**
 * Whether a file starts with the qcow magic. Any version is claimed — the driver then refuses
 * versions other than 2 and 3 with a clear error — so an old qcow v1 file is never taken for raw.
 */
export function probeQcow2(head: Uint8Array): boolean {
  if (head.length < 8) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return view.getUint32(0) === QCOW2_MAGIC;
}
