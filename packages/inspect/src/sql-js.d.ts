// The part of sql.js (SQLite compiled to WebAssembly; it ships no type declarations) this package uses.
declare module "sql.js" {
  interface QueryResult {
    columns: string[];
    values: unknown[][];
  }
  interface Database {
    exec(sql: string): QueryResult[];
    close(): void;
  }
  interface SqlJsStatic {
    Database: new (data?: Uint8Array) => Database;
  }
  export default function initSqlJs(config?: object): Promise<SqlJsStatic>;
}
