import type { Application } from "./application.js";
import { InspectError } from "../errors.js";
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
 * the Berkeley DB hash and ndb files, sql.js (the SQLite build @snyk/rpm-parser itself uses) out
 * of rpmdb.sqlite; we read the headers ourselves because the parser's package info leaves out the
 * summary and URL virt-inspector reports.
 */
export async function readRpmDb(data: Uint8Array, format: RpmDbFormat): Promise<Application[]> {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  try {
    // Each reader is loaded only for a guest that has that kind of database.
    const blobs =
      format === "sqlite"
        ? await sqliteBlobs(data)
        : format === "bdb"
          ? await (await import("@snyk/rpm-parser/dist/berkeleydb/index.js")).bufferToHashDbValues(buffer)
          : await (await import("@snyk/rpm-parser/dist/ndb/index.js")).bufferToNdbValues(buffer);
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

/** The header blobs of rpmdb.sqlite's Packages table. */
async function sqliteBlobs(data: Uint8Array): Promise<Uint8Array[]> {
  // sql.js (SQLite in WebAssembly) is loaded only for guests with an rpmdb.sqlite.
  const { default: initSqlJs } = await import("sql.js");
  const SQL = await initSqlJs();
  const db = new SQL.Database(data);
  try {
    const result = db.exec("SELECT blob FROM Packages");
    return (result[0]?.values ?? []).map((row) => row[0]).filter((b): b is Uint8Array => b instanceof Uint8Array);
  } finally {
    db.close();
  }
}
