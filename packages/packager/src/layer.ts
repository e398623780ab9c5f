import type { GuestFile, GuestFS } from "@leapp/inspect";
import type { ProgressListener } from "@leapp/storage";
import { END_OF_ARCHIVE, encodeEntryHeader, entrySize } from "./tar/header.js";
import { TarWriter, type ChunkSink } from "./tar/writer.js";
import type { WalkedEntry } from "./walk.js";

export interface LayerWriteOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** The layer's exact size when known (a planned layer), for progress. */
  total?: number;
  /**
   * Never leave an entry out: a file that cannot be read any more is written as zeros of its
   * planned size. A planned layer needs this, since its size was announced before it was written.
   */
  keepPlannedSize?: boolean;
  onWarning?: (message: string) => void;
  /** Bytes per chunk handed to the sink (default 1 MiB). */
  chunkSize?: number;
}

export interface LayerStats {
  entries: number;
  files: number;
  /** Bytes of the tar stream. */
  bytes: number;
  /** Bytes of file content read from the guest. */
  contentBytes: number;
}

/** Files at most this large are read ahead, whole, while earlier entries are written. */
const PREFETCH_FILE_BYTES = 256 * 1024;
/** Entries read ahead of the writer, and the bytes they may hold. */
const PREFETCH_ENTRIES = 48;
const PREFETCH_BYTES = 16 * 1024 * 1024;

type Content = { kind: "bytes"; bytes: Uint8Array } | { kind: "file"; file: GuestFile } | { kind: "missing"; error: unknown } | { kind: "none" };

async function readWhole(file: GuestFile, size: number): Promise<Uint8Array> {
  const buffer = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = await file.read(buffer.subarray(got), got);
    if (n <= 0) break;
    got += n;
  }
  return got === size ? buffer : buffer.subarray(0, got);
}

async function openContent(guest: GuestFS, walked: WalkedEntry): Promise<Content> {
  const { entry } = walked;
  if (entry.type !== "file" || (entry.size ?? 0) === 0) return { kind: "none" };
  let file: GuestFile;
  try {
    file = await guest.openFile(walked.guestPath);
  } catch (error) {
    return { kind: "missing", error };
  }
  if ((entry.size ?? 0) > PREFETCH_FILE_BYTES) return { kind: "file", file };
  try {
    return { kind: "bytes", bytes: await readWhole(file, entry.size ?? 0) };
  } catch (error) {
    return { kind: "missing", error };
  } finally {
    await file.close();
  }
}

/**
 * Writes a guest's entries (from `walkGuest`, or a plan of them) as one tar stream: each file is
 * opened and read when its turn comes, small ones a little ahead so reads overlap the writing.
 * Memory stays bounded by one chunk plus the read-ahead, whatever the size of the guest.
 */
export async function writeLayerTar(guest: GuestFS, entries: AsyncIterable<WalkedEntry> | Iterable<WalkedEntry>, sink: ChunkSink, options: LayerWriteOptions = {}): Promise<LayerStats> {
  const warn = options.onWarning ?? (() => {});
  const signal = options.signal;
  const stats: LayerStats = { entries: 0, files: 0, bytes: 0, contentBytes: 0 };
  const skipped = new Set<string>();
  let reported = -1;
  const writer = new TarWriter(
    async (chunk) => {
      signal?.throwIfAborted();
      await sink(chunk);
      if (options.onProgress && writer.position !== reported) {
        reported = writer.position;
        options.onProgress({ phase: "stream", done: reported, ...(options.total !== undefined ? { total: options.total } : {}), unit: "bytes" });
      }
    },
    {
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      onShortContent: (s) => warn(`/${s.path}: ${s.expected - s.got} bytes shorter than when it was listed (changed while read?); padded with zeros`),
    },
  );

  const queue: { walked: WalkedEntry; content: Promise<Content>; counted: number }[] = [];
  let queuedBytes = 0;
  const iterator = (Symbol.asyncIterator in entries ? entries[Symbol.asyncIterator]() : (entries as Iterable<WalkedEntry>)[Symbol.iterator]()) as AsyncIterator<WalkedEntry> | Iterator<WalkedEntry>;
  let exhausted = false;
  const fill = async () => {
    while (!exhausted && queue.length < PREFETCH_ENTRIES && queuedBytes < PREFETCH_BYTES) {
      const next = await iterator.next();
      if (next.done) {
        exhausted = true;
        return;
      }
      const walked = next.value;
      const size = walked.entry.type === "file" ? (walked.entry.size ?? 0) : 0;
      const counted = size <= PREFETCH_FILE_BYTES ? size : 0;
      queuedBytes += counted;
      const content = openContent(guest, walked);
      content.catch(() => {}); // awaited in turn below
      queue.push({ walked, content, counted });
    }
  };

  try {
    for (;;) {
      signal?.throwIfAborted();
      await fill();
      const item = queue.shift();
      if (!item) break;
      const { walked } = item;
      const { entry } = walked;
      const content = await item.content;
      queuedBytes -= item.counted;
      if (entry.type === "hardlink" && skipped.has(entry.linkTarget!) && !options.keepPlannedSize) {
        warn(`${walked.guestPath}: its other name /${entry.linkTarget} could not be read; left out`);
        continue;
      }
      if (content.kind === "missing") {
        if (!options.keepPlannedSize) {
          warn(`${walked.guestPath}: ${(content.error as Error).message}; left out`);
          skipped.add(entry.path);
          continue;
        }
        warn(`${walked.guestPath}: ${(content.error as Error).message}; written as zeros`);
      }
      const header = encodeEntryHeader(entry);
      try {
        if (content.kind === "file") await writer.add(entry, content.file, header);
        else if (content.kind === "bytes") await writer.add(entry, content.bytes, header);
        else await writer.add(entry, new Uint8Array(0), header);
      } finally {
        if (content.kind === "file") await content.file.close();
      }
      stats.entries++;
      if (entry.type === "file") {
        stats.files++;
        stats.contentBytes += entry.size ?? 0;
      }
    }
    await writer.end();
  } finally {
    // Close what was read ahead and never written (an error or an abort stopped the loop).
    for (const item of queue.splice(0)) {
      const c = await item.content.catch(() => undefined);
      if (c?.kind === "file") await c.file.close().catch(() => {});
    }
    if (!exhausted) await (iterator as AsyncIterator<WalkedEntry>).return?.();
  }
  stats.bytes = writer.position;
  return stats;
}

/** The exact size of the tar stream `writeLayerTar` makes of planned entries with `keepPlannedSize`. */
export function plannedTarSize(entries: Iterable<WalkedEntry>): number {
  let total = END_OF_ARCHIVE.length;
  for (const { entry } of entries) total += entrySize(entry);
  return total;
}
