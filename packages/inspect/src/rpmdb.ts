import { getPackagesSqlite } from "@snyk/rpm-parser";
import { bufferToHashDbValues } from "@snyk/rpm-parser/dist/berkeleydb/index.js";
import { bufferToNdbValues } from "@snyk/rpm-parser/dist/ndb/index.js";
import type { Application } from "./application.js";
import { InspectError } from "./errors.js";
import { parseRpmHeaderBlob } from "./rpm-header.js";

export type RpmDbFormat = "bdb" | "sqlite" | "ndb";

/** Where each rpmdb format lives, newest layout first. */
export const rpmDbLocations: { path: string; format: RpmDbFormat }[] = [
  { path: "/var/lib/rpm/rpmdb.sqlite", format: "sqlite" },
  { path: "/usr/lib/sysimage/rpm/rpmdb.sqlite", format: "sqlite" },
  { path: "/var/lib/rpm/Packages.db", format: "ndb" },
  { path: "/usr/lib/sysimage/rpm/Packages.db", format: "ndb" },
  { path: "/var/lib/rpm/Packages", format: "bdb" },
  { path: "/usr/lib/sysimage/rpm/Packages", format: "bdb" },
];

/**
 * The packages of an rpm database held in memory. @snyk/rpm-parser takes the header blobs out of
 * the Berkeley DB hash and ndb files; we read the headers ourselves because its package info
 * leaves out the summary and URL virt-inspector reports. For sqlite its own API is used (the
 * blobs sit behind SQL), so summary and URL stay empty there.
 */
export async function readRpmDb(data: Uint8Array, format: RpmDbFormat): Promise<Application[]> {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  try {
    if (format === "sqlite") {
      const result = await getPackagesSqlite(buffer);
      if (result.error) throw result.error;
      return result.response
        .filter((p) => p && typeof p.name === "string")
        .map((p) => ({ name: p.name, epoch: p.epoch && p.epoch > 0 ? p.epoch : 0, version: p.version, release: p.release, arch: p.arch ?? "(none)" }));
    }
    const blobs = format === "bdb" ? await bufferToHashDbValues(buffer) : await bufferToNdbValues(buffer);
    const apps: Application[] = [];
    for (const blob of blobs) {
      const app = parseRpmHeaderBlob(blob);
      if (app) apps.push(app);
    }
    return apps;
  } catch (err) {
    throw new InspectError("INSPECT_CORRUPT", `the guest's rpm database (${format}) cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
