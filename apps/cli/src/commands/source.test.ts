// `leapp source` run in-process on virt-v2v's own test inputs (VMX, OVF descriptors, libvirt XML),
// every fact compared with what virt-v2v printed for the same input. OVAs built from the OVF
// inputs with the real tar are in source.int.test.ts.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { slotFromDeviceName } from "@leapp/libvirt-xml";
import { compareFacts, expectedForm, listCorpusCases, parsePrintSource, parseTargetDisks, type CorpusCase } from "@leapp/zoo";
import { run } from "../program.js";
import { captureStreams } from "../test-streams.js";
import { ExitCode } from "../errors.js";
import type { SourceFacts } from "./source.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const corpus = join(repoRoot, "..", "shared", "corpus", "virt-v2v");
const haveCorpus = existsSync(corpus);
// The corpus comes with the shared test data beside the repository (CI always has it).
if (!haveCorpus) console.warn(`skipped the corpus tests: ${corpus} is absent`);
const cases = haveCorpus ? listCorpusCases(readdirSync(corpus), corpus) : [];
const work = mkdtempSync(join(tmpdir(), "leapp-source-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function leappSourceJson(file: string): Promise<SourceFacts> {
  const io = captureStreams();
  const code = await run(["source", file, "--json"], io);
  if (code !== ExitCode.ok) throw new Error(`leapp source ${file} exited ${code}: ${io.out()}${io.err()}`);
  return JSON.parse(io.out()) as SourceFacts;
}

/** libvirt inputs are templates: `@abs_top_builddir@` stands for where virt-v2v's test images are. */
function instantiate(c: CorpusCase): string {
  if (!c.input.endsWith(".in")) return c.input;
  const file = join(work, `${c.name}.xml`);
  writeFileSync(file, readFileSync(c.input, "utf8").replaceAll("@abs_top_builddir@", join(work, "builddir")));
  return file;
}

const totals = { inputs: 0, facts: 0 };

describe.skipIf(!haveCorpus)("leapp source on the virt-v2v corpus", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s: every fact matches virt-v2v's", async (_name, c) => {
    const expected = readFileSync(c.expected, "utf8");
    const facts = await leappSourceJson(instantiate(c));
    if (expectedForm(expected) === "print-source") {
      const comparison = compareFacts(parsePrintSource(expected), facts);
      expect(comparison.mismatches).toEqual([]);
      totals.facts += comparison.checked;
    } else {
      // virt-v2v rewrote the buses for the target, but kept each removable's type and on-bus slot.
      const target = parseTargetDisks(expected);
      expect(facts.disks).toHaveLength(target.disks);
      expect(facts.removables.map((r) => ({ type: r.type, slot: r.slot }))).toEqual(target.removables.map((r) => ({ type: r.type, slot: slotFromDeviceName(r.dev) ?? null })));
      totals.facts += 1 + 2 * target.removables.length;
    }
    totals.inputs++;
  });

  it("covers every input that has an .expected", () => {
    expect(cases.length).toBeGreaterThanOrEqual(16);
    expect(totals.inputs).toBe(cases.length);
    console.log(`virt-v2v corpus: ${totals.inputs} inputs, ${totals.facts} facts matched`);
  });
});

describe("leapp source", () => {
  const vmx = join(work, "guest.vmx");
  writeFileSync(
    vmx,
    [
      '.encoding = "UTF-8"',
      'displayName = "web |22one|22"',
      'memSize = "1024"',
      'numvcpus = "2"',
      'firmware = "efi"',
      'uefi.secureBoot.enabled = "TRUE"',
      'scsi0.present = "TRUE"',
      'scsi0:0.present = "TRUE"',
      'scsi0:0.fileName = "web.vmdk"',
      'ide1:1.present = "TRUE"',
      'ide1:1.deviceType = "atapi-cdrom"',
      'ethernet0.present = "TRUE"',
      'ethernet0.addressType = "static"',
      'ethernet0.address = "00:50:56:01:02:03"',
      'ethernet0.networkName = "LAN"',
      'ethernet0.virtualDev = "vmxnet3"',
      "",
    ].join("\n"),
  );

  it("prints exactly the documented JSON document", async () => {
    const io = captureStreams();
    expect(await run(["source", vmx, "--json"], io)).toBe(ExitCode.ok);
    expect(JSON.parse(io.out())).toEqual({
      name: 'web "one"',
      hypervisor: "vmware",
      memoryBytes: 1024 * 1024 * 1024,
      vcpus: 2,
      firmware: "uefi",
      secureBoot: true,
      disks: [{ bus: "scsi", format: "vmdk", path: join(work, "web.vmdk") }],
      removables: [{ type: "cdrom", bus: "ide", slot: 3 }],
      nics: [{ kind: "network", name: "LAN", mac: "00:50:56:01:02:03", model: "vmxnet3" }],
    });
  });

  it("prints readable text like virt-v2v --print-source", async () => {
    const io = captureStreams();
    expect(await run(["source", vmx], io)).toBe(ExitCode.ok);
    const text = io.out();
    expect(text).toContain('    source name: web "one"');
    expect(text).toContain("       firmware: uefi");
    expect(text).toContain("\tCD-ROM [ide] in slot 3");
    expect(text).toContain('\tNetwork "LAN" mac: 00:50:56:01:02:03 [vmxnet3]');
    // The text is itself readable by the --print-source parser: same facts as the JSON.
    const io2 = captureStreams();
    await run(["source", vmx, "--json"], io2);
    expect(compareFacts(parsePrintSource(text), JSON.parse(io2.out()) as SourceFacts).mismatches).toEqual([]);
  });

  it("refuses a file that is no VM metadata with exit 3 and a typed error", async () => {
    const junk = join(work, "notes.txt");
    writeFileSync(junk, "just some notes\nnothing to see\n");
    const io = captureStreams();
    expect(await run(["source", junk, "--json"], io)).toBe(ExitCode.input);
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: "LIBVIRT_XML_UNKNOWN_FORMAT", package: "@leapp/libvirt-xml" } });
  });

  it("reports a missing file as an input error", async () => {
    const io = captureStreams();
    expect(await run(["source", join(work, "absent.vmx")], io)).toBe(ExitCode.input);
    expect(io.err()).toBe(`leapp: ${join(work, "absent.vmx")}: no such file or directory; check the path [ENOENT]\n`);
  });
});
