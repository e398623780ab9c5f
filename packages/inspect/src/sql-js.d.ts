// The part of sql.js (SQLite compiled to WebAssembly; it ships no type declarations) this package uses.
declare module "sql.js" {
  interface QueryResult {
    columns: string[];
    values: unknown[][];
  }
  interface Statement {
    /** Runs to the next row; false when there is none. */
    step(): boolean;
    get(): unknown[];
    free(): boolean;
  }
  interface Database {
    exec(sql: string): QueryResult[];
    prepare(sql: string): Statement;
    close(): void;
  }
  export interface SqlJsStatic {
    Database: new (data?: Uint8Array) => Database;
  }
  export default function initSqlJs(config?: object): Promise<SqlJsStatic>;
}
