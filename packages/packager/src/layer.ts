import type { GuestFile, GuestFS } from "@leapp/inspect";
import type { ProgressListener } from "@leapp/storage";
import { END_OF_ARCHIVE, encodeEntryHeader, entrySize, isSparse, padded, type TarEntry } from "./tar/header.js";
import { TarWriter, type ChunkSink } from "./tar/writer.js";
import { isSourceFailure, type WalkedEntry } from "./walk.js";

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
  /** Bytes per chunk handed to the sink (default 1 MiB; runs of small entries come in pieces of up to this much). */
  chunkSize?: number;
}

const DEFAULT_PIECE_BYTES = 1024 * 1024;

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
/** Bytes and entries the read-ahead may hold; it is topped up once it has run down to half. */
const PREFETCH_BYTES = 16 * 1024 * 1024;
const PREFETCH_ENTRIES = 1024;
/** Larger files opened ahead (each holds a descriptor of a directory source). */
const PREFETCH_OPEN_FILES = 8;
/** Files read at once, one call each, from a source without `readFiles` (an SSH source serves them over one connection). */
const READS_IN_FLIGHT = 48;

/**
 * A run of consecutive entries whose archive bytes are known before their content is read —
 * everything but files over PREFETCH_FILE_BYTES or sparse: their headers are encoded into one
 * buffer and the files' content read straight into its place there (one `readFiles` call where
 * the source has it), so the run goes to the sink as it is, with no copy.
 */
interface Piece {
  kind: "piece";
  bytes: Uint8Array;
  members: Member[];
  /** Resolves once every member's content was read or failed; rejects when the source failed. */
  read: Promise<void>;
}

/** One entry of a piece: where its bytes are, and once read, what its content read gave. */
interface Member {
  walked: WalkedEntry;
  /** Offsets in the piece: the entry's first byte, its content, and the end of its padding. */
  start: number;
  content: number;
  end: number;
  /** Bytes of content read, or why it could not be read; 0 for entries without content. */
  result: number | unknown;
}

/** A file streamed by the writer from a source opened ahead. */
interface Streamed {
  kind: "streamed";
  walked: WalkedEntry;
  content: Promise<{ file: GuestFile } | { error: unknown } | undefined>;
}

type Step = Piece | Streamed;

/** Zeroes a range with the typed array's own fill: Buffer's, made for strings, costs more per call. */
const zero = (bytes: Uint8Array, from: number, to: number) => {
  if (to > from) Uint8Array.prototype.fill.call(bytes, 0, from, to);
};

/** Whether an entry's archive bytes can be laid out before its content is read. */
const inPiece = (walked: WalkedEntry) => walked.entry.type !== "file" || ((walked.entry.size ?? 0) <= PREFETCH_FILE_BYTES && !isSparse(walked.entry));

/** Reads a file from its start into `slot` (up to its length); the bytes read. */
async function readInto(guest: GuestFS, path: string, slot: Uint8Array): Promise<number> {
  const file = await guest.openFile(path);
  try {
    let got = 0;
    while (got < slot.length) {
      const n = await file.read(slot.subarray(got), got);
      if (n <= 0) break;
      got += n;
    }
    return got;
  } finally {
    await file.close();
  }
}

/**
 * Whole files into their slots: one `readFiles` call, or a bounded number of calls per file at
 * once. Per file, the bytes read or why that file could not be read; the source failing (or a
 * bug) rejects.
 */
async function readSlots(guest: GuestFS, requests: { path: string; buffer: Uint8Array }[]): Promise<(number | unknown)[]> {
  const fileError = (error: unknown) => {
    if (isSourceFailure(error)) throw error;
    return error;
  };
  if (guest.readFiles) return (await guest.readFiles(requests)).map((r) => (typeof r === "number" ? r : fileError(r)));
  const results: (number | unknown)[] = new Array(requests.length);
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const i = next++;
      results[i] = await readInto(guest, requests[i]!.path, requests[i]!.buffer).catch(fileError);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, requests.length) }, worker));
  return results;
}

/**
 * The entries to write, in walk order, with their content read ahead (bounded in bytes, entries
 * and open files): runs of small entries as pieces, larger files opened.
 */
class ReadAhead {
  readonly #guest: GuestFS;
  readonly #iterator: AsyncIterator<WalkedEntry> | Iterator<WalkedEntry>;
  readonly #pieceBytes: number;
  readonly #queue: Step[] = [];
  #bytes = 0;
  #entries = 0;
  #opened = 0;
  #exhausted = false;

  constructor(guest: GuestFS, entries: AsyncIterable<WalkedEntry> | Iterable<WalkedEntry>, pieceBytes: number) {
    this.#guest = guest;
    this.#iterator = (Symbol.asyncIterator in entries ? entries[Symbol.asyncIterator]() : (entries as Iterable<WalkedEntry>)[Symbol.iterator]()) as AsyncIterator<WalkedEntry> | Iterator<WalkedEntry>;
    this.#pieceBytes = pieceBytes;
  }

  /** The next step in walk order, undefined at the end. */
  async next(): Promise<Step | undefined> {
    if (this.#entries <= PREFETCH_ENTRIES / 2 && this.#bytes <= PREFETCH_BYTES / 2 && this.#opened <= PREFETCH_OPEN_FILES / 2) await this.#fill();
    const step = this.#queue.shift();
    if (step?.kind === "piece") {
      this.#bytes -= step.bytes.length;
      this.#entries -= step.members.length;
    } else if (step) {
      this.#entries--;
      this.#opened--;
    }
    return step;
  }

  /** Closes what was opened ahead and never written (an error or an abort stopped the writer). */
  async close(): Promise<void> {
    for (const step of this.#queue.splice(0)) {
      if (step.kind === "piece") continue;
      const c = await step.content.catch(() => undefined);
      if (c && "file" in c) await c.file.close().catch(() => {});
    }
    if (!this.#exhausted) await (this.#iterator as AsyncIterator<WalkedEntry>).return?.();
  }

  async #fill(): Promise<void> {
    let run: { walked: WalkedEntry; header: Uint8Array; length: number }[] = [];
    let runBytes = 0;
    while (!this.#exhausted && this.#entries < PREFETCH_ENTRIES && this.#bytes + runBytes < PREFETCH_BYTES && this.#opened < PREFETCH_OPEN_FILES) {
      const next = await this.#iterator.next();
      if (next.done) {
        this.#exhausted = true;
        break;
      }
      const walked = next.value;
      this.#entries++;
      if (!inPiece(walked)) {
        this.#piece(run);
        run = [];
        runBytes = 0;
        this.#opened++;
        const content = this.#guest.openFile(walked.guestPath).then(
          (file) => ({ file }),
          (error: unknown) => {
            if (isSourceFailure(error)) throw error;
            return { error };
          },
        );
        content.catch(() => {}); // awaited in turn
        this.#queue.push({ kind: "streamed", walked, content });
        continue;
      }
      const header = encodeEntryHeader(walked.entry);
      const length = header.length + padded(walked.entry.type === "file" ? (walked.entry.size ?? 0) : 0);
      if (runBytes + length > this.#pieceBytes && run.length > 0) {
        this.#piece(run);
        run = [];
        runBytes = 0;
      }
      run.push({ walked, header, length });
      runBytes += length;
    }
    this.#piece(run);
  }

  /** Lays a run of entries out in one buffer and starts reading their content into it. */
  #piece(run: { walked: WalkedEntry; header: Uint8Array; length: number }[]): void {
    if (run.length === 0) return;
    const bytes = Buffer.allocUnsafe(run.reduce((n, r) => n + r.length, 0));
    const members: Member[] = [];
    const requests: { path: string; buffer: Uint8Array }[] = [];
    const reading: Member[] = [];
    let at = 0;
    for (const { walked, header, length } of run) {
      bytes.set(header, at);
      const member: Member = { walked, start: at, content: at + header.length, end: at + length, result: 0 };
      const size = walked.entry.type === "file" ? (walked.entry.size ?? 0) : 0;
      zero(bytes, member.content + size, member.end); // the padding
      if (size > 0) {
        requests.push({ path: walked.guestPath, buffer: bytes.subarray(member.content, member.content + size) });
        reading.push(member);
      }
      members.push(member);
      at += length;
    }
    const read = requests.length === 0 ? Promise.resolve() : readSlots(this.#guest, requests).then((results) => results.forEach((r, i) => (reading[i]!.result = r)));
    read.catch(() => {}); // awaited in turn
    this.#bytes += bytes.length;
    this.#queue.push({ kind: "piece", bytes, members, read });
  }
}

/**
 * Writes a guest's entries (from `walkGuest`, or a plan of them) as one tar stream. Runs of
 * small entries are laid out ahead with their content read straight into place (many files per
 * call where the source can), while earlier ones are written; larger files are opened ahead and
 * streamed in chunks. Memory stays bounded by the read-ahead and a chunk, whatever the guest.
 */
export async function writeLayerTar(guest: GuestFS, entries: AsyncIterable<WalkedEntry> | Iterable<WalkedEntry>, sink: ChunkSink, options: LayerWriteOptions = {}): Promise<LayerStats> {
  const warn = options.onWarning ?? (() => {});
  const signal = options.signal;
  const stats: LayerStats = { entries: 0, files: 0, bytes: 0, contentBytes: 0 };
  const skipped = new Set<string>();
  let reported = -1;
  const shorter = (path: string, expected: number, got: number) => warn(`/${path}: ${expected - got} bytes shorter than when it was listed (changed while read?); padded with zeros`);
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
      onShortContent: (s) => shorter(s.path, s.expected, s.got),
    },
  );
  const counted = (entry: TarEntry) => {
    stats.entries++;
    if (entry.type === "file") {
      stats.files++;
      stats.contentBytes += entry.size ?? 0;
    }
  };
  /** Whether an entry stays out: a hard link to a name left out, or a file that could not be read. */
  const leftOut = (walked: WalkedEntry, error: unknown): boolean => {
    const { entry } = walked;
    if (entry.type === "hardlink" && skipped.has(entry.linkTarget!) && !options.keepPlannedSize) {
      warn(`${walked.guestPath}: its other name /${entry.linkTarget} could not be read; left out`);
      return true;
    }
    if (error === undefined) return false;
    if (!options.keepPlannedSize) {
      warn(`${walked.guestPath}: ${(error as Error).message}; left out`);
      skipped.add(entry.path);
      return true;
    }
    warn(`${walked.guestPath}: ${(error as Error).message}; written as zeros`);
    return false;
  };

  const writePiece = async (piece: Piece) => {
    await piece.read;
    let from = 0;
    for (const m of piece.members) {
      const { entry } = m.walked;
      const size = entry.type === "file" ? (entry.size ?? 0) : 0;
      const got = typeof m.result === "number" ? m.result : 0;
      if (leftOut(m.walked, typeof m.result === "number" ? undefined : m.result)) {
        // Cut the entry out of the piece: what comes before it goes now.
        if (m.start > from) await writer.addEncoded(piece.bytes.subarray(from, m.start));
        from = m.end;
        continue;
      }
      if (got < size) {
        zero(piece.bytes, m.content + got, m.content + size);
        if (typeof m.result === "number") shorter(entry.path, size, got);
      }
      counted(entry);
    }
    if (from < piece.bytes.length) await writer.addEncoded(piece.bytes.subarray(from));
  };

  const ahead = new ReadAhead(guest, entries, options.chunkSize ?? DEFAULT_PIECE_BYTES);
  try {
    for (;;) {
      signal?.throwIfAborted();
      const step = await ahead.next();
      if (!step) break;
      if (step.kind === "piece") {
        await writePiece(step);
        continue;
      }
      const { walked } = step;
      const opened = await step.content;
      const file = opened && "file" in opened ? opened.file : undefined;
      try {
        if (leftOut(walked, file ? undefined : opened && "error" in opened ? opened.error : undefined)) continue;
        await writer.add(walked.entry, file ?? new Uint8Array(0));
        counted(walked.entry);
      } finally {
        await file?.close();
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
