// Image archives checked by their real consumers: skopeo and umoci read the OCI archives
// (gzip and zstd layers; umoci verifies every digest and unpacks the layer as root), podman
// loads the docker-archive from a file, from a pipe (streamed, no temporary file) and from a
// FIFO written through its descriptor, and an
// aborted write leaves nothing behind.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InspectableGuest } from "@leapp/inspect";
import { writeImageArchive, type ArchiveFormat, type ImageDescription } from "./image-archive.js";
import type { Compression } from "./compression.js";
import { writeLayerTar, plannedTarSize } from "./layer.js";
import { descriptorOutput, fileOutput, streamOutput } from "./output.js";
import { buildFeatureTree, directoryGuestWithHostFacts, fifoReader, scratchDir, tool, treeManifest } from "./testing.js";
import { walkGuest, type WalkedEntry } from "./walk.js";

let dir: string;
let tree: string;
let guest: InspectableGuest;
let planned: WalkedEntry[];
const loaded: string[] = [];

function image(reference: string, withSize: boolean): ImageDescription {
  return {
    reference,
    architecture: "amd64",
    config: { Cmd: ["/bin/sh"], Env: ["PATH=/usr/bin:/bin"], Labels: { "io.leapp.test": "yes" }, ExposedPorts: { "80/tcp": {} } },
    layers: [
      {
        ...(withSize ? { size: plannedTarSize(planned) } : {}),
        createdBy: "test: the feature tree",
        write: async (sink) => {
          await writeLayerTar(guest, planned, sink, { keepPlannedSize: true });
        },
      },
    ],
  };
}

async function writeFile(path: string, format: ArchiveFormat, compression: Compression, reference: string) {
  const out = await fileOutput(path);
  try {
    const r = await writeImageArchive(out, image(reference, false), { format, compression });
    await out.commit();
    return r;
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** The parts of a manifest umoci restores (no times of directories, no allocation). */
function comparable(root: string) {
  const m = treeManifest(root, { mtimes: "files" });
  for (const e of Object.values(m)) delete e.allocated;
  return m;
}

beforeAll(async () => {
  dir = scratchDir();
  tree = join(dir, "tree");
  buildFeatureTree(tree);
  guest = await directoryGuestWithHostFacts(tree);
  planned = [];
  for await (const e of walkGuest(guest)) planned.push(e);
});

afterAll(async () => {
  await guest?.close();
  for (const ref of loaded) tool("podman", ["rmi", "-f", ref]);
});

describe("OCI archives", () => {
  for (const compression of ["gzip", "zstd"] as const) {
    it(`skopeo and ${compression === "gzip" ? "umoci" : "podman"} read an oci-archive with ${compression} layers as the same tree`, async () => {
      const reference = `leapp-test/${compression}:v1`;
      const archive = join(dir, `image-${compression}.oci.tar`);
      const result = await writeFile(archive, "oci-archive", compression, reference);
      const inspected = JSON.parse(tool("skopeo", ["inspect", `oci-archive:${archive}`]).toString()) as { Digest: string; Layers: string[]; Labels: Record<string, string> };
      expect(inspected.Digest).toBe(result.manifestDigest);
      expect(inspected.Layers).toEqual([result.layers[0]!.digest]);
      expect(inspected.Labels["io.leapp.test"]).toBe("yes");
      const raw = JSON.parse(tool("skopeo", ["inspect", "--raw", `oci-archive:${archive}`]).toString()) as { layers: { mediaType: string }[] };
      expect(raw.layers[0]!.mediaType).toBe(`application/vnd.oci.image.layer.v1.tar+${compression}`);

      const layout = join(dir, `layout-${compression}`);
      mkdirSync(layout);
      tool("tar", ["-xf", archive, "-C", layout]);
      const rootfs = join(dir, `rootfs-${compression}`);
      if (compression === "gzip") {
        // umoci checks every digest and unpacks the layer as root (owners, devices, xattrs).
        const bundle = join(dir, "bundle");
        tool("umoci", ["unpack", "--image", `${layout}:${reference}`, bundle]);
        renameSync(join(bundle, "rootfs"), rootfs);
      } else {
        // Debian's umoci predates zstd: podman loads it (checking the digests), and the real
        // zstd decodes our frames for GNU tar to extract.
        expect(tool("podman", ["load", "-i", archive]).toString()).toContain("Loaded image");
        loaded.push(`localhost/${reference}`);
        const layer = tool("zstd", ["-dc", join(layout, "blobs/sha256", result.layers[0]!.digest.slice(7))]);
        mkdirSync(rootfs);
        tool("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", "-", "-C", rootfs], { input: layer });
      }
      expect(comparable(rootfs)).toEqual(comparable(tree));
    });
  }
});

describe("docker archives", () => {
  it("podman loads a docker-archive file; skopeo sees its config", async () => {
    const archive = join(dir, "image.docker.tar");
    const result = await writeFile(archive, "docker-archive", "none", "leapp-test/docker:v1");
    const inspected = JSON.parse(tool("skopeo", ["inspect", "--config", `docker-archive:${archive}`]).toString()) as { rootfs: { diff_ids: string[] }; config: { Cmd: string[] } };
    expect(inspected.rootfs.diff_ids).toEqual([result.layers[0]!.diffId]);
    expect(inspected.config.Cmd).toEqual(["/bin/sh"]);
    expect(tool("podman", ["load", "-i", archive]).toString()).toContain("leapp-test/docker:v1");
    loaded.push("localhost/leapp-test/docker:v1");
  });

  it("streams a docker-archive into `podman load` through a pipe, with no file in between", async () => {
    const child = spawn("podman", ["load"], { stdio: ["pipe", "pipe", "pipe"] });
    const output: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => output.push(d));
    child.stderr.on("data", (d: Buffer) => output.push(d));
    const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
    const out = streamOutput(child.stdin);
    const result = await writeImageArchive(out, image("leapp-test/streamed:v1", true), { format: "docker-archive" });
    await out.commit();
    expect(await exited).toBe(0);
    loaded.push("localhost/leapp-test/streamed:v1");
    expect(Buffer.concat(output).toString()).toContain("leapp-test/streamed:v1");
    const id = tool("podman", ["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", "localhost/leapp-test/streamed:v1"]).toString().trim();
    expect(id).toBe(result.layers[0]!.diffId);
  });

  it("streams a docker-archive into `podman load` through a descriptor the caller holds", async () => {
    const { fd, exited } = await fifoReader("podman load");
    const out = descriptorOutput(fd);
    const result = await writeImageArchive(out, image("leapp-test/descriptor:v1", true), { format: "docker-archive" });
    await out.commit();
    closeSync(fd);
    const { stdout, code } = await exited;
    expect(code).toBe(0);
    loaded.push("localhost/leapp-test/descriptor:v1");
    expect(stdout).toContain("leapp-test/descriptor:v1");
    const id = tool("podman", ["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", "localhost/leapp-test/descriptor:v1"]).toString().trim();
    expect(id).toBe(result.layers[0]!.diffId);
  });

  it("refuses to stream what needs seeking, before writing anything", async () => {
    const chunks: Buffer[] = [];
    const { Writable } = await import("node:stream");
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
    await expect(writeImageArchive(streamOutput(sink), image("x:y", true), { format: "oci-archive" })).rejects.toMatchObject({ code: "PACKAGER_NOT_SEEKABLE" });
  });

  it("an aborted write leaves no file behind and rejects with the signal's reason", async () => {
    const target = join(dir, "aborted");
    mkdirSync(target);
    const controller = new AbortController();
    const reason = new Error("stop here");
    const out = await fileOutput(join(target, "image.tar"));
    const description = image("leapp-test/aborted:v1", false);
    description.layers[0]!.write = async (sink) => {
      await writeLayerTar(guest, planned, sink, { signal: controller.signal, chunkSize: 8192, onProgress: () => controller.abort(reason) });
    };
    await expect(writeImageArchive(out, description, { format: "docker-archive" }).catch(async (err) => (await out.abort(), Promise.reject(err)))).rejects.toBe(reason);
    expect(readdirSync(target)).toEqual([]);
  });
});
