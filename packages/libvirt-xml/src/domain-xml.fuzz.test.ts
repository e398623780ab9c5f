// Mutation fuzzing of parseDomainXml/readDomainXml: seeds are real domain XML (virt-v2v's libvirt
// inputs when the shared corpus is present, plus documents from writeDomainXml), mutated by a
// seeded generator for a bounded time. Every outcome must be a result or a LibvirtXmlError, and
// whatever parses must serialize to a document that parses to the same tree.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDomainXml, readDomainXml, serializeDomainXml } from "./domain-xml.js";
import { LibvirtXmlError } from "./errors.js";
import type { GuestSource } from "./guest-source.js";
import { writeDomainXml } from "./write-domain.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const corpus = join(repoRoot, "..", "shared", "corpus", "virt-v2v");

function seeds(): string[] {
  const out: string[] = [];
  if (existsSync(corpus)) {
    for (const f of readdirSync(corpus).filter((f) => f.endsWith(".xml.in"))) out.push(readFileSync(join(corpus, f), "utf8"));
  }
  const base: GuestSource = {
    name: "fuzz",
    hypervisor: "kvm",
    genid: "e9392370-2917-565e-692b-d057f46512d6",
    memoryBytes: 2 * 1024 ** 3,
    vcpus: 4,
    cpu: { vendor: "Intel", model: "Haswell", sockets: 1, cores: 2, threads: 2 },
    features: ["acpi", "apic", "pae"],
    firmware: "uefi",
    secureBoot: true,
    display: { type: "spice", listen: "127.0.0.1", port: undefined },
    sound: "ich9",
    disks: [
      { path: "/v/a.qcow2", format: "qcow2", bus: "scsi", targetDev: "sda", controller: 0, slot: 0 },
      { path: "/dev/vg/b", format: "raw", bus: "virtio", targetDev: "vdb", controller: undefined, slot: undefined },
    ],
    removables: [
      { type: "cdrom", bus: "sata", slot: 2, path: "/iso/x.iso" },
      { type: "floppy", bus: "fdc", slot: 0, path: undefined },
    ],
    nics: [
      { kind: "network", name: "default", mac: "52:54:00:01:02:03", model: "virtio" },
      { kind: "bridge", name: "br0", mac: "52:54:00:01:02:04", model: "e1000" },
      { kind: "user", name: undefined, mac: undefined, model: "rtl8139" },
    ],
  };
  out.push(writeDomainXml(base), writeDomainXml(base, { machine: "pc", diskBus: "keep", nicModel: "keep", secureBoot: false, graphics: "vnc" }));
  out.push(`<?xml version="1.0"?>\n<!-- c -->\n<domain type='xen' xmlns:q='urn:q'><name>pv</name><bootloader>/usr/bin/pygrub</bootloader><os><type>linux</type></os><q:x a='&amp;&#65;'><![CDATA[<raw>]]></q:x></domain>`);
  return out;
}

/** Small deterministic PRNG so a failure reproduces from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const tokens = ["<", ">", "/>", "</domain>", "<disk>", "&", "&amp;", "&lol;", "&#0;", "&#x110000;", "'", '"', "<!--", "-->", "<![CDATA[", "]]>", "<!DOCTYPE x [<!ENTITY a 'b'>]>", "<?pi x?>", "=", "xmlns:a='u'", "\u0000", "\uffff", "99999999999999999999", "-1", "unit='EiB'", "<vcpu>0</vcpu>", "<memory unit='b'>x</memory>"];

function mutate(text: string, rand: () => number): string {
  let s = text;
  const rounds = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(rand() * (s.length + 1));
    const len = Math.floor(rand() * 40);
    switch (Math.floor(rand() * 6)) {
      case 0: // delete a range
        s = s.slice(0, at) + s.slice(at + len);
        break;
      case 1: // insert a token
        s = s.slice(0, at) + tokens[Math.floor(rand() * tokens.length)] + s.slice(at);
        break;
      case 2: // duplicate a range
        s = s.slice(0, at) + s.slice(at, at + len * 4) + s.slice(at);
        break;
      case 3: // flip one character
        s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + s.slice(at + 1);
        break;
      case 4: // swap two ranges
        {
          const other = Math.floor(rand() * (s.length + 1));
          const [a, b] = at < other ? [at, other] : [other, at];
          s = s.slice(0, a) + s.slice(b, b + len) + s.slice(a + len, b) + s.slice(a, a + len) + s.slice(b + len);
        }
        break;
      default: // truncate
        s = s.slice(0, at);
    }
  }
  return s;
}

function check(text: string): "ok" | string {
  try {
    const doc = parseDomainXml(text);
    const again = parseDomainXml(serializeDomainXml(doc));
    expect(again.xml.children).toEqual(doc.xml.children);
    readDomainXml(doc);
    return "ok";
  } catch (err) {
    if (err instanceof LibvirtXmlError) return err.code;
    throw err;
  }
}

describe("fuzz parseDomainXml / readDomainXml", () => {
  it("mutated real domain XML: a result or a LibvirtXmlError, never anything else", () => {
    const all = seeds();
    for (const s of all) expect(check(s)).toBe("ok");
    const rand = prng(0x1eaf);
    const outcomes = new Map<string, number>();
    const deadline = performance.now() + 2000;
    let n = 0;
    while (performance.now() < deadline) {
      const input = mutate(all[n % all.length]!, rand);
      const outcome = check(input);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      n++;
    }
    expect(n).toBeGreaterThan(500);
    // Both sides were exercised: some mutants still parse, others are refused with typed errors.
    expect(outcomes.get("ok") ?? 0).toBeGreaterThan(0);
    expect(outcomes.get("LIBVIRT_XML_MALFORMED") ?? 0).toBeGreaterThan(0);
  });

  it("arbitrary strings (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        const outcome = check(s);
        expect(typeof outcome).toBe("string");
        const wrapped = check(`<domain type='kvm'><name>n</name>${s}</domain>`);
        expect(typeof wrapped).toBe("string");
      }),
      { numRuns: 1000, seed: 42 },
    );
  });
});
