// The Berkeley DB `Packages` file of rpm 4.0–4.15 (CentOS 5–8): a hash database whose keys are
// 4-byte host-endian (little-endian on x86) instance numbers from 1 and whose values are header
// blobs; key 0 holds the highest instance number. db5.3_load writes the real on-disk format.
import { run } from "./run.js";

function uint32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** db_dump's "bytevalue" text for the records, the input format db_load reads. */
export function packagesDumpText(headers: Buffer[]): string {
  const lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END"];
  lines.push(` ${uint32le(0).toString("hex")}`, ` ${uint32le(headers.length).toString("hex")}`);
  headers.forEach((blob, i) => lines.push(` ${uint32le(i + 1).toString("hex")}`, ` ${blob.toString("hex")}`));
  lines.push("DATA=END", "");
  return lines.join("\n");
}

/** Writes `file` (which must not exist) as an rpm BDB Packages database holding `headers`. */
export function writeBdbPackages(file: string, headers: Buffer[]): void {
  run("db5.3_load", ["-t", "hash", file], { input: packagesDumpText(headers) });
}
