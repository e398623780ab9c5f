// Every text parser fed random and mutated input (fast-check, seeded, a few seconds): none may
// throw or hang, and what they return keeps its shape. The seeds are real files of the kinds the
// parsers read; mutations flip, drop and repeat their bytes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseBlsEntry, parseGrub2Cfg, parseGrubEnv, parseGrubLegacy, pickDefault } from "./boot-config.js";
import { parseDpkgStatus } from "./dpkg-status.js";
import { elfArchitecture } from "./elf.js";
import { parseFstab, resolveFstabSpec } from "../guestfs/fstab.js";
import { checkKnownHosts } from "../guestfs/known-hosts.js";
import { parseProcNetTcp } from "../guestfs/listening-ports.js";
import { parseDebianInterfaces, parseIfcfg, parseNetplan, parseNmKeyfile } from "./network-config.js";
import { osinfoShortId, parseLsbRelease, parseOsRelease, parseReleaseFile, releaseFiles } from "./os-release.js";
import { parseRpmHeaderBlob } from "./rpm-header.js";
import { isUpstartJobStartedOnEvent, parseModprobeAliases, parseShellVars } from "../text.js";

const seeds = [
  '# /etc/fstab\nUUID=3c1f5a2e-8d47-4b6a-9e10-6a2f8c4d7b91 / ext4 defaults 1 1\n/dev/mapper/centos-swap swap swap defaults 0 0\nLABEL=boot\\040x /boot xfs ro 0 2\n',
  'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n',
  "default=0\ntimeout=5\ntitle CentOS (2.6.32)\n\troot (hd0,0)\n\tkernel /boot/vmlinuz-2.6.32 ro root=/dev/xvda1 console=hvc0\n\tinitrd /boot/initramfs-2.6.32.img\n",
  "set default=\"${saved_entry}\"\ninsmod blscfg\nblscfg\nmenuentry 'Debian' {\n\tlinux /vmlinuz-6.1 root=UUID=x ro\n\tinitrd /initrd.img-6.1\n}\nsubmenu 'Adv' {\n menuentry \"x\\\"y\" {\n  linux /v\n }\n}\n",
  "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=192.0.2.10\nNETMASK=255.255.255.0\nHWADDR=00:16:3E:5D:C7:9E\nONBOOT=yes\n",
  "auto lo\niface lo inet loopback\nallow-hotplug ens3\niface ens3 inet static\n address 192.0.2.7\n netmask 255.255.255.0\n gateway 192.0.2.1\n",
  "network:\n  ethernets:\n    enp1s0:\n      dhcp4: true\n      addresses: [10.0.0.2/24, '10.0.0.3/24']\n    enp2s0:\n      addresses:\n        - 10.1.0.2/16\n",
  "[connection]\nid=eth0\ninterface-name=eth0\n[ipv4]\naddress1=192.0.2.9/24,192.0.2.1\nmethod=manual\n",
  "Package: apache2\nStatus: install ok installed\nVersion: 1:2.4.57-2\nArchitecture: amd64\nDescription: Apache\n more\n\nPackage: x\nStatus: install ok installed\nVersion: 1\n",
  "  sl  local_address rem_address   st\n   0: 0100007F:0CEA 00000000:0000 0A 0\n   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A\n",
];

/** A seed with bytes flipped, cut, duplicated — structured noise the parsers must survive. */
const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.integer({ min: 0, max: 3 })), { maxLength: 12 })).map(([seed, edits]) => {
  let s = seed;
  for (const [pos, byte, kind] of edits) {
    const at = s.length === 0 ? 0 : pos % s.length;
    if (kind === 0) s = s.slice(0, at) + String.fromCharCode(byte) + s.slice(at + 1);
    else if (kind === 1) s = s.slice(0, at) + s.slice(at + 1 + (byte % 16));
    else if (kind === 2) s = s.slice(0, at) + s.slice(at, at + (byte % 64)).repeat(3) + s.slice(at);
    else s = s.slice(0, at) + ["\n", "\"", "'", "{", "}", "=", "\\", "#", ":", "-", "\0"][byte % 11] + s.slice(at);
  }
  return s;
});
const anyText = fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: "binary", maxLength: 400 }), mutated);

const volumes = [
  { device: "/dev/sda1", uuid: "3c1f5a2e-8d47-4b6a-9e10-6a2f8c4d7b91", label: "boot", partUuid: "0a1b2c3d-01" },
  { device: "/dev/centos/root", uuid: "x", label: undefined, partUuid: undefined },
];

describe("text parsers under random and mutated input", () => {
  it("never throw, and return the documented shapes", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        for (const e of parseFstab(text)) {
          expect(typeof e.spec).toBe("string");
          const d = resolveFstabSpec(e.spec, volumes, 2, "/dev/sda1");
          expect(d === undefined || typeof d === "string").toBe(true);
        }
        const os = parseOsRelease(text);
        if (os) expect(osinfoShortId(os)).toMatch(/^[a-z]/);
        parseLsbRelease(text);
        for (const f of releaseFiles) parseReleaseFile(f, text);
        const legacy = parseGrubLegacy(text);
        pickDefault(legacy.entries, legacy.default, undefined);
        const g2 = parseGrub2Cfg(text);
        pickDefault(g2.entries, g2.defaultSet, "1>0");
        parseBlsEntry("id", text);
        parseGrubEnv(text);
        parseIfcfg("/etc/sysconfig/network-scripts/ifcfg-x", text);
        for (const i of parseDebianInterfaces("/etc/network/interfaces", text)) expect(Array.isArray(i.addresses)).toBe(true);
        parseNetplan("/etc/netplan/x.yaml", text);
        parseNmKeyfile("/etc/NetworkManager/system-connections/x", text);
        for (const a of parseDpkgStatus(text).applications) expect(Number.isInteger(a.epoch)).toBe(true);
        for (const p of parseProcNetTcp(text, "tcp")) expect(p.port).toBeLessThan(65536);
        parseShellVars(text);
        parseModprobeAliases(text);
        isUpstartJobStartedOnEvent(text);
        checkKnownHosts(text, "127.0.0.1", 22, new Uint8Array([1, 2, 3]));
      }),
      { seed: 4242, numRuns: 1500 },
    );
  });

  it("binary parsers refuse lying headers without throwing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const app = parseRpmHeaderBlob(bytes);
        if (app) expect(app.name.length).toBeGreaterThan(0);
        const arch = elfArchitecture(bytes);
        expect(arch === undefined || typeof arch === "string").toBe(true);
      }),
      { seed: 7, numRuns: 3000 },
    );
  });

  it("stays fast on pathological sizes", () => {
    const t0 = Date.now();
    parseFstab("a b\n".repeat(200_000));
    parseGrub2Cfg("{".repeat(100_000) + "menuentry 'x' {\n".repeat(20_000));
    parseDpkgStatus("Package: a\nStatus: install ok installed\nVersion: 1\n\n".repeat(50_000));
    parseShellVars(`A="${"\\\"".repeat(100_000)}"`);
    // Inputs that make naive regular expressions backtrack quadratically.
    const blanks = " ".repeat(200_000);
    parseNetplan("x.yaml", `network:\n  ethernets:\n${blanks}x\n`);
    parseModprobeAliases("\n".repeat(500_000) + blanks);
    isUpstartJobStartedOnEvent("\n".repeat(500_000));
    parseReleaseFile("/etc/redhat-release", "Red Hat release 1 ".repeat(100_000));
    parseReleaseFile("/etc/centos-release", "CentOS" + " release 1".repeat(200_000));
    checkKnownHosts(`${"*a".repeat(40)} ssh-ed25519 AAAA\n`, "a".repeat(60) + "b", 22, new Uint8Array([1]));
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
