// Test support: the RHEL-family zoo guests carry placeholder kernels and initramfs images (no RHEL
// kernel can be installed here). Tests lay, over the zoo image in a memory guest, what a real
// guest holds there: module files (this machine's Debian modules stand in for their bytes), the
// modules.dep a RHEL kernel ships, and a hostonly initramfs made with the real cpio, depmod and
// gzip/xz/zstd — as dracut lays one out.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { WritableGuestFS } from "@leapp/inspect";

const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
export const sh = (cmd: string, input?: Buffer): Buffer => execFileSync("sh", ["-c", cmd], { input, env: { ...process.env, PATH }, maxBuffer: 1 << 30, stdio: ["pipe", "pipe", "pipe"] });

export const hostKernel = readdirSync("/lib/modules").sort().pop() as string;
const hostModules = `/lib/modules/${hostKernel}`;

/** Host module files that stand in for a RHEL kernel's, by name. */
const hostModule: Record<string, string> = {};
for (const line of readFileSync(join(hostModules, "modules.dep"), "utf8").split("\n")) {
  const path = line.split(":")[0];
  if (path) hostModule[path.slice(path.lastIndexOf("/") + 1).replace(/\.ko.*$/, "")] = path;
}

/** A module tree for `version`: `modules` (name → path under the version folder, with .ko/.ko.xz), deps as on the host. */
export interface StagedKernel {
  version: string;
  /** Folder in the guest: /lib/modules/VERSION or /usr/lib/modules/VERSION. */
  dir: string;
  modules: string[];
  /** Modules the hostonly initramfs holds. */
  initramfs: string[];
  compression: "gzip" | "xz" | "zstd";
  /** initramfs path in the guest. */
  initrd: string;
  /** Compress module files as RHEL 8/9 do. */
  xzModules?: boolean;
}

/** Builds the module tree and the initramfs on the host, then writes them into `guest`. */
export async function stageKernel(guest: WritableGuestFS, k: StagedKernel): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "guestos-stage-"));
  try {
    const tree = join(work, "lib/modules", k.version);
    const wanted = new Set<string>();
    const depsOf = (name: string): string[] => {
      const line = readFileSync(join(hostModules, "modules.dep"), "utf8").split("\n").find((l) => l.startsWith(`${hostModule[name]}:`)) ?? "";
      return line.split(":")[1]?.trim().split(/\s+/).filter((d) => d !== "").map((d) => d.slice(d.lastIndexOf("/") + 1).replace(/\.ko.*$/, "")) ?? [];
    };
    const add = (n: string) => {
      if (wanted.has(n) || !hostModule[n]) return;
      wanted.add(n);
      for (const d of depsOf(n)) add(d);
    };
    for (const m of k.modules) add(m);
    for (const n of wanted) {
      const rel = hostModule[n] as string;
      mkdirSync(dirname(join(tree, rel)), { recursive: true });
      copyFileSync(join(hostModules, rel), join(tree, rel));
      if (k.xzModules) sh(`xz --check=crc32 '${join(tree, rel)}'`);
    }
    sh(`depmod -b '${work}' ${k.version}`);
    // The guest's module tree (depmod's text and binary files with it).
    const files = sh(`cd '${tree}' && find . -type f`).toString().trim().split("\n");
    await mkdirs(guest, k.dir);
    for (const f of files) {
      const rel = f.slice(2);
      await mkdirs(guest, dirname(`${k.dir}/${rel}`));
      await guest.writeFile(`${k.dir}/${rel}`, readFileSync(join(tree, rel)));
    }
    // The hostonly initramfs: only the old hypervisor's drivers, dracut's layout, merged /usr.
    const initrd = join(work, "initrd");
    const imgModules = join(initrd, "usr/lib/modules", k.version);
    mkdirSync(imgModules, { recursive: true });
    for (const d of ["usr/bin", "usr/sbin", "usr/lib/dracut", "etc", "dev", "proc", "sys", "sysroot"]) mkdirSync(join(initrd, d), { recursive: true });
    for (const l of ["lib", "bin", "sbin"]) symlinkSync(`usr/${l}`, join(initrd, l));
    writeFileSync(join(initrd, "usr/lib/dracut/build-parameter.txt"), " --kver '" + k.version + "' --hostonly\n");
    writeFileSync(join(initrd, "etc/initrd-release"), 'NAME="dracut"\n');
    writeFileSync(join(initrd, "init"), "#!/bin/sh\n# dracut's init would be here\n", { mode: 0o755 });
    const inImage = new Set<string>();
    const addImg = (n: string) => {
      if (inImage.has(n) || !hostModule[n]) return;
      inImage.add(n);
      for (const d of depsOf(n)) addImg(d);
    };
    for (const m of k.initramfs) addImg(m);
    for (const n of inImage) {
      const rel = hostModule[n] as string;
      const src = join(tree, rel + (k.xzModules ? ".xz" : ""));
      mkdirSync(dirname(join(imgModules, rel)), { recursive: true });
      copyFileSync(src, join(imgModules, rel + (k.xzModules ? ".xz" : "")));
    }
    sh(`depmod -b '${initrd}' ${k.version}`);
    const compress = { gzip: "gzip -n -9", xz: "xz --check=crc32", zstd: "zstd -q -15" }[k.compression];
    const image = sh(`cd '${initrd}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | ${compress}`);
    await guest.writeFile(k.initrd, image);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function mkdirs(guest: WritableGuestFS, path: string): Promise<void> {
  let at = "";
  for (const part of path.split("/").filter((p) => p !== "")) {
    at += `/${part}`;
    if (!(await guest.exists(at))) await guest.mkdir(at);
  }
}

/** Unpacks every segment of an initramfs with the real tools, as the kernel does (later files win). */
export function unpackWithTools(bytes: Uint8Array, segments: { offset: number; length: number; compression: string }[], into: string): void {
  const decompress: Record<string, string> = { gzip: "gzip -dc", xz: "xz -dc", zstd: "zstd -dcq", none: "cat" };
  mkdirSync(into, { recursive: true });
  for (const s of segments) sh(`${decompress[s.compression]} | (cd '${into}' && cpio -idmu --quiet --no-absolute-filenames)`, Buffer.from(bytes.subarray(s.offset, s.offset + s.length)));
}
