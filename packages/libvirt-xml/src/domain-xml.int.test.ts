// Round trip over real libvirt domain XML written by virt-install: parse → serialize must equal
// the input after canonicalization (xmllint --c14n) and still validate against libvirt's schema.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { virtInstallCorpus } from "@leapp/zoo";
import { parseDomainXml, readDomainXml, serializeDomainXml } from "./domain-xml.js";

const run = promisify(execFile);
let corpus: Awaited<ReturnType<typeof virtInstallCorpus>> = [];
let work = "";

beforeAll(async () => {
  corpus = await virtInstallCorpus();
  work = mkdtempSync(join(tmpdir(), "leapp-domain-rt-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function c14n(path: string): Promise<string> {
  return (await run("xmllint", ["--c14n", path], { maxBuffer: 1 << 24 })).stdout;
}

describe("libvirt domain XML round trip (virt-install corpus)", () => {
  it("covers the variety it claims", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(20);
    const sources = corpus.map((c) => readDomainXml(c.xml));
    const buses = new Set(sources.flatMap((s) => s.disks.map((d) => d.bus)));
    for (const bus of ["virtio", "ide", "sata", "scsi", "usb"]) expect(buses).toContain(bus);
    const nicKinds = new Set(sources.flatMap((s) => s.nics.map((n) => n.kind)));
    for (const kind of ["network", "bridge", "user"]) expect(nicKinds).toContain(kind);
    expect(sources.some((s) => s.firmware === "uefi" && s.secureBoot)).toBe(true);
    expect(sources.some((s) => s.display?.type === "spice") && sources.some((s) => s.display?.type === "vnc")).toBe(true);
    expect(sources.some((s) => s.removables.some((r) => r.type === "floppy"))).toBe(true);
    expect(sources.some((s) => s.cpu.model === "Haswell" && s.cpu.threads === 2)).toBe(true);
  });

  it("parse → serialize equals the input after canonicalization, and still validates", async () => {
    for (const { name, path, xml } of corpus) {
      const out = join(work, `${name}.xml`);
      writeFileSync(out, serializeDomainXml(parseDomainXml(xml)));
      expect(await c14n(out), name).toBe(await c14n(path));
      await run("virt-xml-validate", [out, "domain"]);
    }
  });

  it("comments, foreign namespaces and unknown elements survive too", async () => {
    const base = corpus.find((c) => c.name === "virtio-network");
    expect(base).toBeDefined();
    const decorated = (base?.xml ?? "")
      .replace("<devices>", "<!-- hand-edited: keep -->\n  <devices>")
      .replace("</domain>", "  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:arg value='-no-hpet'/></qemu:commandline>\n</domain>")
      .replace("<name>", "<name>"); // untouched order
    const input = join(work, "decorated-in.xml");
    const output = join(work, "decorated-out.xml");
    writeFileSync(input, decorated);
    writeFileSync(output, serializeDomainXml(parseDomainXml(decorated)));
    expect(await c14n(output)).toBe(await c14n(input));
    expect(await c14n(output)).toContain("hand-edited: keep");
    await run("virt-xml-validate", [output, "domain"]);
  });
});
