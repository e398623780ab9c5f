import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import { createRequire } from "node:module";
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
 * zstd frames of this much input each, three compressed at once on libuv's pool of four (the
 * fourth serves the file reads). Three beat one even on two cores: on a busy machine each
 * compressing thread gets its own share of the CPU (bench/containerize: 1.7 s against 2.1 s
 * for the debian-12 guest at a load of 7).
 */
const ZSTD_FRAME_INPUT = 4 * 1024 * 1024;
const ZSTD_PARALLEL = 3;
const GZIP_LEVEL = 6;

interface ZstdBinding {
  /** At zstd's default level, 3 (the binding's wrapper passes no level on). */
  compress(data: Buffer): Promise<Buffer>;
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
  // Frame inputs are gathered in buffers reused once their frame is compressed: a fresh 4 MiB
  // for every frame kept the garbage collector busy with the layer's whole size again.
  const spare: Buffer[] = [];
  let input: Buffer = Buffer.allocUnsafe(ZSTD_FRAME_INPUT);
  let filled = 0;
  const inFlight: { frame: Promise<Buffer>; input: Buffer }[] = [];
  const emitOldest = async () => {
    const oldest = inFlight.shift()!;
    const frame = await oldest.frame;
    spare.push(oldest.input);
    await downstream(frame);
  };
  const cut = async () => {
    if (filled === 0) return;
    // The binding reads the input while it compresses, without a copy: it is not touched until then.
    const frame = binding.compress(filled === input.length ? input : input.subarray(0, filled));
    frame.catch(() => {}); // awaited in order by emitOldest
    inFlight.push({ frame, input });
    input = spare.pop() ?? Buffer.allocUnsafe(ZSTD_FRAME_INPUT);
    filled = 0;
    // Emit the oldest once more than ZSTD_PARALLEL are compressing: the next frame fills meanwhile.
    while (inFlight.length > ZSTD_PARALLEL) await emitOldest();
  };
  return {
    async write(chunk) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(chunk.length - at, ZSTD_FRAME_INPUT - filled);
        input.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === ZSTD_FRAME_INPUT) await cut();
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
