import { BLOCK, END_OF_ARCHIVE, contentLength, encodeEntryHeader, isSparse, padded, type TarEntry } from "./header.js";

/** Where archive bytes go. A chunk handed over is never touched again by the writer. */
export type ChunkSink = (chunk: Uint8Array) => Promise<void>;

/** Content read by position, as `GuestFile` offers it. */
export interface PositionalSource {
  read(buffer: Uint8Array, position: number): Promise<number>;
}

/** What the writer tells when a file's content is not what its entry promised (a live source changing). */
export interface ContentShortfall {
  path: string;
  expected: number;
  got: number;
}

export interface TarWriterOptions {
  /** Bytes gathered before a chunk goes to the sink (default 1 MiB). */
  chunkSize?: number;
  /** Called when a file yields fewer bytes than its entry's size: the rest is written as zeros. */
  onShortContent?: (shortfall: ContentShortfall) => void;
}

/**
 * A streaming writer of POSIX pax archives: entries go out in the order they are added, file
 * content is read straight into the output buffer, and nothing but one chunk is held in memory.
 * Every entry's size is fixed by its header before its content is read; a file that turns out
 * shorter is padded with zeros (as GNU tar does) so the archive stays well-formed.
 */
export class TarWriter {
  #sink: ChunkSink;
  #chunkSize: number;
  #buffer: Uint8Array;
  #used = 0;
  #written = 0;
  #ended = false;
  #onShort: ((s: ContentShortfall) => void) | undefined;

  constructor(sink: ChunkSink, options: TarWriterOptions = {}) {
    this.#sink = sink;
    this.#chunkSize = Math.max(BLOCK * 16, options.chunkSize ?? 1 << 20);
    this.#buffer = Buffer.allocUnsafe(this.#chunkSize);
    this.#onShort = options.onShortContent;
  }

  /** Bytes of archive produced so far (handed to the sink or waiting in the buffer). */
  get position(): number {
    return this.#written + this.#used;
  }

  /**
   * Adds one entry. Regular files need `content`: the bytes themselves, or a source read by
   * position (for sparse entries only the data ranges are read).
   */
  async add(entry: TarEntry, content?: Uint8Array | PositionalSource, header: Uint8Array = encodeEntryHeader(entry)): Promise<void> {
    if (this.#ended) throw new Error("TarWriter: add after end");
    await this.#put(header);
    if (entry.type !== "file") return;
    const length = contentLength(entry);
    if (length === 0) return;
    if (content === undefined) throw new Error(`TarWriter: ${entry.path} needs content`);
    const ranges = isSparse(entry) ? entry.dataRanges! : [{ offset: 0, length: entry.size ?? 0 }];
    let got = 0;
    if (content instanceof Uint8Array) {
      for (const r of ranges) {
        const piece = content.subarray(Math.min(r.offset, content.length), Math.min(r.offset + r.length, content.length));
        await this.#put(piece);
        got += piece.length;
        if (piece.length < r.length) await this.#zeros(r.length - piece.length);
      }
    } else {
      for (const r of ranges) got += await this.#copyRange(content, r.offset, r.length);
    }
    if (got < length) this.#onShort?.({ path: entry.path, expected: length, got });
    await this.#zeros(padded(length) - length);
  }

  /**
   * Adds bytes that are already whole archive members (headers, content and padding, as
   * `encodeEntryHeader` and the content make them), after what is buffered. A run of a quarter
   * chunk or more goes to the sink as it is, without a copy: it is the sink's from then on.
   */
  async addEncoded(bytes: Uint8Array): Promise<void> {
    if (this.#ended) throw new Error("TarWriter: add after end");
    if (bytes.length < this.#chunkSize / 4) return this.#put(bytes);
    await this.flush();
    this.#written += bytes.length;
    await this.#sink(bytes);
  }

  /** Ends the archive (two zero blocks) and hands the last chunk to the sink. */
  async end(): Promise<void> {
    if (this.#ended) return;
    await this.#put(END_OF_ARCHIVE);
    await this.flush();
    this.#ended = true;
  }

  /** Hands what is buffered to the sink. */
  async flush(): Promise<void> {
    if (this.#used === 0) return;
    const chunk = this.#buffer.subarray(0, this.#used);
    this.#written += this.#used;
    this.#buffer = Buffer.allocUnsafe(this.#chunkSize);
    this.#used = 0;
    await this.#sink(chunk);
  }

  async #put(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#used === this.#chunkSize) await this.flush();
      const n = Math.min(bytes.length - at, this.#chunkSize - this.#used);
      this.#buffer.set(n === bytes.length ? bytes : bytes.subarray(at, at + n), this.#used);
      this.#used += n;
      at += n;
    }
  }

  async #zeros(count: number): Promise<void> {
    let left = count;
    while (left > 0) {
      if (this.#used === this.#chunkSize) await this.flush();
      const n = Math.min(left, this.#chunkSize - this.#used);
      this.#buffer.fill(0, this.#used, this.#used + n);
      this.#used += n;
      left -= n;
    }
  }

  /** Reads `length` bytes at `offset` straight into the buffer; a short read is padded with zeros. Returns the bytes read. */
  async #copyRange(source: PositionalSource, offset: number, length: number): Promise<number> {
    let done = 0;
    while (done < length) {
      if (this.#used === this.#chunkSize) await this.flush();
      const n = Math.min(length - done, this.#chunkSize - this.#used);
      const got = await source.read(this.#buffer.subarray(this.#used, this.#used + n), offset + done);
      if (got <= 0) {
        await this.#zeros(length - done);
        return done;
      }
      this.#used += got;
      done += got;
    }
    return done;
  }
}
