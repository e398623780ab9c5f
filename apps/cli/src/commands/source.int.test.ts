// `leapp source` on OVAs packed the way virt-v2v's own tests pack them: the corpus's OVF
// descriptors with real VMDKs (qemu-img), archived with the real tar (ustar, GNU and pax formats,
// subfolders, gzip-compressed disks) and manifests written from the real sha1sum/sha256sum.
// Every fact is compared with what virt-v2v printed for the same OVA.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { readOva } from "@leapp/libvirt-xml";
import { compareFacts, listCorpusCases, parsePrintSource } from "@leapp/zoo";
import { leapp } from "../test-streams.js";
import { ExitCode } from "../errors.js";
import type { SourceFacts } from "./source.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const corpus = join(repoRoot, "..", "shared", "corpus", "virt-v2v");
const haveCorpus = existsSync(corpus);
// The corpus comes with the shared test data beside the repository (CI always has it).
if (!haveCorpus) console.warn(`skipped the corpus tests: ${corpus} is absent`);
const work = mkdtempSync(join(tmpdir(), "leapp-ova-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sh(command: string, args: string[], cwd = work): string {
  return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `SHA1(name)= hex` lines, as ovftool writes them, from the real sha1sum/sha256sum. */
function manifest(dir: string, files: string[], algorithm: "SHA1" | "SHA256"): string {
  const tool = algorithm === "SHA1" ? "sha1sum" : "sha256sum";
  return files.map((f) => `${algorithm}(${f})= ${sh(tool, [f], dir).split(" ")[0]}\n`).join("");
}

/** The files of an OVA in `dir`: the descriptor, the disks it references (real VMDKs), a manifest. */
function stage(name: string, ovf: string, options: { gzip?: boolean; snapshots?: boolean; algorithm?: "SHA1" | "SHA256" } = {}): { dir: string; files: string[] } {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(ovf, join(dir, `${name}.ovf`));
  const text = readFileSync(ovf, "utf8");
  const hrefs = [...text.matchAll(/ovf:href="([^"]+)"/g)].map((m) => m[1]!);
  const files = [`${name}.ovf`];
  for (const href of hrefs) {
    const vmdk = href.replace(/\.gz$/, "");
    sh("qemu-img", ["create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", join(dir, vmdk), "16M"]);
    if (href.endsWith(".gz")) sh("gzip", ["-n", vmdk], dir);
    files.push(href);
    if (options.snapshots) {
      // VMware exports snapshot chains as the disk plus numbered deltas beside it.
      for (const n of ["000000001", "000000002"]) {
        writeFileSync(join(dir, `${href}.${n}`), `snapshot ${n}\n`);
        files.push(`${href}.${n}`);
      }
    }
  }
  writeFileSync(join(dir, `${name}.mf`), manifest(dir, files, options.algorithm ?? "SHA1"));
  return { dir, files: [`${name}.ovf`, `${name}.mf`, ...files.slice(1)] };
}

function tar(ova: string, dir: string, members: string[], format: "ustar" | "gnu" | "pax" = "ustar"): string {
  sh("tar", [`--format=${format}`, "-cf", ova, "-C", dir, ...members]);
  return ova;
}

async function factsOf(path: string): Promise<SourceFacts> {
  const r = await leapp("source", path, "--json");
  if (r.code !== ExitCode.ok) throw new Error(`leapp source ${path} exited ${r.code}: ${r.out}${r.err}`);
  return JSON.parse(r.out) as SourceFacts;
}

/** How virt-v2v's test for each OVF input packed its OVA. */
function packings(name: string, ovf: string): { label: string; ova: string; entryPrefix: string }[] {
  const short = name.replace(/^test-i-ova-/, "");
  switch (short) {
    case "formats": {
      const { dir, files } = stage(name, ovf);
      return (["ustar", "gnu", "pax"] as const).map((format) => ({ label: `tar --format=${format}`, ova: tar(join(work, `${name}-${format}.ova`), dir, files, format), entryPrefix: "" }));
    }
    case "gz": {
      const { dir, files } = stage(name, ovf, { gzip: true });
      return [{ label: "gzip-compressed disk", ova: tar(join(work, `${name}.ova`), dir, files), entryPrefix: "" }];
    }
    case "snapshots": {
      const { dir, files } = stage(name, ovf, { snapshots: true, algorithm: "SHA256" });
      return [{ label: "disk with snapshot deltas, SHA256 manifest", ova: tar(join(work, `${name}.ova`), dir, files), entryPrefix: "" }];
    }
    case "subfolders": {
      const { dir, files } = stage(name, ovf);
      const parent = join(work, `${name}-parent`);
      mkdirSync(parent, { recursive: true });
      sh("cp", ["-r", dir, join(parent, "subfolder")]);
      return [
        { label: "files in a subfolder", ova: tar(join(work, `${name}.ova`), parent, files.map((f) => `subfolder/${f}`)), entryPrefix: "subfolder/" },
        { label: "unpacked OVA directory", ova: parent, entryPrefix: "" },
      ];
    }
    default: {
      const { dir, files } = stage(name, ovf);
      return [{ label: "plain tar", ova: tar(join(work, `${name}.ova`), dir, files), entryPrefix: "" }];
    }
  }
}

describe.skipIf(!haveCorpus)("leapp source on OVAs built from the virt-v2v corpus", () => {
  const cases = haveCorpus ? listCorpusCases(readdirSync(corpus), corpus).filter((c) => c.format === "ovf") : [];
  const totals = { ovas: 0, facts: 0 };

  it.each(cases.map((c) => [c.name, c] as const))("%s", async (name, c) => {
    const expected = parsePrintSource(readFileSync(c.expected, "utf8"));
    for (const packing of packings(name, c.input)) {
      const facts = await factsOf(packing.ova);
      const result = compareFacts(expected, facts);
      expect(result.mismatches, packing.label).toEqual([]);
      totals.facts += result.checked;
      totals.ovas++;
      // Each disk is named by its entry in the archive (virt-v2v's .expected2 shows the same).
      for (const disk of facts.disks) expect(disk.path, packing.label).toMatch(/\.vmdk(\.gz)?$/);
      if (packing.entryPrefix !== "") for (const disk of facts.disks) expect(disk.path).toMatch(new RegExp(`^${packing.entryPrefix}`));
    }
  });

  it("covers every OVF input with an .expected", () => {
    expect(cases.length).toBeGreaterThanOrEqual(6);
    console.log(`virt-v2v corpus as OVA: ${cases.length} inputs, ${totals.ovas} archives, ${totals.facts} facts matched`);
  });

  it("verifies a manifest mixing SHA1 and SHA256 lines in ovftool's and coreutils' --tag spellings", async () => {
    const { dir, files } = stage("checksums", join(corpus, "test-i-ova-checksums.ovf"));
    const tagged = sh("sha256sum", ["--tag", "disk.vmdk"], dir); // "SHA256 (disk.vmdk) = …"
    writeFileSync(join(dir, "checksums.mf"), manifest(dir, ["checksums.ovf"], "SHA1") + tagged);
    const ova = tar(join(work, "checksums.ova"), dir, files);
    expect((await readOva(ova)).checksumsVerified).toBe(2);
    expect(await factsOf(ova)).toMatchObject({ name: "ova-test", disks: [{ bus: "scsi", format: "vmdk", path: "disk.vmdk" }] });
  });

  it("reads an OVA whose files belong to root and are readable by no one else", async () => {
    const { dir, files } = stage("as-root", join(corpus, "test-i-ova-as-root.ovf"));
    sh("tar", ["--format=gnu", "--owner=root", "--group=root", "--mode=0400", "-cf", join(work, "as-root.ova"), "-C", dir, ...files]);
    expect(await factsOf(join(work, "as-root.ova"))).toMatchObject({ name: "ova-test", hypervisor: "vmware" });
  });

  it("refuses an OVA whose disk does not match the manifest", async () => {
    const ovf = join(corpus, "test-i-ova-tar.ovf");
    const { dir, files } = stage("tampered", ovf, { algorithm: "SHA256" });
    // Change one byte of the disk after the manifest was written.
    const disk = join(dir, "disk1.vmdk");
    const bytes = readFileSync(disk);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(disk, bytes);
    const r = await leapp("source", tar(join(work, "tampered.ova"), dir, files), "--json");
    expect(r.code).toBe(ExitCode.input);
    expect(JSON.parse(r.out)).toMatchObject({ error: { code: "LIBVIRT_XML_CHECKSUM" } });
  });

  it("refuses an OVA with an entry pointing outside the archive", async () => {
    const ovf = join(corpus, "test-i-ova-tar.ovf");
    const { dir } = stage("escape", ovf);
    // -P keeps the `..` in the member name, as a hostile archive would have it.
    sh("tar", ["-cPf", join(work, "escape.ova"), "-C", dir, "escape.ovf", "../escape/disk1.vmdk"]);
    const r = await leapp("source", join(work, "escape.ova"));
    expect(r.code).toBe(ExitCode.input);
    expect(r.err).toContain("LIBVIRT_XML_PATH_ESCAPE");
  });
});

describe("leapp source --libvirt-xml", () => {
  const xen = join(work, "guest.cfg");
  writeFileSync(xen, "name = 'xen-guest'\nmemory = 1024\nvcpus = 2\nbootloader = 'pygrub'\ndisk = ['phy:/dev/vg0/guest,xvda,w', 'file:/srv/guest.iso,hdc:cdrom,r']\nvif = ['mac=00:16:3e:01:02:03,bridge=xenbr0']\n");
  const inputs = [xen, ...(haveCorpus ? ["test-i-vmx-1.vmx", "test-i-vmx-7.vmx", "test-i-ova-formats.ovf", "test-print-source.xml.in"].map((f) => join(corpus, f)) : [])];

  it.each(inputs.map((f) => [f.split("/").pop()!, f] as const))("%s: a domain libvirt validates and defines", async (name, input) => {
    let file = input;
    if (file.endsWith(".in")) {
      file = join(work, name.replace(/\.in$/, ""));
      writeFileSync(file, readFileSync(input, "utf8").replaceAll("@abs_top_builddir@", work));
    }
    const r = await leapp("source", file, "--libvirt-xml");
    expect(r.code, r.err).toBe(ExitCode.ok);
    expect(r.out).toMatch(/^<domain type='kvm'/m);
    const xml = join(work, `${name}.domain.xml`);
    writeFileSync(xml, r.out);
    sh("virt-xml-validate", [xml, "domain"]);
    expect(sh("virsh", ["-c", "test:///default", "define", xml])).toMatch(/defined/);
    // The MACs the source had are kept.
    const facts = await factsOf(file);
    for (const nic of facts.nics) if (nic.mac) expect(r.out).toContain(nic.mac);
  });

  it("says on stderr that the disks are the source's, unconverted, and how to convert them", async () => {
    const r = await leapp("source", xen, "--libvirt-xml");
    expect(r.code).toBe(ExitCode.ok);
    expect(r.err).toBe(`note: this domain uses the source's disks as they are, unconverted (raw) and with the guest still set up for xen; 'leapp convert -i xen ${xen}' converts the guest itself\n`);
    expect(r.out).not.toContain("note:");
  });

  it("prints one JSON document with --json, and no note", async () => {
    const r = await leapp("source", xen, "--libvirt-xml", "--json");
    expect(r.code).toBe(ExitCode.ok);
    expect((JSON.parse(r.out) as { libvirtXml: string }).libvirtXml).toContain("<name>xen-guest</name>");
    expect(r.err).toBe("");
  });
});

describe.skipIf(!haveCorpus)("the built leapp binary", () => {
  it("prints the same facts for a corpus VMX as the in-process run", async () => {
    const binary = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run 'pnpm build' first`);
    const input = join(corpus, "test-i-vmx-7.vmx");
    const out = execFileSync(process.execPath, [binary, "source", input, "--json"], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual(await factsOf(input));
    expect(compareFacts(parsePrintSource(readFileSync(join(corpus, "test-i-vmx-7.expected"), "utf8")), JSON.parse(out) as SourceFacts).mismatches).toEqual([]);
  });
});
