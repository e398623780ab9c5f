// A guest's rpm database, from the catalog's rpmbuild-made packages installed by the real rpm.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { allRpmPackages } from "../rpm-catalog.js";
import { buildRpms, exportHeaders, installIntoSqliteDb, rpmFileName, type RpmPackageSpec } from "../rpm-build.js";
import { writeBdbPackages } from "../rpmdb-bdb.js";

async function rpmFiles(catalog: RpmPackageSpec[]): Promise<string[]> {
  const dir = await buildRpms(allRpmPackages);
  return catalog.map((p) => join(dir, rpmFileName(p)));
}

/**
 * /var/lib/rpm/Packages the rpm 4.4–4.14 way (CentOS 5–7): the headers rpm -i --justdb installs,
 * stored in a Berkeley DB hash by db5.3_load.
 */
export async function writeRpmdbBdb(root: string, catalog: RpmPackageSpec[], workDir: string): Promise<void> {
  const sqliteDb = join(workDir, "rpmdb-sqlite");
  installIntoSqliteDb(sqliteDb, await rpmFiles(catalog));
  mkdirSync(join(root, "var/lib/rpm"), { recursive: true });
  writeBdbPackages(join(root, "var/lib/rpm/Packages"), exportHeaders(sqliteDb));
}

/** /var/lib/rpm/rpmdb.sqlite the rpm 4.16+ way (EL9): rpm --initdb, then rpm -i --justdb. */
export async function writeRpmdbSqlite(root: string, catalog: RpmPackageSpec[]): Promise<void> {
  installIntoSqliteDb(join(root, "var/lib/rpm"), await rpmFiles(catalog));
}
