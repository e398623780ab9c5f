import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LibvirtXmlError } from "./errors.js";
import { parseDiskSpec, parseXenConfig, readXenConfig } from "./xen-config.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof LibvirtXmlError) return err.code;
    throw err;
  }
}

// An xm-era paravirtualized guest, as written under /etc/xen.
const pvGuest = `#  -*- mode: python; -*-
name = "web01"
uuid = "3f1f4ac8-0e0b-4c1b-9d3e-2c5d1f0e4a11"
memory = 1024
maxmem = 2048
vcpus = 2
bootloader = "/usr/bin/pygrub"
extra = 'console=hvc0 xencons=tty'
root = "/dev/xvda2 ro"
disk = [ 'phy:/dev/vg0/web01-disk,xvda,w',
         'file:/srv/xen/web01-swap.img,xvdb,w',   # swap
         'tap:qcow2:/srv/xen/web01-data.qcow2,xvdc,w', ]
vif = [ 'mac=00:16:3E:12:34:56, bridge=xenbr0' ,
        'bridge=xenbr1,model=e1000' ]
on_poweroff = 'destroy'; on_reboot = 'restart'
`;

// An xl HVM guest with keyword disk specs, a CD-ROM and VNC.
const hvmGuest = `
name="win"
type="hvm"
memory=4096
vcpus=4
bios="ovmf"
acpi=1
apic=1
pae=0
disk=[
  "format=qcow2, vdev=hda, access=rw, target=/var/lib/xen/images/win,with,commas.qcow2",
  "/var/lib/xen/images/data.raw,raw,hdb,rw",
  "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/isos/win.iso",
  ",hdd:cdrom,r",
]
vif=["mac=00:16:3e:aa:bb:cc,bridge=br0,model=rtl8139,type=ioemu"]
vnc=1
vnclisten="127.0.0.1"
vncunused=0
vncdisplay=3
soundhw='hda'
kernel = 0x10
`;

describe("parseXenConfig", () => {
  it("reads strings, numbers, lists across lines, comments and ';'", () => {
    const cfg = parseXenConfig(pvGuest);
    expect(cfg.get("name")).toBe("web01");
    expect(cfg.get("memory")).toBe(1024);
    expect(cfg.get("disk")).toHaveLength(3);
    expect(cfg.get("on_reboot")).toBe("restart");
    expect(parseXenConfig("a = 'it\\'s'\nb = [[1, 2], []]\nc = -0x1F\n")).toEqual(
      new Map<string, unknown>([
        ["a", "it's"],
        ["b", [[1, 2], []]],
        ["c", -31],
      ]),
    );
  });

  it("lets the last of a repeated setting win, as xl does", () => {
    expect(parseXenConfig("memory = 1\nmemory = 2\n").get("memory")).toBe(2);
  });

  it("refuses what is not the cfg syntax", () => {
    for (const bad of ["memory = 512 * 2\n", "name = 'open\n", "disk = ['a',\n", "= 3\n", "name = foo()\n", "x = [" + "[".repeat(20) + "]".repeat(21) + "\n", "import os\n"]) {
      expect(codeOf(() => parseXenConfig(bad)), bad).toBe("LIBVIRT_XML_MALFORMED");
    }
    expect(codeOf(() => parseXenConfig("x = 1\n".repeat(300_000)))).toBe("LIBVIRT_XML_TOO_LARGE");
  });
});

describe("readXenConfig", () => {
  it("reads a PV guest: pygrub, xvd disks with their formats, bridged vifs", () => {
    const s = readXenConfig(pvGuest);
    expect(s).toMatchObject({ name: "web01", hypervisor: "xen", memoryBytes: 1024 * 1024 ** 2, vcpus: 2, firmware: "unknown", osType: "xen", bootloader: "/usr/bin/pygrub", cmdline: "root=/dev/xvda2 ro console=hvc0 xencons=tty" });
    expect(s.features).toEqual([]);
    expect(s.disks.map((d) => [d.path, d.format, d.bus, d.targetDev])).toEqual([
      ["/dev/vg0/web01-disk", "raw", "xen", "xvda"],
      ["/srv/xen/web01-swap.img", "raw", "xen", "xvdb"],
      ["/srv/xen/web01-data.qcow2", "qcow2", "xen", "xvdc"],
    ]);
    expect(s.nics).toEqual([
      { kind: "bridge", name: "xenbr0", mac: "00:16:3e:12:34:56", model: undefined },
      { kind: "bridge", name: "xenbr1", mac: undefined, model: "e1000" },
    ]);
  });

  it("reads an HVM guest: UEFI, IDE disks, CD-ROMs with their slots, VNC", () => {
    const s = readXenConfig(hvmGuest);
    expect(s).toMatchObject({ name: "win", firmware: "uefi", osType: "hvm", sound: "hda", kernel: "16", display: { type: "vnc", listen: "127.0.0.1", port: 5903 } });
    expect(s.features).toEqual(["acpi", "apic"]);
    expect(s.disks.map((d) => [d.path, d.format, d.bus, d.slot])).toEqual([
      ["/var/lib/xen/images/win,with,commas.qcow2", "qcow2", "ide", 0],
      ["/var/lib/xen/images/data.raw", "raw", "ide", 1],
    ]);
    expect(s.removables).toEqual([
      { type: "cdrom", bus: "ide", slot: 2, path: "/isos/win.iso" },
      { type: "cdrom", bus: "ide", slot: 3, path: undefined },
    ]);
    expect(s.nics).toEqual([{ kind: "bridge", name: "br0", mac: "00:16:3e:aa:bb:cc", model: "rtl8139" }]);
  });

  it("reads xm's old builder='hvm' and cdrom suffixes", () => {
    const s = readXenConfig("name='old'\nbuilder='hvm'\nmemory=512\ndisk=['file:/x.img,hda,w','phy:/dev/sr0,hdc:cdrom,r']\n");
    expect(s.firmware).toBe("bios");
    expect(s.removables).toEqual([{ type: "cdrom", bus: "ide", slot: 2, path: "/dev/sr0" }]);
    expect(parseDiskSpec("tap:aio:/x.img,xvda,w", false)).toMatchObject({ path: "/x.img", format: "raw", vdev: "xvda", bus: "xen", cdrom: false });
    expect(parseDiskSpec("tap2:vhd:/x.vhd,xvda,w", false)).toMatchObject({ path: "/x.vhd", format: "vpc" });
  });

  it("refuses settings of the wrong type", () => {
    expect(codeOf(() => readXenConfig("memory = 512\n"))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readXenConfig("name = 'x'\nmemory = 'lots'\n"))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readXenConfig("name = 'x'\ndisk = [1, 2]\n"))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readXenConfig("name = ['x']\n"))).toBe("LIBVIRT_XML_INVALID");
    expect(codeOf(() => readXenConfig("name = 'x'\nvcpus = 100000\n"))).toBe("LIBVIRT_XML_INVALID");
  });
});

function outcome(text: string): void {
  try {
    const s = readXenConfig(text);
    expect(s.hypervisor).toBe("xen");
    expect(Number.isSafeInteger(s.memoryBytes)).toBe(true);
  } catch (err) {
    if (!(err instanceof LibvirtXmlError)) throw err;
  }
}

describe("Xen cfg fuzzing", () => {
  it("random text and random settings", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => outcome(s)), { numRuns: 1500 });
    const value = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small" }, fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)), fc.integer().map(String), fc.array(tie("value"), { maxLength: 4 }).map((xs) => `[${xs.join(", ")}]`)),
    })).value;
    const setting = fc.tuple(fc.constantFrom("name", "memory", "vcpus", "disk", "vif", "type", "builder", "bios", "vnc", "acpi", "x"), value).map(([k, v]) => `${k} = ${v}`);
    fc.assert(fc.property(fc.array(setting, { maxLength: 12 }), (ls) => outcome(ls.join("\n"))), { numRuns: 1500 });
  });

  it("mutated real configurations", () => {
    const seeds = [pvGuest, hvmGuest];
    const mutation = fc.record({
      seed: fc.nat({ max: seeds.length - 1 }),
      edits: fc.array(fc.tuple(fc.nat(), fc.boolean(), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 6 }),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let text = seeds[seed]!;
        for (const [at, insert, s] of edits) {
          const i = at % (text.length + 1);
          text = insert ? text.slice(0, i) + s + text.slice(i) : text.slice(0, i) + text.slice(i + s.length + 1);
        }
        outcome(text);
      }),
      { numRuns: 2000 },
    );
  });
});
