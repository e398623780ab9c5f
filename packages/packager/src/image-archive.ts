import { compressingSink, DigestingSink, type Compression } from "./compression.js";
import { PackagerError } from "./errors.js";
import type { ArchiveOutput } from "./output.js";
import { END_OF_ARCHIVE, padded, simpleHeader } from "./tar/header.js";
import type { ChunkSink } from "./tar/writer.js";

/** The archive formats `podman load` and `docker load` read. */
export type ArchiveFormat = "docker-archive" | "oci-archive";

/** One layer of an image: an uncompressed tar stream, produced on demand. */
export interface ImageLayer {
  /** Writes the layer's tar to `sink`. */
  write(sink: ChunkSink): Promise<void>;
  /** The exact length of that tar, when known before it is written (needed to stream without seeking). */
  size?: number;
  /** For the image history: what made the layer. */
  createdBy: string;
  comment?: string;
}

/** The runtime part of an image config (the OCI image spec's `config`), as a runtime reads it. */
export interface ImageRuntimeConfig {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  User?: string;
}

export interface ImageDescription {
  /** `name:tag` the image is loaded as. */
  reference: string;
  architecture: string;
  os?: string;
  config: ImageRuntimeConfig;
  layers: ImageLayer[];
  /** Image creation time (default: now). */
  created?: Date;
}

export interface LayerResult {
  /** Digest of the layer as stored (compressed, if it is). */
  digest: string;
  /** Digest of the uncompressed tar (the config's diff_id). */
  diffId: string;
  /** Stored bytes. */
  size: number;
  mediaType: string;
}

export interface ImageArchiveResult {
  format: ArchiveFormat;
  reference: string;
  configDigest: string;
  /** OCI archives: the manifest's digest (what `podman images --digests` shows). */
  manifestDigest: string | undefined;
  layers: LayerResult[];
  /** Bytes of the whole archive. */
  bytes: number;
}

export interface ImageArchiveOptions {
  format: ArchiveFormat;
  /** Layer compression (default none: what `docker save` writes). OCI layouts and compressed layers need a seekable output. */
  compression?: Compression;
}

const layerMediaType: Record<Compression, string> = {
  none: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const hex = (digest: string) => digest.slice("sha256:".length);

/** `name` → `name:latest`; checks the reference is one a container engine accepts. */
export function normalizeReference(reference: string): string {
  const withTag = /:[\w][\w.-]{0,127}$/.test(reference.slice(reference.lastIndexOf("/") + 1)) ? reference : `${reference}:latest`;
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[\w][\w.-]{0,127}$/.test(withTag)) {
    throw new PackagerError("PACKAGER_BAD_INPUT", `${reference} is not an image name; use lowercase letters, digits and . _ - / (and an optional :tag), e.g. web01:latest`);
  }
  return withTag;
}

/**
 * Members of an archive written to an output in order. A member whose size (or digest-derived
 * name) is known only after its content has a placeholder header, patched once it is complete.
 */
class OuterTar {
  readonly mtime = Math.floor(Date.now() / 1000);
  constructor(readonly out: ArchiveOutput) {}

  async directory(name: string): Promise<void> {
    await this.out.write(simpleHeader(name, "directory", 0, this.mtime));
  }

  async bytes(name: string, data: Uint8Array): Promise<void> {
    await this.out.write(simpleHeader(name, "file", data.length, this.mtime));
    await this.out.write(data);
    await this.#pad(data.length);
  }

  /**
   * A member streamed by `produce`. With `size` known the header goes first as final; otherwise a
   * placeholder is patched with the real size and the name `rename` chooses from the result.
   */
  async streamed<T>(name: string, size: number | undefined, produce: (sink: ChunkSink) => Promise<T>, rename?: (result: T) => string): Promise<T> {
    const headerAt = this.out.position;
    if ((size === undefined || rename) && !this.out.seekable) {
      throw new PackagerError("PACKAGER_NOT_SEEKABLE", "this archive needs a seekable output (a file): an OCI archive names blobs by their digest, and compressed layers have no size until written; stream a docker-archive without compression instead");
    }
    await this.out.write(simpleHeader(name, "file", size ?? 0, this.mtime));
    const start = this.out.position;
    const result = await produce((chunk) => this.out.write(chunk));
    const written = this.out.position - start;
    if (size !== undefined && written !== size) {
      throw new PackagerError("PACKAGER_SOURCE_CHANGED", `${name}: ${written} bytes written where ${size} were planned; the guest changed while it was read — try again, or stop its services first`);
    }
    if (size === undefined || rename) await this.out.patch(headerAt, simpleHeader(rename ? rename(result) : name, "file", written, this.mtime));
    await this.#pad(written);
    return result;
  }

  async end(): Promise<void> {
    await this.out.write(END_OF_ARCHIVE);
  }

  async #pad(length: number): Promise<void> {
    const pad = padded(length) - length;
    if (pad > 0) await this.out.write(new Uint8Array(pad));
  }
}

/** Streams one layer through compression and digests; returns its descriptor facts. */
async function writeLayer(layer: ImageLayer, compression: Compression, sink: ChunkSink): Promise<LayerResult> {
  const stored = new DigestingSink(sink);
  if (compression === "none") {
    // Stored as it is: one hash is both the digest and the diff_id.
    await layer.write(stored.write);
    return { digest: stored.digest(), diffId: stored.digest(), size: stored.size, mediaType: layerMediaType.none };
  }
  const compressor = compressingSink(compression, stored.write);
  const raw = new DigestingSink(compressor.write);
  await layer.write(raw.write);
  await compressor.end();
  return { digest: stored.digest(), diffId: raw.digest(), size: stored.size, mediaType: layerMediaType[compression] };
}

function imageConfig(image: ImageDescription, layers: LayerResult[]): Record<string, unknown> {
  const created = (image.created ?? new Date()).toISOString();
  return {
    created,
    architecture: image.architecture,
    os: image.os ?? "linux",
    config: image.config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: image.layers.map((l) => ({ created, created_by: l.createdBy, ...(l.comment ? { comment: l.comment } : {}) })),
  };
}

/**
 * Writes an image as a docker-archive (what `docker save` writes: layer tars, a config and
 * manifest.json) or an oci-archive (an OCI image layout in a tar), computing every digest while
 * the layers stream through. A docker-archive of uncompressed layers with planned sizes streams
 * to any output; the rest needs a file.
 */
export async function writeImageArchive(out: ArchiveOutput, image: ImageDescription, options: ImageArchiveOptions): Promise<ImageArchiveResult> {
  const compression = options.compression ?? "none";
  const reference = normalizeReference(image.reference);
  const tar = new OuterTar(out);
  const layers: LayerResult[] = [];
  const streamedSize = (layer: ImageLayer) => (compression === "none" ? layer.size : undefined);

  if (options.format === "docker-archive") {
    const layerNames: string[] = [];
    for (const [i, layer] of image.layers.entries()) {
      const name = `${i + 1}/layer.tar`;
      await tar.directory(`${i + 1}`);
      layers.push(await tar.streamed(name, streamedSize(layer), (sink) => writeLayer(layer, compression, sink)));
      layerNames.push(name);
    }
    const config = json(imageConfig(image, layers));
    const configDigest = new DigestingSink(async () => {});
    await configDigest.write(config);
    const configName = `${hex(configDigest.digest())}.json`;
    await tar.bytes(configName, config);
    await tar.bytes("manifest.json", json([{ Config: configName, RepoTags: [reference], Layers: layerNames }]));
    await tar.end();
    return { format: options.format, reference, configDigest: configDigest.digest(), manifestDigest: undefined, layers, bytes: out.position };
  }

  await tar.bytes("oci-layout", json({ imageLayoutVersion: "1.0.0" }));
  await tar.directory("blobs");
  await tar.directory("blobs/sha256");
  const placeholder = `blobs/sha256/${"0".repeat(64)}`;
  for (const layer of image.layers) {
    layers.push(await tar.streamed(placeholder, undefined, (sink) => writeLayer(layer, compression, sink), (r) => `blobs/sha256/${hex(r.digest)}`));
  }
  const blob = async (data: Uint8Array) => {
    const d = new DigestingSink(async () => {});
    await d.write(data);
    await tar.bytes(`blobs/sha256/${hex(d.digest())}`, data);
    return { digest: d.digest(), size: data.length };
  };
  const config = await blob(json(imageConfig(image, layers)));
  const manifestDoc = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifest = await blob(json(manifestDoc));
  await tar.bytes(
    "index.json",
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: manifestDoc.mediaType, ...manifest, annotations: { "org.opencontainers.image.ref.name": reference } }],
    }),
  );
  await tar.end();
  return { format: options.format, reference, configDigest: config.digest, manifestDigest: manifest.digest, layers, bytes: out.position };
}

