// The initramfs amendment on real archives and real modules: dracut-like and initramfs-tools-like
// images made with the real cpio, gzip, xz and zstd from this machine's Debian kernel modules
// (depmod builds their indexes), amended, then unpacked again segment by segment with the real
// cpio and checked by the real modprobe and depmod.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readInitramfs, listInitramfs } from "./archive.js";
import { amendInitramfs } from "./amend.js";
import { readKmodIndex } from "./kmod-index.js";
import { parseModuleDb } from "./modules.js";

const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const sh = (cmd: string, input?: Buffer): Buffer => execFileSync("sh", ["-c", cmd], { input, env: { ...process.env, PATH }, maxBuffer: 1 << 30, stdio: ["pipe", "pipe", "pipe"] });

const version = readdirSync("/lib/modules").sort().pop() as string;
const hostModules = `/lib/modules/${version}`;
const scratch = mkdtempSync(join(tmpdir(), "guestos-initramfs-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hostDb = () => {
  const read = (n: string) => readFileSync(join(hostModules, n), "utf8");
  return parseModuleDb(version, { dep: read("modules.dep"), alias: read("modules.alias"), symbols: read("modules.symbols"), builtin: read("modules.builtin"), order: read("modules.order") });
};
const virtio = ["virtio_blk", "virtio_scsi", "virtio_net", "virtio_pci"];

/** A tree as a hostonly initramfs of a Xen guest holds it: only the Xen drivers, indexed by the real depmod. */
function xenOnlyTree(name: string, kind: "dracut" | "initramfs-tools"): string {
  const root = join(scratch, name);
  mkdirSync(join(root, "usr/lib/modules", version), { recursive: true });
  symlinkSync("usr/lib", join(root, "lib"));
  for (const m of ["kernel/drivers/block/xen-blkfront.ko", "kernel/drivers/net/xen-netfront.ko"]) {
    mkdirSync(dirname(join(root, "usr/lib/modules", version, m)), { recursive: true });
    copyFileSync(join(hostModules, m), join(root, "usr/lib/modules", version, m));
  }
  writeFileSync(join(root, "usr/lib/modules", version, "modules.order"), "kernel/drivers/block/xen-blkfront.ko\nkernel/drivers/net/xen-netfront.ko\n");
  sh(`depmod -b '${root}' ${version}`);
  if (kind === "dracut") {
    mkdirSync(join(root, "usr/lib/dracut"), { recursive: true });
    writeFileSync(join(root, "usr/lib/dracut/build-parameter.txt"), "--hostonly\n");
  } else {
    mkdirSync(join(root, "conf"), { recursive: true });
    mkdirSync(join(root, "scripts"), { recursive: true });
    writeFileSync(join(root, "conf/initramfs.conf"), "MODULES=list\n");
    writeFileSync(join(root, "conf/modules"), "xen-blkfront\nxen-netfront\n");
    writeFileSync(join(root, "scripts/functions"), "load_modules() { :; }\n");
  }
  writeFileSync(join(root, "init"), "#!/bin/sh\necho init\n", { mode: 0o755 });
  return root;
}

const compressors = { gzip: "gzip -9 -n", xz: "xz --check=crc32 -9", zstd: "zstd -q -19" } as const;
const decompressors: Record<string, string> = { gzip: "gzip -dc", xz: "xz -dc", zstd: "zstd -dcq", none: "cat" };

/** An early (plain) microcode archive followed by the compressed main one, as dracut writes them. */
function image(root: string, compression: keyof typeof compressors): Buffer {
  const early = join(scratch, `early-${compression}`);
  mkdirSync(join(early, "kernel/x86/microcode"), { recursive: true });
  writeFileSync(join(early, "kernel/x86/microcode/GenuineIntel.bin"), Buffer.alloc(1000, 7));
  const earlyCpio = sh(`cd '${early}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet`);
  const main = sh(`cd '${root}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | ${compressors[compression]}`);
  return Buffer.concat([earlyCpio, main]);
}

/** Unpacks every segment in order with the real tools, as the kernel would (later files win). */
async function unpackWithTools(bytes: Buffer, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  for (const s of (await readInitramfs(bytes)).segments) {
    const part = bytes.subarray(s.offset, s.offset + s.length);
    sh(`${decompressors[s.compression]} | (cd '${into}' && cpio -idmu --quiet --no-absolute-filenames)`, part);
  }
}

describe("amendInitramfs on real archives", () => {
  for (const compression of Object.keys(compressors) as (keyof typeof compressors)[]) {
    it(`dracut-like, ${compression}: lists like cpio -t, appends virtio drivers modprobe and depmod agree with`, async () => {
      const root = xenOnlyTree(`dracut-${compression}`, "dracut");
      const original = image(root, compression);
      const parsed = await readInitramfs(original);
      expect(parsed.segments.map((s) => s.compression)).toEqual(["none", compression]);
      // Our listing is the real cpio's listing of both archives.
      const names = sh(`cd '${root}' && find . | sed 's,^\\./,,' | grep -v '^\\.$'`).toString().trim().split("\n");
      const listed = listInitramfs(parsed).map((e) => e.path);
      for (const n of names) expect(listed).toContain(n);
      expect(listed).toContain("kernel/x86/microcode/GenuineIntel.bin");

      const amendment = await amendInitramfs(parsed, hostDb(), virtio, async (rel) => readFileSync(join(hostModules, rel)));
      expect(amendment.generator).toBe("dracut");
      for (const m of ["virtio", "virtio_ring", "virtio_blk", "virtio_pci", "virtio_net", "net_failover", "failover", "virtio_scsi", "scsi_mod"]) expect(amendment.added).toContain(m);
      expect(amendment.added.indexOf("virtio")).toBeLessThan(amendment.added.indexOf("virtio_blk"));
      expect(amendment.offset % 4).toBe(0);
      const amended = Buffer.concat([original, Buffer.alloc(amendment.offset - original.length), amendment.segment]);
      // The original bytes are untouched: truncating undoes the amendment.
      expect(amended.subarray(0, original.length).equals(original)).toBe(true);

      const out = join(scratch, `out-dracut-${compression}`);
      await unpackWithTools(amended, out);
      // Written through the image's lib -> usr/lib link, never replacing it with a directory.
      expect(sh(`readlink '${out}/lib'`).toString().trim()).toBe("usr/lib");
      const deps = sh(`modprobe -d '${out}' -S ${version} --show-depends virtio_blk`).toString();
      expect(deps).toMatch(/insmod \S+\/virtio\.ko/);
      expect(deps).toMatch(/insmod \S+\/virtio_blk\.ko/);
      for (const line of deps.trim().split("\n")) expect(() => readFileSync(line.split(" ")[1] as string)).not.toThrow();
      // udev loads virtio_pci by the device's modalias.
      expect(sh(`modprobe -d '${out}' -S ${version} --show-depends 'pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00'`).toString()).toMatch(/virtio_pci\.ko/);
      expect(sh(`modprobe -d '${out}' -S ${version} --show-depends xen-blkfront`).toString()).toMatch(/xen-blkfront\.ko/);

      // The real depmod, run over the unpacked tree, makes indexes with the same content as ours.
      const ours = ["modules.dep.bin", "modules.alias.bin"].map((n) => readKmodIndex(readFileSync(join(out, "lib/modules", version, n))));
      sh(`depmod -b '${out}' ${version}`);
      const theirs = ["modules.dep.bin", "modules.alias.bin"].map((n) => readKmodIndex(readFileSync(join(out, "lib/modules", version, n))));
      for (let i = 0; i < 2; i++) {
        const norm = (m: Map<string, { value: string }[]>) => new Map([...m].map(([k, v]) => [k, v.map((x) => x.value).sort()]));
        expect(norm(ours[i]!)).toEqual(norm(theirs[i]!));
      }

      // A second conversion finds the drivers already there and appends nothing.
      const again = await amendInitramfs(await readInitramfs(amended), hostDb(), virtio, async (rel) => readFileSync(join(hostModules, rel)));
      expect(again.added).toEqual([]);
      expect(again.present.sort()).toEqual([...virtio].sort());
      expect(again.segment.length).toBe(0);
    });
  }

  it("initramfs-tools with MODULES=list: conf/modules gains the virtio drivers", async () => {
    const root = xenOnlyTree("itools", "initramfs-tools");
    const parsed = await readInitramfs(image(root, "zstd"));
    const amendment = await amendInitramfs(parsed, hostDb(), virtio, async (rel) => readFileSync(join(hostModules, rel)));
    expect(amendment.generator).toBe("initramfs-tools");
    const amended = Buffer.concat([image(root, "zstd"), Buffer.alloc(amendment.offset - parsed.size), amendment.segment]);
    const out = join(scratch, "out-itools");
    await unpackWithTools(amended, out);
    expect(readFileSync(join(out, "conf/modules"), "utf8")).toBe("xen-blkfront\nxen-netfront\nvirtio_blk\nvirtio_scsi\nvirtio_net\nvirtio_pci\n");
  });
});
