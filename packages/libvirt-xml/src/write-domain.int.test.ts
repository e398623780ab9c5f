// Every document writeDomainXml produces must be accepted by libvirt itself: its RNG schema
// (virt-xml-validate) and the test driver's define (virsh -c test:///default).
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { virtInstallCorpus } from "@leapp/zoo";
import { readDomainXml } from "./domain-xml.js";
import { LibvirtXmlError } from "./errors.js";
import type { Bus, GuestSource } from "./guest-source.js";
import { writeDomainXml, type WriteDomainOptions } from "./write-domain.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const v2vCorpus = join(repoRoot, "..", "shared", "corpus", "virt-v2v");
let work = "";
let sources: { name: string; source: GuestSource }[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "leapp-write-domain-"));
  sources = (await virtInstallCorpus()).map((c) => ({ name: `virt-install/${c.name}`, source: readDomainXml(c.xml) }));
  if (existsSync(v2vCorpus)) {
    for (const f of readdirSync(v2vCorpus).filter((f) => f.endsWith(".xml.in"))) {
      sources.push({ name: `virt-v2v/${f}`, source: readDomainXml(readFileSync(join(v2vCorpus, f), "utf8")) });
    }
  } else {
    console.warn(`${v2vCorpus} is absent: writing only from the virt-install corpus and built sources`);
  }
  sources.push(...builtSources());
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Sources as the foreign readers produce them: Xen PV, VMware, odd buses, odd models. */
function builtSources(): { name: string; source: GuestSource }[] {
  const base: GuestSource = {
    name: "built",
    hypervisor: "vmware",
    genid: undefined,
    memoryBytes: 2 * 1024 ** 3,
    vcpus: 4,
    cpu: { vendor: "Intel", model: "Skylake-Client", sockets: 2, cores: 2, threads: 1 },
    features: ["acpi", "apic", "pae"],
    firmware: "bios",
    secureBoot: false,
    display: undefined,
    sound: "es1371",
    disks: [
      { path: "[datastore1] vm/vm.vmdk", format: "vmdk", bus: "scsi", targetDev: undefined, controller: 0, slot: 0 },
      { path: "/srv/vm/data.vmdk", format: "vmdk", bus: "nvme", targetDev: undefined, controller: 0, slot: 1 },
    ],
    removables: [
      { type: "cdrom", bus: "ide", slot: 2, path: undefined },
      { type: "floppy", bus: undefined, slot: 0, path: "/srv/vm/floppy.flp" },
    ],
    nics: [
      { kind: "bridge", name: "VM Network", mac: "00:50:56:AB:CD:EF", model: "vmxnet3" },
      { kind: "network", name: undefined, mac: undefined, model: "e1000" },
      { kind: "user", name: undefined, mac: "52:54:00:12:34:56", model: "pcnet" },
    ],
  };
  const xen: GuestSource = {
    ...base,
    name: "xen-pv",
    hypervisor: "xen",
    osType: "linux",
    bootloader: "/usr/bin/pygrub",
    cpu: { vendor: undefined, model: undefined, sockets: undefined, cores: undefined, threads: undefined },
    vcpus: 1,
    sound: undefined,
    disks: [{ path: "/dev/vg/xen-root", format: undefined, bus: "xen", targetDev: "xvda", controller: undefined, slot: undefined }],
    removables: [],
    nics: [{ kind: "bridge", name: "xenbr0", mac: "00:16:3e:01:02:03", model: undefined }],
  };
  const uefi: GuestSource = { ...base, name: "uefi-sb", firmware: "uefi", secureBoot: true, display: { type: "spice", listen: "0.0.0.0", port: 5900 }, video: "qxl" };
  return [
    { name: "built/vmware", source: base },
    { name: "built/xen-pv", source: xen },
    { name: "built/uefi-sb", source: uefi },
  ];
}

const optionSets: { label: string; options: WriteDomainOptions }[] = [
  { label: "defaults", options: {} },
  { label: "qemu pc keep", options: { type: "qemu", machine: "pc", diskBus: "keep", nicModel: "keep", graphics: "vnc", cdromBus: "ide", firmware: "bios", secureBoot: false } },
  { label: "qemu q35 uefi spice scsi", options: { type: "qemu", machine: "q35", firmware: "uefi", graphics: "spice", diskBus: "scsi", cdromBus: "scsi", nicModel: "e1000e" } },
  { label: "secure boot sata headless", options: { type: "qemu", secureBoot: true, diskBus: "sata", graphics: "none", listen: "0.0.0.0" } },
];

async function accepted(file: string): Promise<void> {
  await run("virt-xml-validate", [file, "domain"]);
  const { stdout } = await run("virsh", ["-c", "test:///default", "define", file]);
  expect(stdout).toMatch(/defined/);
}

describe("writeDomainXml: libvirt accepts every document", () => {
  it("for every source and option set", async () => {
    const jobs: { what: string; file: string; xml: string }[] = [];
    for (const { name, source } of sources) {
      for (const { label, options } of optionSets) {
        // Sources with relative or datastore paths get their converted disks mapped, as a conversion would.
        const disks = source.disks.map((_, i) => ({ path: `/var/lib/libvirt/images/${source.name}-${i}.qcow2`, format: "qcow2" }));
        const xml = writeDomainXml(source, { baseDir: "/var/lib/libvirt/images", disks, ...options });
        const file = join(work, `${jobs.length}.xml`);
        writeFileSync(file, xml);
        jobs.push({ what: `${name} with ${label}`, file, xml });
        const back = readDomainXml(xml);
        expect(back.nics.map((nic) => nic.mac?.toLowerCase())).toEqual(source.nics.map((nic) => nic.mac?.toLowerCase()));
        expect(back.disks.length).toBe(source.disks.length);
        expect(back.removables.map((r) => r.type)).toEqual(source.removables.map((r) => r.type));
      }
    }
    // The virt-v2v corpus adds its sources where it is present (CI always has it).
    expect(jobs.length).toBeGreaterThanOrEqual(existsSync(v2vCorpus) ? 120 : 100);
    // Four checks at a time: each is a short process start, so this mostly hides latency.
    for (let i = 0; i < jobs.length; i += 4) {
      await Promise.all(
        jobs.slice(i, i + 4).map(async ({ what, file, xml }) => {
          try {
            await accepted(file);
          } catch (err) {
            throw new Error(`${what} was refused: ${(err as { stderr?: string }).stderr ?? String(err)}\n${xml}`);
          }
        }),
      );
    }
  });

  it("the source's own paths when they are absolute", async () => {
    const source = readDomainXml((await virtInstallCorpus()).find((c) => c.name === "sata-cdrom-sata")?.xml ?? "");
    const xml = writeDomainXml(source, { type: "qemu" });
    const file = join(work, "own-paths.xml");
    writeFileSync(file, xml);
    await accepted(file);
    expect(xml).toContain("<source file='/var/lib/libvirt/images/w.qcow2'/>");
    expect(xml).toContain("<source file='/srv/iso/win10.iso'/>");
  });

  it("for random GuestSources (fast-check), whatever the readers could produce", async () => {
    const buses: (Bus | undefined)[] = ["ide", "sata", "scsi", "virtio", "xen", "usb", "fdc", "nvme", "sd", undefined];
    const text = fc.string({ minLength: 1, maxLength: 24, unit: fc.constantFrom(..."abcXYZ019 -_.&<>'\"é€".split("")) });
    const mac = fc.tuple(fc.constantFrom("52:54:00", "00:50:56", "00:16:3e", "02:00:00"), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 3, maxLength: 3 }))
      .map(([oui, tail]) => `${oui}:${tail.map((b) => b.toString(16).padStart(2, "0")).join(":")}`);
    const source: fc.Arbitrary<GuestSource> = fc.record({
      name: text.filter((n) => !n.includes("/") && n.trim() !== ""),
      hypervisor: fc.constantFrom("kvm", "xen", "vmware", "vbox", "hyperv", "unknown"),
      genid: fc.option(fc.uuid(), { nil: undefined }),
      memoryBytes: fc.integer({ min: 64, max: 65536 }).map((mib) => mib * 1024 * 1024 + 512),
      vcpus: fc.integer({ min: 1, max: 64 }),
      cpu: fc.record({
        vendor: fc.option(fc.constantFrom("Intel", "AMD"), { nil: undefined }),
        model: fc.option(fc.constantFrom("Haswell", "EPYC", "weird model"), { nil: undefined }),
        sockets: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        cores: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
        threads: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
      }),
      features: fc.subarray(["acpi", "apic", "pae", "hap", "viridian"]),
      firmware: fc.constantFrom("bios", "uefi", "unknown"),
      secureBoot: fc.boolean(),
      display: fc.option(fc.record({ type: fc.constantFrom("vnc", "spice", "sdl", "rdp"), listen: fc.option(fc.ipV4(), { nil: undefined }), port: fc.option(fc.integer({ min: 5900, max: 5999 }), { nil: undefined }) }), { nil: undefined }),
      sound: fc.option(fc.constantFrom("ich9", "ac97", "es1371", "pcspk", "sb16"), { nil: undefined }),
      disks: fc.array(
        fc.record({
          path: text.map((t) => `/srv/vm/${t}`),
          format: fc.option(fc.constantFrom("raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc"), { nil: undefined }),
          bus: fc.constantFrom(...buses),
          targetDev: fc.option(fc.constantFrom("sda", "hda", "vdb", "xvda", "nvme0n1"), { nil: undefined }),
          controller: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
          slot: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
        }),
        { maxLength: 5 },
      ),
      removables: fc.array(
        fc.record({
          type: fc.constantFrom("cdrom", "floppy"),
          bus: fc.constantFrom(...buses),
          slot: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
          path: fc.option(text.map((t) => `/srv/iso/${t}.iso`), { nil: undefined }),
        }),
        { maxLength: 3 },
      ),
      nics: fc.array(
        fc.record({
          kind: fc.constantFrom("network", "bridge", "user"),
          // Network and bridge names as VMware and libvirt write them ("VM Network", "br0", "vlan/10").
          name: fc.option(fc.string({ minLength: 1, maxLength: 16, unit: fc.constantFrom(..."abVMNtwk019 -_.:/".split("")) }).filter((n) => n.trim() !== ""), { nil: undefined }),
          mac: fc.option(mac, { nil: undefined }),
          model: fc.option(fc.constantFrom("virtio", "e1000", "vmxnet3", "pcnet", "rtl8139", "Vlance"), { nil: undefined }),
        }),
        { maxLength: 4 },
      ),
    });
    const options = fc.record({
      type: fc.constantFrom("kvm", "qemu"),
      machine: fc.constantFrom("q35", "pc"),
      diskBus: fc.constantFrom("virtio", "keep", "sata", "scsi"),
      nicModel: fc.constantFrom("virtio", "keep", "e1000"),
      graphics: fc.constantFrom("vnc", "spice", "none"),
    }) as fc.Arbitrary<WriteDomainOptions>;
    let written = 0;
    const samples = fc.sample(fc.tuple(source, options), { numRuns: 80, seed: 2024 });
    for (const [i, [src, opts]] of samples.entries()) {
      let xml: string;
      try {
        xml = writeDomainXml(src, opts);
      } catch (err) {
        // Refusals are typed and explained (e.g. secure boot on i440fx, a bridge without a name).
        expect(err).toBeInstanceOf(LibvirtXmlError);
        expect((err as Error).message).toMatch(/secure boot needs the q35|format 'vhdx'|bridge with no name/);
        continue;
      }
      const file = join(work, `random-${i}.xml`);
      writeFileSync(file, xml);
      try {
        await accepted(file);
      } catch (err) {
        throw new Error(`random source ${i} was refused: ${(err as { stderr?: string }).stderr ?? String(err)}\n${JSON.stringify(src)}\n${xml}`);
      }
      written++;
    }
    expect(written).toBeGreaterThan(30);
  });
});
