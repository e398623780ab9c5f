import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { parseVmx, readVmx } from "./vmx.js";

const lines = (...l: string[]) => l.join("\n") + "\n";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof LibvirtXmlError) return err.code;
    throw err;
  }
}

describe("parseVmx", () => {
  it("reads quoted and bare values, comments, and |XX escapes; keys are case-insensitive", () => {
    const vmx = parseVmx(lines('# a comment', '', '.encoding = "UTF-8"', 'displayName = "a |22quoted|22 |7C name |23 x"   # trailing', "memSize = 512", 'Ethernet0.NetworkName = "VM Network"'));
    expect(vmx.get("displayname")).toBe('a "quoted" | name # x');
    expect(vmx.get("memsize")).toBe("512");
    expect(vmx.get("ethernet0.networkname")).toBe("VM Network");
  });

  it("decodes the file with its own .encoding", () => {
    // "é" is 0xE9 and "€" 0x80 in windows-1252; as UTF-8 these bytes would be invalid.
    const bytes = Buffer.concat([Buffer.from('.encoding = "windows-1252"\ndisplayName = "caf'), Buffer.from([0xe9, 0x20, 0x80]), Buffer.from('"\n')]);
    expect(readVmx(bytes).name).toBe("caf\u00e9 \u20ac");
  });

  it("refuses bytes that are not text in the declared encoding", () => {
    const bytes = Buffer.concat([Buffer.from('.encoding = "UTF-8"\ndisplayName = "'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"\n')]);
    expect(codeOf(() => parseVmx(bytes))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => parseVmx(Buffer.from('.encoding = "no-such-charset"\n')))).toBe("LIBVIRT_XML_UNSUPPORTED");
  });

  it("refuses binary junk", () => {
    expect(codeOf(() => parseVmx('displayName = "x"\n\u0000\u0001\u0002garbage\n'))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => parseVmx(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00])))).toBe("LIBVIRT_XML_MALFORMED");
  });

  it("accepts a key repeated with the same value and refuses one repeated with another", () => {
    expect(parseVmx(lines('memSize = "512"', 'memsize = "512"')).get("memsize")).toBe("512");
    const err = (() => {
      try {
        parseVmx(lines('scsi0:0.fileName = "a.vmdk"', 'scsi0:0.FILENAME = "b.vmdk"'));
      } catch (e) {
        return e as LibvirtXmlError;
      }
      return undefined;
    })();
    expect(err?.code).toBe("LIBVIRT_XML_INVALID");
    expect(err?.message).toMatch(/twice/);
  });

  it("refuses malformed lines and bad escapes", () => {
    expect(codeOf(() => parseVmx("just words\n"))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => parseVmx('key = "unterminated\n'))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => parseVmx('key = "a" junk\n'))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => parseVmx('key = "bad |ZZ escape"\n'))).toBe("LIBVIRT_XML_MALFORMED");
    expect(codeOf(() => parseVmx('bad key = "x"\n'))).toBe("LIBVIRT_XML_MALFORMED");
  });

  it("bounds the file size", () => {
    expect(codeOf(() => parseVmx(`displayName = "${"x".repeat(5 * 1024 * 1024)}"\n`))).toBe("LIBVIRT_XML_TOO_LARGE");
    expect(codeOf(() => parseVmx(`a = "${"x".repeat(70_000)}"\n`))).toBe("LIBVIRT_XML_TOO_LARGE");
  });
});

describe("readVmx", () => {
  const vm = lines(
    'displayName = "db"',
    'guestOS = "rhel8-64"',
    'memSize = "4096"',
    'numvcpus = "4"',
    'cpuid.coresPerSocket = "2"',
    'scsi0.present = "TRUE"',
    'scsi0:1.present = "TRUE"',
    'scsi0:1.fileName = "db_1.vmdk"',
    'scsi0:0.present = "TRUE"',
    'scsi0:0.deviceType = "scsi-hardDisk"',
    'scsi0:0.fileName = "db.vmdk"',
    'scsi0:2.present = "FALSE"',
    'scsi0:2.fileName = "gone.vmdk"',
    'nvme0:0.present = "TRUE"',
    'nvme0:0.fileName = "/vmfs/volumes/ds/db/fast.vmdk"',
    'ide0:0.present = "TRUE"',
    'ide0:0.deviceType = "ata-hardDisk"',
    'ide0:0.fileName = "boot.vmdk"',
    'ide0:1.present = "TRUE"',
    'ide0:1.fileName = "untyped-ide.vmdk"',
    'sata0:0.fileName = "no-present-key.vmdk"',
    'nvme0:1.present = "TRUE"',
    'nvme0:1.deviceType = "disk"',
    'nvme0:1.fileName = "typed-nvme.vmdk"',
    'scsi0:3.present = "TRUE"',
    'scsi0:3.deviceType = "plainDisk"',
    'scsi0:3.fileName = "plain.vmdk"',
    'ide1:1.present = "TRUE"',
    'ide1:1.deviceType = "cdrom-raw"',
    'ide1:1.fileName = "/dev/cdrom"',
    'sata0:1.present = "TRUE"',
    'sata0:1.deviceType = "cdrom-image"',
    'sata0:1.fileName = "x.iso"',
    'floppy0.present = "TRUE"',
    'floppy0.fileType = "file"',
    'floppy0.fileName = "f.flp"',
    'ethernet1.present = "TRUE"',
    'ethernet1.addressType = "static"',
    'ethernet1.address = "00:50:56:AA:BB:CC"',
    'ethernet1.virtualDev = "e1000"',
    'ethernet1.networkName = "Backend"',
    'ethernet0.present = "TRUE"',
    'ethernet0.addressType = "generated"',
    'ethernet0.generatedAddress = "00:0c:29:00:00:01"',
    'ethernet2.present = "FALSE"',
    'ethernet2.networkName = "off"',
  );

  it("follows virt-v2v: disks by bus (SCSI, NVMe, SATA, IDE) then controller and unit, with its device types", () => {
    const s = readVmx(vm, { baseDir: "/vms/db" });
    // vmx.int.test.ts checks the same rules against virt-v2v itself.
    expect(s.disks.map((d) => [d.bus, d.controller, d.slot, d.path])).toEqual([
      ["scsi", 0, 0, "/vms/db/db.vmdk"],
      ["scsi", 0, 1, "/vms/db/db_1.vmdk"],
      ["scsi", 0, 3, "/vms/db/plain.vmdk"],
      ["nvme", 0, 0, "/vmfs/volumes/ds/db/fast.vmdk"],
      ["sata", 0, 0, "/vms/db/no-present-key.vmdk"],
      ["ide", 0, 0, "/vms/db/boot.vmdk"],
    ]);
    expect(s.disks.every((d) => d.format === "vmdk")).toBe(true);
  });

  it("reports IDE CD-ROMs with slot controller×2+unit, and present floppies", () => {
    expect(readVmx(vm).removables).toEqual([
      { type: "cdrom", bus: "ide", slot: 3, path: undefined },
      { type: "floppy", bus: "fdc", slot: 0, path: "f.flp" },
    ]);
  });

  it("reads NICs in order with their MAC by address type", () => {
    expect(readVmx(vm).nics).toEqual([
      { kind: "bridge", name: "ethernet0", mac: "00:0c:29:00:00:01", model: undefined },
      { kind: "network", name: "Backend", mac: "00:50:56:aa:bb:cc", model: "e1000" },
    ]);
  });

  it("reads memory, vCPUs and topology; BIOS unless firmware = efi", () => {
    const s = readVmx(vm);
    expect(s).toMatchObject({ name: "db", guestOs: "rhel8-64", hypervisor: "vmware", memoryBytes: 4096 * 1024 ** 2, vcpus: 4, firmware: "bios", secureBoot: false });
    expect(s.cpu).toMatchObject({ sockets: 2, cores: 2, threads: 1 });
    expect(readVmx(lines('displayName = "x"', 'firmware = "efi"', 'uefi.secureBoot.enabled = "TRUE"'))).toMatchObject({ firmware: "uefi", secureBoot: true, memoryBytes: 32 * 1024 ** 2, vcpus: 1 });
  });

  it("needs a name: displayName, else the fallback", () => {
    expect(codeOf(() => readVmx('memSize = "1"\n'))).toBe("LIBVIRT_XML_INVALID");
    expect(readVmx('memSize = "1"\n', { fallbackName: "file" }).name).toBe("file");
    expect(codeOf(() => readVmx('displayName = "x"\nmemSize = "lots"\n'))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readVmx('displayName = "x"\nnumvcpus = "999999"\n'))).toBe("LIBVIRT_XML_INVALID");
  });
});

// Every outcome of any input is a GuestSource or a LibvirtXmlError: nothing else is thrown, nothing hangs.
function outcome(input: string | Uint8Array): void {
  try {
    const s = readVmx(input);
    expect(typeof s.name).toBe("string");
    expect(Number.isSafeInteger(s.memoryBytes)).toBe(true);
  } catch (err) {
    if (!(err instanceof LibvirtXmlError)) throw err;
  }
}

const corpus = join(fileURLToPath(new URL("../../..", import.meta.url)), "..", "shared", "corpus", "virt-v2v");
const seeds = [vmSample(), ...(existsSync(corpus) ? readdirSync(corpus).filter((f) => f.endsWith(".vmx")).map((f) => readFileSync(join(corpus, f), "utf8")) : [])];

function vmSample(): string {
  return lines('.encoding = "UTF-8"', 'displayName = "fuzz |22x|22"', 'memSize = "2048"', 'scsi0:0.present = "TRUE"', 'scsi0:0.fileName = "a.vmdk"', 'ide1:0.present = "TRUE"', 'ide1:0.deviceType = "atapi-cdrom"', 'ethernet0.present = "TRUE"', 'ethernet0.addressType = "vpx"', 'ethernet0.generatedAddress = "00:50:56:00:00:01"', 'vm.genid = "-1"', 'vm.genidX = "2"');
}

describe("VMX fuzzing", () => {
  it("random text and bytes", () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => outcome(s)), { numRuns: 1500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => outcome(b)), { numRuns: 1500 });
    const line = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_.:]{1,20}$/), fc.string({ maxLength: 30 })).map(([k, v]) => `${k} = "${v}"`);
    fc.assert(fc.property(fc.array(line, { maxLength: 40 }), (ls) => outcome(ls.join("\n"))), { numRuns: 1500 });
  });

  it("mutated real files", () => {
    const mutation = fc.record({
      seed: fc.nat({ max: seeds.length - 1 }),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 8 }),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let text = seeds[seed]!;
        for (const [at, kind, insert] of edits) {
          const i = at % (text.length + 1);
          text = kind === 0 ? text.slice(0, i) + insert + text.slice(i) : kind === 1 ? text.slice(0, i) + text.slice(i + insert.length + 1) : text.slice(0, i) + insert + text.slice(i + insert.length);
        }
        outcome(text);
      }),
      { numRuns: 1500 },
    );
  });
});
