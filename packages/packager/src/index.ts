export { PackagerError, type PackagerErrorCode } from "./errors.js";
export { encodeEntryHeader, entrySize, contentLength, isSparse, validateEntry, type DataRange, type TarEntry, type TarEntryType } from "./tar/header.js";
export { TarWriter, type ChunkSink, type ContentShortfall, type PositionalSource, type TarWriterOptions } from "./tar/writer.js";
export { defaultExclusions, exclusionMatcher, type ExclusionMatcher, type ExclusionRule } from "./exclusions.js";
export { walkGuest, SPARSE_CHECK_BYTES, type WalkedEntry, type WalkOptions } from "./walk.js";
