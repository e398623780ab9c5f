import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { constants, createGzip } from "node:zlib";
import type { ChunkSink } from "./tar/writer.js";

/** How a layer (or a whole stream) is compressed. */
export type Compression = "none" | "gzip" | "zstd";

/** A sink that must be ended: compressors hold back their last bytes until then. */
export interface EndableSink {
  write: ChunkSink;
  end(): Promise<void>;
}

/**
 * zstd frames of this much input each, compressed in parallel on the thread pool — no more at
 * once than the machine has cores besides the one writing the archive, since the pool also
 * serves the file reads.
 */
const ZSTD_FRAME_INPUT = 4 * 1024 * 1024;
const ZSTD_PARALLEL = Math.max(1, Math.min(3, availableParallelism() - 1));
const ZSTD_LEVEL = 3;
const GZIP_LEVEL = 6;

interface ZstdBinding {
  compress(data: Buffer, level?: number): Promise<Buffer>;
}
let zstdBinding: ZstdBinding | undefined;
/** Loaded on first use: the native binding costs start-up time every other run would pay. */
function zstd(): ZstdBinding {
  zstdBinding ??= createRequire(import.meta.url)("@mongodb-js/zstd") as ZstdBinding;
  return zstdBinding;
}

/**
 * A compressing front for `downstream`. gzip is one zlib stream (off the main thread); zstd is a
 * sequence of independent frames of 4 MiB input, several compressed at once and emitted in order
 * — a zstd stream of concatenated frames, which every zstd reader decodes as one.
 */
export function compressingSink(compression: Compression, downstream: ChunkSink): EndableSink {
  if (compression === "none") return { write: downstream, end: async () => {} };
  if (compression === "gzip") return gzipSink(downstream);
  return zstdSink(downstream);
}

function gzipSink(downstream: ChunkSink): EndableSink {
  const gz = createGzip({ level: GZIP_LEVEL, chunkSize: 256 * 1024, flush: constants.Z_NO_FLUSH });
  let failed: unknown;
  const pump = (async () => {
    for await (const out of gz) await downstream(out as Buffer);
  })();
  pump.catch((err: unknown) => {
    failed = err;
  });
  return {
    async write(chunk) {
      if (failed !== undefined) throw failed;
      if (!gz.write(chunk)) await Promise.race([once(gz, "drain"), pump.then(() => undefined)]);
      if (failed !== undefined) throw failed;
    },
    async end() {
      gz.end();
      await pump;
    },
  };
}

function zstdSink(downstream: ChunkSink): EndableSink {
  const binding = zstd();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const inFlight: Promise<Buffer>[] = [];
  const emitOldest = async () => {
    const frame = await inFlight.shift()!;
    await downstream(frame);
  };
  const cut = async () => {
    if (pendingBytes === 0) return;
    const input = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const frame = binding.compress(input, ZSTD_LEVEL);
    frame.catch(() => {}); // awaited in order by emitOldest
    inFlight.push(frame);
    // Emit the oldest once more than ZSTD_PARALLEL are compressing: the next frame fills meanwhile.
    while (inFlight.length > ZSTD_PARALLEL) await emitOldest();
  };
  return {
    async write(chunk) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(chunk.length - at, ZSTD_FRAME_INPUT - pendingBytes);
        pending.push(Buffer.from(chunk.buffer, chunk.byteOffset + at, n));
        pendingBytes += n;
        at += n;
        if (pendingBytes === ZSTD_FRAME_INPUT) await cut();
      }
    },
    async end() {
      await cut();
      while (inFlight.length > 0) await emitOldest();
    },
  };
}

/** A sha256 digest and a byte count of what passes through, as OCI descriptors need them. */
export class DigestingSink {
  readonly #hash: Hash = createHash("sha256");
  #size = 0;
  #digest: string | undefined;
  constructor(readonly downstream: ChunkSink) {}

  readonly write: ChunkSink = async (chunk) => {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    await this.downstream(chunk);
  };

  get size(): number {
    return this.#size;
  }

  /** `sha256:…` of everything written; ends the hash. */
  digest(): string {
    this.#digest ??= `sha256:${this.#hash.digest("hex")}`;
    return this.#digest;
  }
}
