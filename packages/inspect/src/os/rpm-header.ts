import type { Application } from "./application.js";

const TAG_NAME = 1000;
const TAG_VERSION = 1001;
const TAG_RELEASE = 1002;
const TAG_EPOCH = 1003;
const TAG_SUMMARY = 1004;
const TAG_URL = 1020;
const TAG_ARCH = 1022;
const TAG_SOURCERPM = 1044;

const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;

const wanted = new Set([TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_SUMMARY, TAG_URL, TAG_ARCH, TAG_SOURCERPM]);
const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * The package an rpmdb header blob describes (as stored in every rpmdb format: a count of index
 * entries, the data size, the index, then the data). Returns undefined for a blob that lies about
 * its sizes or lacks a name, version or release; every offset is checked against the blob.
 */
export function parseRpmHeaderBlob(blob: Uint8Array): Application | undefined {
  if (blob.length < 8) return undefined;
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const indexCount = view.getUint32(0);
  const dataLength = view.getUint32(4);
  if (indexCount === 0 || indexCount > 0x10000 || dataLength > 256 * 1024 * 1024) return undefined;
  const dataStart = 8 + indexCount * 16;
  if (dataStart + dataLength > blob.length) return undefined;
  const data = blob.subarray(dataStart, dataStart + dataLength);
  const values = new Map<number, string | number>();
  for (let i = 0; i < indexCount; i++) {
    const at = 8 + i * 16;
    const tag = view.getInt32(at);
    if (!wanted.has(tag) || values.has(tag)) continue;
    const type = view.getUint32(at + 4);
    const offset = view.getInt32(at + 8);
    if (offset < 0 || offset >= data.length) continue;
    if (type === TYPE_INT32) {
      if (offset + 4 <= data.length) values.set(tag, new DataView(data.buffer, data.byteOffset + offset, 4).getInt32(0));
    } else if (type === TYPE_STRING || type === TYPE_STRING_ARRAY || type === TYPE_I18NSTRING) {
      const end = data.indexOf(0, offset);
      if (end < 0) continue;
      values.set(tag, utf8.decode(data.subarray(offset, end)));
    }
  }
  const name = values.get(TAG_NAME);
  const version = values.get(TAG_VERSION);
  const release = values.get(TAG_RELEASE);
  if (typeof name !== "string" || typeof version !== "string" || typeof release !== "string" || name === "") return undefined;
  const epoch = values.get(TAG_EPOCH);
  const app: Application = {
    name,
    epoch: typeof epoch === "number" && epoch > 0 ? epoch : 0,
    version,
    release,
    // A gpg-pubkey pseudo-package has no arch; rpm prints "(none)".
    arch: typeof values.get(TAG_ARCH) === "string" ? (values.get(TAG_ARCH) as string) : "(none)",
  };
  const summary = values.get(TAG_SUMMARY);
  if (typeof summary === "string" && summary !== "") app.summary = summary;
  const url = values.get(TAG_URL);
  if (typeof url === "string" && url !== "") app.url = url;
  const srpm = values.get(TAG_SOURCERPM);
  if (typeof srpm === "string" && srpm !== "") app.sourcePackage = srpm.replace(/-[^-]*-[^-]*\.src\.rpm$/, "");
  return app;
}
