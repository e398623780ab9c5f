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
/** Bytes the read-ahead may hold. */
const PREFETCH_BYTES = 16 * 1024 * 1024;
/**
 * Entries read ahead of the writer: opened one by one (each a call of the source, so few at
 * once: an SSH source serves them over one connection), or in batches where the source reads
 * many files per call (`GuestFS.readFiles`). The read-ahead is topped up once it has run down to
 * half, so batches are full.
 */
const PREFETCH_ENTRIES = 48;
const PREFETCH_BATCHED_ENTRIES = 1024;
/**
 * A batch's files are read into one slab, reused once they are written: fresh memory for each
 * batch would cost a page fault (and the kernel zeroing a page) per 4 KiB read.
 */
const SLAB_BYTES = 1024 * 1024;

type Content = { kind: "bytes"; bytes: Uint8Array } | { kind: "file"; file: GuestFile } | { kind: "missing"; error: unknown } | { kind: "none" };

/** One entry of the read-ahead; `release` gives its bytes back once they are written. */
interface Queued {
  walked: WalkedEntry;
  content: Promise<Content>;
  counted: number;
  release: () => void;
}

const nothingToRelease = () => {};

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

/** Whether an entry's content is read ahead whole (otherwise it is opened, and read when written). */
const readsAhead = (walked: WalkedEntry) => walked.entry.type === "file" && (walked.entry.size ?? 0) > 0 && (walked.entry.size ?? 0) <= PREFETCH_FILE_BYTES;

async function openContent(guest: GuestFS, walked: WalkedEntry): Promise<Content> {
  const { entry } = walked;
  if (entry.type !== "file" || (entry.size ?? 0) === 0) return { kind: "none" };
  let file: GuestFile;
  try {
    file = await guest.openFile(walked.guestPath);
  } catch (error) {
    return { kind: "missing", error };
  }
  if (!readsAhead(walked)) return { kind: "file", file };
  try {
    return { kind: "bytes", bytes: await readWhole(file, entry.size ?? 0) };
  } catch (error) {
    return { kind: "missing", error };
  } finally {
    await file.close();
  }
}

/**
 * The entries to write, with their content read ahead: small files whole (bounded in count and
 * bytes), larger ones opened. A bounded window over the walk, in its order.
 */
class ReadAhead {
  readonly #guest: GuestFS;
  readonly #iterator: AsyncIterator<WalkedEntry> | Iterator<WalkedEntry>;
  readonly #readFiles: GuestFS["readFiles"];
  readonly #ahead: number;
  readonly #queue: Queued[] = [];
  readonly #freeSlabs: Buffer[] = [];
  #bytes = 0;
  #exhausted = false;

  constructor(guest: GuestFS, entries: AsyncIterable<WalkedEntry> | Iterable<WalkedEntry>) {
    this.#guest = guest;
    this.#iterator = (Symbol.asyncIterator in entries ? entries[Symbol.asyncIterator]() : (entries as Iterable<WalkedEntry>)[Symbol.iterator]()) as AsyncIterator<WalkedEntry> | Iterator<WalkedEntry>;
    this.#readFiles = guest.readFiles?.bind(guest);
    this.#ahead = this.#readFiles ? PREFETCH_BATCHED_ENTRIES : PREFETCH_ENTRIES;
  }

  /** The next entry in walk order, undefined at the end. */
  async next(): Promise<Queued | undefined> {
    if (this.#queue.length <= this.#ahead / 2 && this.#bytes <= PREFETCH_BYTES / 2) await this.#fill();
    const item = this.#queue.shift();
    if (item) this.#bytes -= item.counted;
    return item;
  }

  /** Closes what was read ahead and never written (an error or an abort stopped the writer). */
  async close(): Promise<void> {
    for (const item of this.#queue.splice(0)) {
      const c = await item.content.catch(() => undefined);
      if (c?.kind === "file") await c.file.close().catch(() => {});
    }
    if (!this.#exhausted) await (this.#iterator as AsyncIterator<WalkedEntry>).return?.();
  }

  async #fill(): Promise<void> {
    let batch: Queued[] = [];
    let batchBytes = 0;
    while (!this.#exhausted && this.#queue.length < this.#ahead && this.#bytes < PREFETCH_BYTES) {
      const next = await this.#iterator.next();
      if (next.done) {
        this.#exhausted = true;
        break;
      }
      const walked = next.value;
      const counted = readsAhead(walked) ? (walked.entry.size ?? 0) : 0;
      this.#bytes += counted;
      const item: Queued = { walked, counted, content: undefined!, release: nothingToRelease };
      if (this.#readFiles && counted > 0) {
        if (batchBytes + counted > SLAB_BYTES) {
          this.#readBatch(batch);
          batch = [];
          batchBytes = 0;
        }
        batch.push(item);
        batchBytes += counted;
      } else {
        item.content = openContent(this.#guest, walked);
        item.content.catch(() => {}); // awaited in turn
      }
      this.#queue.push(item);
    }
    this.#readBatch(batch);
  }

  /** Small files read by one `readFiles` call into one slab. */
  #readBatch(batch: Queued[]): void {
    if (batch.length === 0) return;
    const slab = this.#freeSlabs.pop() ?? Buffer.allocUnsafe(SLAB_BYTES);
    let unwritten = batch.length;
    const release = () => {
      if (--unwritten === 0) this.#freeSlabs.push(slab);
    };
    let at = 0;
    const requests = batch.map((item) => {
      const request = { path: item.walked.guestPath, buffer: slab.subarray(at, at + item.counted) };
      at += item.counted;
      return request;
    });
    const read = this.#readFiles!(requests);
    for (const [i, item] of batch.entries()) {
      item.release = release;
      item.content = read.then(
        (results): Content => {
          const got = results[i]!;
          return typeof got === "number" ? { kind: "bytes", bytes: requests[i]!.buffer.subarray(0, got) } : { kind: "missing", error: got };
        },
        (error: unknown): Content => ({ kind: "missing", error }),
      );
    }
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

  const ahead = new ReadAhead(guest, entries);
  try {
    for (;;) {
      signal?.throwIfAborted();
      const item = await ahead.next();
      if (!item) break;
      const { walked } = item;
      const { entry } = walked;
      const content = await item.content;
      try {
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
        if (content.kind === "file") await writer.add(entry, content.file, header);
        else if (content.kind === "bytes") await writer.add(entry, content.bytes, header);
        else await writer.add(entry, new Uint8Array(0), header);
      } finally {
        // The writer has copied the bytes: their slab may be read into again.
        item.release();
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
    await ahead.close();
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
