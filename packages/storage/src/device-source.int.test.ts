// Images inside opened devices the caller keeps: an OVA's disk read in place from the tar (no
// unpacking), converted, planned; a backing file named from inside a device.
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { sliceDevice, type BlockDevice } from "./block-device.js";
import { convertDisk } from "./convert.js";
import { diskInfo } from "./info.js";
import { openDisk } from "./open-disk.js";
import { createQcow2 } from "./qcow2-create.js";
import { planStorage } from "./strategy.js";
import { makeScatteredRaw } from "./image-conformance.js";
import { qemuImg, scratchDir } from "./testing.js";

let dir: string;
let ova: string;
let extracted: string;
let member: { offset: number; size: number };

/** Where a member's bytes lie in a tar archive, as GNU tar's --block-number says (header block + 1). */
function tarMember(archive: string, name: string): { offset: number; size: number } {
  const listing = execFileSync("tar", ["-tvRf", archive], { encoding: "utf8" });
  const line = listing.split("\n").find((l) => l.endsWith(` ${name}`));
  if (!line) throw new Error(`${name} not in ${archive}:\n${listing}`);
  const block = Number(/^block (\d+):/.exec(line)![1]);
  const size = Number(line.split(/\s+/)[4]);
  return { offset: (block + 1) * 512, size };
}

beforeAll(async () => {
  dir = await scratchDir("leapp-device-");
  const raw = await makeScatteredRaw(dir, 24 * 1024 * 1024);
  const pack = join(dir, "pack");
  await mkdir(pack);
  extracted = join(pack, "disk1.vmdk");
  await qemuImg("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, extracted);
  await writeFile(join(pack, "guest.ovf"), '<?xml version="1.0"?><Envelope/>\n');
  ova = join(dir, "guest.ova");
  execFileSync("tar", ["-cf", ova, "-C", pack, "guest.ovf", "disk1.vmdk"]);
  member = tarMember(ova, "disk1.vmdk");
});

describe("an OVA's disk, in place", () => {
  it("reads, maps and converts it from the tar like the extracted vmdk, and leaves the tar open", async () => {
    const tar = await openDisk(ova, { format: "raw" });
    const disk: BlockDevice = sliceDevice(tar, member.offset, member.size);
    const inside = await openDisk(disk);
    expect(inside.format).toBe("vmdk");
    const alone = await openDisk(extracted);
    expect(inside.size).toBe(alone.size);
    const a = new Uint8Array(alone.size);
    const b = new Uint8Array(alone.size);
    await Promise.all([inside.read(a, 0), alone.read(b, 0)]);
    expect(Buffer.compare(a, b)).toBe(0);
    const map = async (d: BlockDevice) => {
      const out = [];
      for await (const e of d.extents()) out.push(e);
      return out;
    };
    expect(await map(inside)).toEqual(await map(alone));
    await inside.close();
    await alone.close();

    const target = join(dir, "from-ova.qcow2");
    await convertDisk(disk, target, { format: "qcow2" });
    await qemuImg("compare", extracted, target);
    expect((await diskInfo(disk)).format).toBe("vmdk");
    // The tar is the caller's: still open and readable.
    const head = new Uint8Array(512);
    await tar.read(head, 0);
    expect(Buffer.from(head).toString("latin1", 0, 9)).toBe("guest.ovf");
    await tar.close();
  });

  it("plans a copy of it; a snapshot needs a file to name as backing and is refused", async () => {
    const tar = await openDisk(ova, { format: "raw" });
    const disk = sliceDevice(tar, member.offset, member.size);
    const out = join(dir, "plan");
    await mkdir(out);
    const [copy] = await planStorage([disk], { strategy: "copy", targetDir: out, format: "raw" });
    expect(copy!.target).toBe(join(out, "disk.raw"));
    await copy!.create();
    await qemuImg("compare", extracted, copy!.target as string);
    await expect(planStorage([disk], { strategy: "snapshot", targetDir: out })).rejects.toMatchObject({ code: "STORAGE_UNSUPPORTED" });
    await tar.close();
  });
});

describe("backing files named from inside a device", () => {
  it("refuses a relative name (no directory to be beside), opens an absolute one only in a trusted directory", async () => {
    const base = join(dir, "base.raw");
    await writeFile(base, Buffer.alloc(1024 * 1024, 0x42));
    for (const [name, trusted, code] of [
      ["base.raw", [dir], "STORAGE_PATH_ESCAPE"],
      [base, [], "STORAGE_PATH_ESCAPE"],
      [base, [dir], undefined],
    ] as const) {
      const image = join(dir, "top.qcow2");
      await createQcow2(image, { size: 1024 * 1024, backingFile: name, backingFormat: "raw", overwrite: true });
      const bytes = await readFile(image);
      const holder = await openDisk(image, { format: "raw" });
      const slice = sliceDevice(holder, 0, bytes.length);
      const opening = openDisk(slice, { trustedBackingDirs: trusted });
      if (code) await expect(opening, name).rejects.toMatchObject({ code });
      else {
        const top = await opening;
        const byte = new Uint8Array(1);
        await top.read(byte, 4096);
        expect(byte[0]).toBe(0x42);
        await top.close();
      }
      await holder.close();
    }
  });
});
