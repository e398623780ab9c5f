// readSource on virt-v2v's own test inputs, compared with everything virt-v2v printed for them —
// here including the facts the CLI's JSON leaves out (VM genid, CPU vendor/model/topology, features).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { compareFacts, expectedForm, listCorpusCases, parsePrintSource, parseTargetDisks } from "./corpus.js";
import { readSource } from "./read-source.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const corpus = join(repoRoot, "..", "shared", "corpus", "virt-v2v");
const haveCorpus = existsSync(corpus);
const work = mkdtempSync(join(tmpdir(), "leapp-corpus-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!haveCorpus)("readSource on the virt-v2v corpus", () => {
  const cases = haveCorpus ? listCorpusCases(readdirSync(corpus), corpus) : [];
  const printSource = cases.filter((c) => expectedForm(readFileSync(c.expected, "utf8")) === "print-source");

  it.each(printSource.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    let input = c.input;
    if (input.endsWith(".in")) {
      input = join(work, `${c.name}.xml`);
      writeFileSync(input, readFileSync(c.input, "utf8").replaceAll("@abs_top_builddir@", work));
    }
    const { format, source } = await readSource(input);
    expect(format).toBe(c.format);
    const result = compareFacts(parsePrintSource(readFileSync(c.expected, "utf8")), source);
    expect(result.mismatches).toEqual([]);
    // name … features, disks, removables and NICs: never fewer than 14 facts per input.
    expect(result.checked).toBeGreaterThanOrEqual(14);
  });

  it("knows both kinds of .expected", () => {
    expect(printSource.length).toBeGreaterThanOrEqual(14);
    const targets = cases.filter((c) => !printSource.includes(c));
    for (const c of targets) expect(parseTargetDisks(readFileSync(c.expected, "utf8")).removables.length).toBeGreaterThan(0);
  });
});

describe("parsePrintSource", () => {
  it("reads every line shape virt-v2v prints", () => {
    const facts = parsePrintSource(
      [
        "    source name: x",
        "hypervisor type: kvm",
        "       VM genid: 8312995e-57b8-f814-4013-c1ba795f05ba",
        "         memory: 1073741824 (bytes)",
        "       nr vCPUs: 64",
        "   CPU topology: sockets: 4 cores/socket: 8 threads/core: 2",
        "   CPU features: acpi,apic",
        "disks:",
        '\tjson:{ "file": { "driver": "raw" } } (vmdk) [scsi]',
        "\t0 [virtio-blk]",
        "removable media:",
        "\tCD-ROM [ide] in slot 2",
        "\tFloppy",
        "NICs:",
        '\tNetwork "VM Network" mac: 00:0C:29:36:EF:31 [vmxnet3]',
        '\tBridge "br0" [e1000]',
        "\tUser",
      ].join("\n"),
    );
    expect(facts).toMatchObject({
      name: "x",
      hypervisor: "kvm",
      genid: "8312995e-57b8-f814-4013-c1ba795f05ba",
      memoryBytes: 1073741824,
      vcpus: 64,
      topology: { sockets: 4, cores: 8, threads: 2 },
      features: ["acpi", "apic"],
      secureBoot: undefined,
      disks: [
        { format: "vmdk", bus: "scsi" },
        { label: "0", bus: "virtio" },
      ],
      removables: [
        { type: "cdrom", bus: "ide", slot: 2 },
        { type: "floppy", bus: undefined, slot: undefined },
      ],
      nics: [
        { kind: "network", name: "VM Network", mac: "00:0c:29:36:ef:31", model: "vmxnet3" },
        { kind: "bridge", name: "br0", mac: undefined, model: "e1000" },
        { kind: "user", name: undefined },
      ],
    });
  });

  it("reports each differing fact", () => {
    const expected = parsePrintSource("    source name: a\nhypervisor type: vmware\n         memory: 1 (bytes)\n       nr vCPUs: 1\n       firmware: bios\nNICs:\n\tBridge \"x\" [e1000]\n");
    const result = compareFacts(expected, { name: "b", hypervisor: "vmware", memoryBytes: 1, vcpus: 1, firmware: "uefi", secureBoot: false, disks: [], removables: [], nics: [{ kind: "network", name: "x", mac: null, model: "e1000" }] });
    expect(result.mismatches).toEqual(['name: expected "a", got "b"', 'firmware: expected "bios", got "uefi"', 'NIC 0 kind: expected "bridge", got "network"']);
  });
});
