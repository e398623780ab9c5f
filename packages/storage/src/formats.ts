import { resolve } from "node:path";
import type { BlockDevice, DiskFormat, FormatDriver } from "./block-device.js";
import { StorageError } from "./errors.js";
import { ImageFile } from "./image-file.js";
import { qcow2Driver } from "./qcow2.js";
import { rawDriver } from "./raw.js";
import { vdiDriver } from "./vdi.js";
import { vhdxDriver } from "./vhdx.js";
import { vmdkDriver } from "./vmdk.js";
import { vpcDriver } from "./vpc.js";

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
async function probeWindow(file: ImageFile): Promise<{ head: Uint8Array; tail: Uint8Array; size: number }> {
  const size = file.size;
  const tailLength = Math.min(PROBE_BYTES, size);
  const [head, tail] = await Promise.all([file.readUpTo(Math.min(PROBE_BYTES, size), 0), file.readUpTo(tailLength, size - tailLength)]);
  return { head, tail, size };
}

/** The first format whose probe claims the file (raw claims anything). */
function firstClaim(window: { head: Uint8Array; tail: Uint8Array; size: number }): DiskFormat {
  for (const driver of formatDrivers) if (driver.probe(window.head, window.tail, window.size)) return driver.format;
  return "raw";
}

/**
 * The format to open `file` as. A `declared` format is checked against the content (raw accepts
 * anything; another format's magic is STORAGE_FORMAT_MISMATCH); otherwise the content decides — with `probing` "raw", only raw is acceptable (a
 * backing file without a recorded format must not be probed into an image that names files).
 */
export async function probeFormat(file: ImageFile, declared: DiskFormat | undefined, probing: "any" | "raw"): Promise<DiskFormat> {
  if (declared === "raw") return declared;
  const window = await probeWindow(file);
  if (declared !== undefined) {
    // Content in another known format is a plain mismatch; content in none is for the driver
    // to judge (a damaged image of the declared format gets the driver's own error).
    const claimed = firstClaim(window);
    if (claimed !== "raw" && claimed !== declared && !driverFor(declared).probe(window.head, window.tail, window.size)) {
      throw new StorageError("STORAGE_FORMAT_MISMATCH", `${file.path} is not a ${declared} image (its content says ${claimed}); name the right format or let leapp detect it`, { path: file.path });
    }
    return declared;
  }
  const found = firstClaim(window);
  if (found !== "raw" && probing === "raw") {
    throw new StorageError(
      "STORAGE_BACKING_FORMAT",
      `${file.path} is a backing file whose format the image does not record, and it looks like ${found}; leapp opens such backing files only as raw, never probing them (an image written inside a guest's disk could otherwise name host files) — record the format: qemu-img rebase -u -F ${found} -b NAME OVERLAY`,
      { path: file.path },
    );
  }
  return found;
}

/**
 * The format of a disk image from its content (magic bytes), never from its name. Anything no
 * specific driver claims is raw. `source` is a path or an opened device (left open).
 */
export async function detectDiskFormat(source: string | BlockDevice): Promise<DiskFormat> {
  const file = typeof source === "string" ? await ImageFile.open(resolve(source), { allowBlockDevice: true }) : ImageFile.overDevice(source, "the device");
  try {
    return await probeFormat(file, undefined, "any");
  } finally {
    await file.close();
  }
}
