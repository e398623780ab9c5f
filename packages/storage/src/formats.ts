import { open } from "node:fs/promises";
import type { DiskFormat, FormatDriver } from "./block-device.js";
import { StorageError } from "./errors.js";
import { qcow2Driver } from "./qcow2.js";
import { rawDriver } from "./raw.js";
import { vdiDriver } from "./vdi.js";
import { vhdxDriver } from "./vhdx.js";
import { vmdkDriver } from "./vmdk.js";
import { vpcDriver } from "./vpc.js";
import { readUpTo } from "./util.js";

/**
 * Every format driver, in probe order. Detection asks each `probe` in turn and takes the first
 * that says yes, so specific magic-byte formats come first and raw — which accepts anything —
 * stays last as the fallback. Add new drivers above `rawDriver`.
 */
export const formatDrivers: FormatDriver[] = [
  qcow2Driver,
  vmdkDriver,
  vdiDriver,
  vhdxDriver,
  vpcDriver,
  rawDriver,
];

/** How many bytes of the start and the end of a file probes see. */
export const PROBE_BYTES = 64 * 1024;

/** The driver for a format name; STORAGE_UNSUPPORTED if none is registered. */
export function driverFor(format: DiskFormat): FormatDriver {
  const driver = formatDrivers.find((d) => d.format === format);
  if (!driver) {
    throw new StorageError("STORAGE_UNSUPPORTED", `no driver for disk format "${format}" (known: ${formatDrivers.map((d) => d.format).join(", ")})`);
  }
  return driver;
}

/** The first and last bytes of a file (up to 64 KiB each) and its size, as probes want them. */
export async function readProbeWindow(path: string): Promise<{ head: Uint8Array; tail: Uint8Array; size: number }> {
  const file = await open(path, "r");
  try {
    const stat = await file.stat();
    const size = stat.size;
    const tailLength = Math.min(PROBE_BYTES, size);
    const [head, tail] = await Promise.all([readUpTo(file, Math.min(PROBE_BYTES, size), 0), readUpTo(file, tailLength, size - tailLength)]);
    return { head, tail, size };
  } finally {
    await file.close();
  }
}

/**
 * The format of an image, from its content (magic bytes), never from its name. Anything no
 * specific driver claims is raw.
 */
export async function detectFormat(path: string): Promise<DiskFormat> {
  const { head, tail, size } = await readProbeWindow(path);
  for (const driver of formatDrivers) {
    if (driver.probe(head, tail, size)) return driver.format;
  }
  throw new StorageError("STORAGE_UNKNOWN_FORMAT", `${path}: no driver recognises this file`, { path });
}
