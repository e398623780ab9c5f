import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { pack } from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { detectFormat, readSource, readSourceBytes } from "./read-source.js";

const work = mkdtempSync(join(tmpdir(), "leapp-read-source-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const domain = `<?xml version="1.0"?>\n<!-- dumped by virsh -->\n<domain type='kvm'><name>k</name><memory unit='MiB'>512</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>\n`;
const ovf = `<?xml version="1.0"?><ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"><ovf:VirtualSystem ovf:id="o"><ovf:VirtualHardwareSection><ovf:Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>3</rasd:VirtualQuantity></ovf:Item></ovf:VirtualHardwareSection></ovf:VirtualSystem></ovf:Envelope>`;
const vmx = `.encoding = "UTF-8"\nconfig.version = "8"\ndisplayName = "v"\nmemSize = "256"\n`;
const xen = `# xl config\nname = "x"\nmemory = 256\nvif = ['bridge=xenbr0']\n`;

function write(name: string, content: string | Buffer): string {
  const file = join(work, name);
  writeFileSync(file, content);
  return file;
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
    return undefined;
  } catch (err) {
    if (err instanceof LibvirtXmlError) return err.code;
    throw err;
  }
}

describe("readSource", () => {
  it("detects each format by content, whatever the file is called", async () => {
    expect(await readSource(write("a.txt", domain))).toMatchObject({ format: "libvirt", source: { name: "k", memoryBytes: 512 * 1024 ** 2, vcpus: 2 } });
    expect(await readSource(write("b.txt", ovf))).toMatchObject({ format: "ovf", source: { name: "o", vcpus: 3 } });
    expect(await readSource(write("c.txt", vmx))).toMatchObject({ format: "vmx", source: { name: "v", memoryBytes: 256 * 1024 ** 2 } });
    expect(await readSource(write("d.txt", xen))).toMatchObject({ format: "xen", source: { name: "x", nics: [{ name: "xenbr0" }] } });
  });

  it("reads an OVA from its tar magic, and a directory as an unpacked OVA", async () => {
    const p = pack();
    const chunks: Buffer[] = [];
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    const done = new Promise<void>((resolve) => p.on("end", () => resolve()));
    p.entry({ name: "o.ovf" }, ovf);
    p.finalize();
    await done;
    expect(await readSource(write("archive.bin", Buffer.concat(chunks)))).toMatchObject({ format: "ova", source: { name: "o" }, ova: { ovf: "o.ovf" } });
    const dir = join(work, "unpacked");
    mkdirSync(dir);
    writeFileSync(join(dir, "o.ovf"), ovf);
    expect(await readSource(dir)).toMatchObject({ format: "ova", source: { name: "o" } });
  });

  it("names the formats it knows when it meets another", async () => {
    const err = await readSource(write("e.txt", "hello\nworld\n")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtXmlError);
    expect((err as LibvirtXmlError).code).toBe("LIBVIRT_XML_UNKNOWN_FORMAT");
    expect((err as LibvirtXmlError).message).toMatch(/libvirt domain XML.*OVF.*OVA.*vmx.*Xen/);
    expect(await codeOf(readSource(write("f.xml", "<html><body/></html>")))).toBe("LIBVIRT_XML_UNKNOWN_FORMAT");
    expect(await codeOf(readSource(write("g.bin", Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]))))).toBe("LIBVIRT_XML_UNKNOWN_FORMAT");
  });

  it("refuses a large non-tar file without reading it", async () => {
    const big = join(work, "disk.img");
    writeFileSync(big, "");
    truncateSync(big, 1024 ** 3);
    expect(await codeOf(readSource(big))).toBe("LIBVIRT_XML_TOO_LARGE");
  });

  it("passes errors of the detected reader through", async () => {
    expect(await codeOf(readSource(write("h.xml", `<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>`)))).toBe("LIBVIRT_XML_ENTITY");
    expect(await codeOf(() => readSourceBytes(Buffer.from(vmx + 'memSize = "512"\n')))).toBe("LIBVIRT_XML_INVALID");
  });

  it("tells formats apart on their first lines", () => {
    expect(detectFormat(Buffer.from("<node><domain type='test'><name>n</name></domain></node>"))).toBe("libvirt");
    expect(detectFormat(Buffer.from('\uFEFF<?xml version="1.0"?><Envelope/>'))).toBe("ovf");
    expect(detectFormat(Buffer.from('displayName = "x"\nguestOS = "other"\n'))).toBe("vmx");
    expect(detectFormat(Buffer.from("name = 'x'\nbuilder = 'hvm'\n"))).toBe("xen");
    expect(detectFormat(Buffer.from("name = 'x'\n"))).toBeUndefined();
  });
});

describe("readSourceBytes fuzzing", () => {
  // Whatever the bytes, the answer is a source or a typed error, whichever reader detection picks.
  function outcome(bytes: Uint8Array): void {
    try {
      expect(typeof readSourceBytes(bytes).source.name).toBe("string");
    } catch (err) {
      if (!(err instanceof LibvirtXmlError)) throw err;
    }
  }

  it("random bytes and spliced formats", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => outcome(b)), { numRuns: 800 });
    const seeds = [domain, ovf, vmx, xen];
    fc.assert(
      fc.property(fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.nat(), fc.nat(), (a, b, i, j) => {
        const x = seeds[a]!;
        const y = seeds[b]!;
        outcome(Buffer.from(x.slice(0, i % (x.length + 1)) + y.slice(j % (y.length + 1))));
      }),
      { numRuns: 800 },
    );
  });
});
