import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { SqlJsStatic } from "sql.js";
import { MAX_PACKAGES, type Application } from "./application.js";
import { InspectError } from "../errors.js";
import { PACKAGE_DB_BYTES } from "../read-limits.js";
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

/** Largest single header blob taken from rpmdb.sqlite (the largest real headers are a few MiB). */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** Most header bytes taken from one rpmdb.sqlite in all: a real table holds no more than its file. */
const MAX_TOTAL_HEADER_BYTES = 2 * PACKAGE_DB_BYTES;
/**
 * Largest the WebAssembly memory of SQLite may grow (its page cache, sorting, one row; the file
 * itself lives outside it): a schema built to make it allocate (a generated column of
 * zeroblob(1e9)…) fails with "out of memory" instead of growing the process by gigabytes.
 */
export const SQLITE_MEMORY_BYTES = 256 * 1024 * 1024;

// The few WebAssembly calls used here: the project's TypeScript libs declare none.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
declare const WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: WasmInstance }>; Memory: abstract new () => WasmMemory };

let sqlJs: Promise<SqlJsStatic> | undefined;

/**
 * A private sql.js with its memory capped: its own copy of the module (sql.js keeps one instance
 * per module copy, and another user's instance must neither be capped nor decide ours), whose
 * WebAssembly instance is made here and whose memory refuses to grow past SQLITE_MEMORY_BYTES —
 * SQLite's malloc then fails cleanly.
 */
function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= (async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("sql.js");
    const shared = require.cache[entry];
    delete require.cache[entry];
    let initSqlJs: (config: object) => Promise<SqlJsStatic>;
    try {
      initSqlJs = require(entry) as typeof initSqlJs;
    } finally {
      if (shared) require.cache[entry] = shared;
      else delete require.cache[entry];
    }
    const wasm = await readFile(require.resolve("sql.js/dist/sql-wasm.wasm"));
    return initSqlJs({
      instantiateWasm(imports: object, receive: (instance: WasmInstance) => void) {
        void WebAssembly.instantiate(wasm, imports).then(({ instance }) => {
          for (const value of Object.values(instance.exports)) if (value instanceof WebAssembly.Memory) capMemory(value, SQLITE_MEMORY_BYTES);
          receive(instance);
        });
        return {};
      },
    });
  })();
  sqlJs.catch(() => (sqlJs = undefined));
  return sqlJs;
}

/** Makes `memory.grow` refuse to pass `limit` bytes (Emscripten's allocator then reports out of memory). */
function capMemory(memory: WasmMemory, limit: number): void {
  const grow = memory.grow.bind(memory);
  memory.grow = (pages: number) => {
    if (memory.buffer.byteLength + pages * 65536 > limit) throw new RangeError(`SQLite may not use more than ${limit} bytes here`);
    return grow(pages);
  };
}

export interface RpmDbContents {
  applications: Application[];
  /** What was left out, and why (the report's warnings). */
  warnings: string[];
}

/**
 * The packages of an rpm database held in memory. @snyk/rpm-parser takes the header blobs out of
 * the Berkeley DB hash and ndb files, sql.js (the SQLite build @snyk/rpm-parser itself uses) out
 * of rpmdb.sqlite; we read the headers ourselves because the parser's package info leaves out the
 * summary and URL virt-inspector reports. At most MAX_PACKAGES are listed; more is a warning.
 */
export async function readRpmDb(data: Uint8Array, format: RpmDbFormat): Promise<RpmDbContents> {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const applications: Application[] = [];
  const warnings: string[] = [];
  let headers = 0;
  /** Takes one header; false once the package cap is reached. */
  const take = (blob: Uint8Array): boolean => {
    if (applications.length >= MAX_PACKAGES) {
      warnings.push(`the rpm database lists more than ${MAX_PACKAGES} packages; only the first ${MAX_PACKAGES} are reported`);
      return false;
    }
    headers++;
    const app = parseRpmHeaderBlob(blob);
    if (app) applications.push(app);
    return true;
  };
  try {
    // Each reader is loaded only for a guest that has that kind of database.
    if (format === "sqlite") await sqliteHeaders(data, take);
    else {
      const blobs =
        format === "bdb"
          ? await (await import("@snyk/rpm-parser/dist/berkeleydb/index.js")).bufferToHashDbValues(buffer)
          : await (await import("@snyk/rpm-parser/dist/ndb/index.js")).bufferToNdbValues(buffer);
      for (const blob of blobs) if (!take(blob)) break;
    }
  } catch (err) {
    if (err instanceof InspectError) throw err;
    throw new InspectError("INSPECT_CORRUPT", `the guest's rpm database (${format}) cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (headers > applications.length) warnings.push(`${headers - applications.length} of the rpm database's ${headers} headers are unreadable and left out`);
  return { applications, warnings };
}

const corrupt = (why: string) => new InspectError("INSPECT_CORRUPT", `the guest's rpm database (sqlite) cannot be read: ${why}`);

/**
 * Hands each header blob of rpmdb.sqlite's Packages table to `take`, one row at a time. Packages
 * must be a real table: a view (a recursive one can produce rows, or allocate, forever) or a
 * virtual table is refused before a row is read.
 */
async function sqliteHeaders(data: Uint8Array, take: (blob: Uint8Array) => boolean): Promise<void> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database(data);
  try {
    db.exec("PRAGMA query_only=1; PRAGMA trusted_schema=0; PRAGMA cell_size_check=1");
    const schema = db.exec("SELECT type, sql FROM sqlite_schema WHERE name = 'Packages' COLLATE NOCASE")[0]?.values ?? [];
    if (schema.length === 0) throw corrupt("it has no Packages table");
    const [type, sql] = schema[0] as [unknown, unknown];
    if (type !== "table") throw corrupt(`its Packages is a ${String(type)}, not a table (a hostile database?)`);
    if (typeof sql !== "string" || !/^\s*CREATE\s+TABLE\b/i.test(sql)) throw corrupt("its Packages is not a plain table (a hostile database?)");
    // The length first: sql.js sizes its copy of a value by it, before SQLite has the bytes.
    const statement = db.prepare(`SELECT length(blob), CASE WHEN length(blob) <= ${MAX_HEADER_BYTES} THEN blob END FROM Packages`);
    try {
      let total = 0;
      while (statement.step()) {
        const [length, blob] = statement.get();
        if (typeof length === "number" && length > MAX_HEADER_BYTES) throw corrupt(`a header is ${length} bytes, more than the ${MAX_HEADER_BYTES} allowed`);
        if (!(blob instanceof Uint8Array)) continue;
        total += blob.length;
        if (total > MAX_TOTAL_HEADER_BYTES) throw corrupt(`its headers hold more than ${MAX_TOTAL_HEADER_BYTES} bytes`);
        if (!take(blob)) break;
      }
    } finally {
      statement.free();
    }
  } finally {
    db.close();
  }
}
