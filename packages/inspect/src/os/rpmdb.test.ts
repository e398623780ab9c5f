// rpmdb.sqlite files made here with sql.js (the SQLite build the reader itself uses): a real
// Packages table, and hostile ones — a recursive VIEW (which drove a reader past 6 GB), a virtual
// table, a generated column that allocates a gigabyte per row, more rows than any system has.
import initSqlJs from "sql.js";
import { describe, expect, it } from "vitest";
import { MAX_PACKAGES } from "./application.js";
import { readRpmDb } from "./rpmdb.js";
import { rpmHeader } from "../testing/rpm-header-blob.js";

const header = (name: string) => rpmHeader([[1000, 6, name], [1001, 6, "1.0"], [1002, 6, "1.el9"], [1022, 6, "x86_64"]]);

/** An rpmdb.sqlite as `rpm --initdb` lays it out (Packages(hnum, blob)), after `schema`. */
async function database(build: (run: (sql: string, params?: unknown[]) => void) => void): Promise<Uint8Array> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  const run = (sql: string, params?: unknown[]) => {
    if (params === undefined) db.exec(sql);
    else (db as unknown as { run(sql: string, params: unknown[]): void }).run(sql, params);
  };
  build(run);
  const bytes = (db as unknown as { export(): Uint8Array }).export();
  db.close();
  return bytes;
}

const rpmSchema = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)";

describe("readRpmDb on rpmdb.sqlite", () => {
  it("lists the packages of a real table, and says how many headers it could not read", async () => {
    const bytes = await database((run) => {
      run(rpmSchema);
      for (const name of ["bash", "glibc", "kernel-core"]) run("INSERT INTO Packages (blob) VALUES (?)", [header(name)]);
      run("INSERT INTO Packages (blob) VALUES (?)", [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])]);
    });
    const { applications, warnings } = await readRpmDb(bytes, "sqlite");
    expect(applications.map((a) => a.name)).toEqual(["bash", "glibc", "kernel-core"]);
    expect(warnings).toEqual(["1 of the rpm database's 4 headers are unreadable and left out"]);
  });

  it("refuses a Packages that is a recursive view before reading a row", async () => {
    const bytes = await database((run) => {
      run("CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i AS hnum, zeroblob(1048576) AS blob FROM n ORDER BY i DESC");
    });
    await expect(readRpmDb(bytes, "sqlite")).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining("is a view, not a table") });
  });

  it("refuses a virtual Packages table", async () => {
    const bytes = await database((run) => run("CREATE VIRTUAL TABLE Packages USING fts4(blob)"));
    await expect(readRpmDb(bytes, "sqlite")).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining("not a plain table") });
  });

  it.each([
    ["zeroblob(n)", "a header is 900000000 bytes"],
    ["zeroblob(n) || x'01'", "out of memory"],
  ])("stops a table whose rows are %s of 900 MB, and grows no memory for it", async (expression, message) => {
    // The column is written into the schema afterwards, as a hostile guest would: SQLite then
    // computes it only when the row is read.
    const bytes = await database((run) => {
      run("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, n INTEGER)");
      run("INSERT INTO Packages (n) VALUES (900000000), (900000000)");
      run("PRAGMA writable_schema = ON");
      run(`UPDATE sqlite_schema SET sql = 'CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, n INTEGER, blob BLOB GENERATED ALWAYS AS (${expression.replaceAll("'", "''")}) VIRTUAL)' WHERE name = 'Packages'`);
    });
    const before = process.memoryUsage().rss;
    await expect(readRpmDb(bytes, "sqlite")).rejects.toMatchObject({ code: "INSPECT_CORRUPT", message: expect.stringContaining(message) });
    expect(process.memoryUsage().rss - before).toBeLessThan(300 * 1024 * 1024);
  });

  it("lists at most MAX_PACKAGES and warns about the rest", async () => {
    const blob = header("pkg");
    const bytes = await database((run) => {
      run(rpmSchema);
      run("BEGIN");
      for (let i = 0; i < MAX_PACKAGES + 5; i++) run("INSERT INTO Packages (blob) VALUES (?)", [blob]);
      run("COMMIT");
    });
    const { applications, warnings } = await readRpmDb(bytes, "sqlite");
    expect(applications.length).toBe(MAX_PACKAGES);
    expect(warnings).toEqual([`the rpm database lists more than ${MAX_PACKAGES} packages; only the first ${MAX_PACKAGES} are reported`]);
  }, 60_000);

  it("reports a file that is not SQLite as INSPECT_CORRUPT", async () => {
    await expect(readRpmDb(new Uint8Array(4096).fill(0x41), "sqlite")).rejects.toMatchObject({ code: "INSPECT_CORRUPT" });
  });
});
