import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { detectDiskFormat, openDisk } from "./index.js";
import { diskInfo } from "./info.js";
import { expectSameContentAsQemu, qemuImg, scratchDir } from "./testing.js";

/** A raw disk with data at scattered, unaligned places, zero runs and holes. Deterministic. */
async function makeScatteredRaw(path: string, size: number): Promise<void> {
  const handle = await open(path, "w");
  try {
    await handle.truncate(size);
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 40; i++) {
      const length = 1 + Math.floor(random() * 300_000);
      const at = Math.floor(random() * (size - length));
      const data = Buffer.alloc(length);
      // Half random bytes (incompressible), half a repeating pattern (compressible).
      if (i % 2) for (let j = 0; j < length; j++) data[j] = Math.floor(random() * 256);
      else data.fill(`leapp block ${i} `);
      await handle.write(data, 0, length, at);
    }
    await handle.write(Buffer.from("last bytes"), 0, 10, size - 10);
  } finally {
    await handle.close();
  }
}

let dir: string;
let source: string;
const SIZE = 24 * 1024 * 1024 + 7 * 512;

beforeAll(async () => {
  dir = await scratchDir();
  source = join(dir, "source.raw");
  await makeScatteredRaw(source, SIZE);
});

describe("qcow2 read, against qemu-img convert -O raw", () => {
  const variants: [string, string[]][] = [
    ...[512, 1024, 4096, 16384, 65536, 262144, 2097152].map((cs): [string, string[]] => [`cluster ${cs}`, ["-o", `cluster_size=${cs}`]]),
    ["compat 0.10", ["-o", "compat=0.10"]],
    ["zlib compressed", ["-c"]],
    ["zstd compressed", ["-c", "-o", "compression_type=zstd"]],
    ["zlib compressed, 4 KiB clusters", ["-c", "-o", "cluster_size=4096"]],
    ["extended L2", ["-o", "extended_l2=on,cluster_size=65536"]],
    ["extended L2, 2 MiB clusters", ["-o", "extended_l2=on,cluster_size=2097152"]],
    ...[1, 2, 4, 8, 16, 32, 64].map((bits): [string, string[]] => [`refcount_bits ${bits}`, ["-o", `refcount_bits=${bits}`]]),
  ];
  it.each(variants)("%s", async (name, options) => {
    const image = join(dir, `${name.replace(/[^a-z0-9]+/gi, "-")}.qcow2`);
    await qemuImg("convert", "-f", "raw", "-O", "qcow2", ...options, source, image);
    expect(await detectDiskFormat(image)).toBe("qcow2");
    await expectSameContentAsQemu(image);
  });

  it("serves many concurrent reads exactly (compressed, extended L2, small clusters)", async () => {
    const expected = await readFile(source);
    for (const options of [["-c", "-o", "compression_type=zstd"], ["-o", "extended_l2=on"], ["-o", "cluster_size=512"]]) {
      const image = join(dir, `concurrent-${options.join("").replace(/[^a-z0-9]+/gi, "-")}.qcow2`);
      await qemuImg("convert", "-f", "raw", "-O", "qcow2", ...options, source, image);
      const device = await openDisk(image);
      let seed = 5;
      const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const reads = Array.from({ length: 64 }, () => {
        const length = 1 + Math.floor(random() * 300_000);
        return { at: Math.floor(random() * (SIZE - length)), buffer: new Uint8Array(length) };
      });
      await Promise.all(reads.map((r) => device.read(r.buffer, r.at)));
      for (const r of reads) expect(Buffer.compare(r.buffer, expected.subarray(r.at, r.at + r.buffer.length))).toBe(0);
      await device.close();
    }
  });

  it("reads zero clusters and subclusters written by qemu-io", async () => {
    for (const opts of ["cluster_size=65536", "extended_l2=on,cluster_size=65536", "compat=0.10"]) {
      const image = join(dir, `zeros-${opts.replace(/[^a-z0-9]+/gi, "-")}.qcow2`);
      await qemuImg("convert", "-f", "raw", "-O", "qcow2", "-o", opts, source, image);
      await run("qemu-io", ["-f", "qcow2", "-c", "write -z 0 1M", "-c", "write -z 3000k 70k", "-c", "write -P 0x5a 5000k 4k", "-c", "discard 8M 1M", image]);
      await expectSameContentAsQemu(image);
    }
  });

  it("follows backing chains: qcow2 on raw and on qcow2, relative and absolute; an unrecorded backing format is raw or refused", async () => {
    const base = join(dir, "chain-base.raw");
    await makeScatteredRaw(base, SIZE);
    const mid = join(dir, "chain-mid.qcow2");
    await qemuImg("create", "-f", "qcow2", "-b", "chain-base.raw", "-F", "raw", mid);
    await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0x11 1M 300k", "-c", "write -z 2M 64k", mid]);
    const top = join(dir, "chain-top.qcow2");
    await qemuImg("create", "-f", "qcow2", "-b", mid, "-F", "qcow2", top, String(SIZE + 4 * 1024 * 1024));
    await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0x22 1200k 10k", "-c", "write -P 0x33 26M 5k", top]);
    await expectSameContentAsQemu(mid);
    await expectSameContentAsQemu(top);
    // Unknown backing format: raw when the file has no image magic, refused when it has.
    const onRaw = join(dir, "chain-unknown-raw.qcow2");
    await qemuImg("create", "-f", "qcow2", "-b", "chain-base.raw", "-F", "raw", onRaw);
    await patchBackingFormatAway(onRaw);
    await expectSameContentAsQemu(onRaw);
    const onQcow2 = join(dir, "chain-unknown-qcow2.qcow2");
    await qemuImg("create", "-f", "qcow2", "-b", "chain-mid.qcow2", "-F", "qcow2", onQcow2);
    await patchBackingFormatAway(onQcow2);
    await expect(openDisk(onQcow2)).rejects.toMatchObject({ code: "STORAGE_BACKING_FORMAT" });
    const info = await diskInfo(top);
    expect(info.backing.map((b) => b.format)).toEqual(["qcow2", "raw"]);
  });

  it("reads images whose data lies in an external data file (raw or mapped), like qemu-img", async () => {
    for (const raw of ["on", "off"]) {
      // Absolute (inside the image's directory): qemu resolves a relative data file name against
      // its working directory, leapp against the image's directory.
      const image = join(dir, `datafile-${raw}.qcow2`);
      const data = join(dir, `datafile-${raw}.bin`);
      await qemuImg("create", "-q", "-f", "qcow2", "-o", `data_file=${data},data_file_raw=${raw}`, image, "4M");
      await run("qemu-io", ["-c", "write -P 0x33 0 64k", "-c", "write -P 0x44 1M 100k", "-c", "write -z 2M 64k", image]);
      await expectSameContentAsQemu(image);
      expect((await diskInfo(image)).specific).toMatchObject({ dataFile: data, dataFileRaw: raw === "on" });
      await expect(openDisk(image, { writable: true })).rejects.toMatchObject({ code: "STORAGE_UNSUPPORTED" });
    }
  });

  it("follows a backing chain onto a vmdk base", async () => {
    const base = join(dir, "vmdk-base.vmdk");
    await qemuImg("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", source, base);
    const top = join(dir, "on-vmdk.qcow2");
    await qemuImg("create", "-q", "-f", "qcow2", "-b", "vmdk-base.vmdk", "-F", "vmdk", top);
    await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0x77 4M 100k", top]);
    await expectSameContentAsQemu(top);
    expect((await diskInfo(top)).backing).toEqual([{ path: base, format: "vmdk" }]);
  });

  it("reads a 100 GiB sparse qcow2 holding little data quickly", async () => {
    const image = join(dir, "huge.qcow2");
    await qemuImg("create", "-f", "qcow2", image, "100G");
    await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0x44 0 1M", "-c", "write -P 0x55 50G 3M", "-c", "write -P 0x66 99G 64k", image]);
    const started = Date.now();
    const device = await openDisk(image);
    const data = [];
    for await (const e of device.extents()) if (e.kind === "data") data.push([e.offset, e.length]);
    expect(data).toEqual([
      [0, 1 << 20],
      [50 * 2 ** 30, 3 << 20],
      [99 * 2 ** 30, 65536],
    ]);
    const buffer = new Uint8Array(3 << 20);
    await device.read(buffer, 50 * 2 ** 30);
    expect(buffer.every((b) => b === 0x55)).toBe(true);
    await device.close();
    expect(Date.now() - started).toBeLessThan(2000);
    // Byte-identical to qemu-img's view, hashed over data ranges only (zeros cost nothing).
    await expectSameContentAsQemu(image, { useExtents: true });
  });
});

async function patchBackingFormatAway(path: string): Promise<void> {
  // Turn the backing-format extension into an unknown one, so the backing format must be probed.
  const bytes = await readFile(path);
  const at = bytes.indexOf(Buffer.from([0xe2, 0x79, 0x2a, 0xca]));
  expect(at).toBeGreaterThan(0);
  const handle = await open(path, "r+");
  await handle.write(Buffer.from([0x12, 0x34, 0x56, 0x78]), 0, 4, at);
  await handle.close();
}

async function run(command: string, args: string[]): Promise<string> {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) =>
    execFile(command, args, (err, stdout, stderr) => (err ? reject(new Error(`${command} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

