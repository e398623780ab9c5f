// The text parsers on inputs written as the real systems write them.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseBlsEntry, parseGrub2Cfg, parseGrubEnv, parseGrubLegacy, pickDefault } from "./boot-config.js";
import { parseDpkgStatus, splitDebianVersion } from "./dpkg-status.js";
import { elfArchitecture } from "./elf.js";
import { parseFstab, resolveFstabSpec } from "../guestfs/fstab.js";
import { checkKnownHosts, sha256Fingerprint } from "../guestfs/known-hosts.js";
import { parseProcNetTcp } from "../guestfs/listening-ports.js";
import { parseDebianInterfaces, parseIfcfg, parseNetplan, parseNmKeyfile } from "./network-config.js";
import { osinfoShortId, packageManagementOf, parseLsbRelease, parseOsRelease, parseReleaseFile } from "./os-release.js";
import { parseRpmHeaderBlob } from "./rpm-header.js";
import { parseShellVars } from "../text.js";
import { rpmHeader } from "../testing/rpm-header-blob.js";

describe("release files", () => {
  it("reads os-release as libguestfs does", () => {
    const rocky = 'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n';
    expect(parseOsRelease(rocky)).toEqual({ distro: "rocky", productName: "Rocky Linux 9.3 (Blue Onyx)", majorVersion: 9, minorVersion: 3 });
    // Debian's VERSION_ID has no minor: libguestfs falls back to debian_version.
    expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n')).toBeUndefined();
    expect(parseOsRelease("ID=ubuntu\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\nVERSION_ID=\"22.04\"\n")).toMatchObject({ distro: "ubuntu", majorVersion: 22, minorVersion: 4 });
    expect(parseOsRelease("ID=weird\nPRETTY_NAME=x\nVERSION_ID=1\n")).toBeUndefined();
  });

  it("reads lsb-release and the release files", () => {
    expect(parseLsbRelease('DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=10.04\nDISTRIB_CODENAME=lucid\nDISTRIB_DESCRIPTION="Ubuntu 10.04.1 LTS"\n')).toEqual({ distro: "ubuntu", productName: "Ubuntu 10.04.1 LTS", majorVersion: 10, minorVersion: 4 });
    expect(parseReleaseFile("/etc/centos-release", "CentOS release 6.10 (Final)\n")).toEqual({ distro: "centos", productName: "CentOS release 6.10 (Final)", majorVersion: 6, minorVersion: 10 });
    expect(parseReleaseFile("/etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n")).toMatchObject({ majorVersion: 7, minorVersion: 9 });
    expect(parseReleaseFile("/etc/redhat-release", "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n")).toMatchObject({ distro: "rhel", majorVersion: 5, minorVersion: 11 });
    expect(parseReleaseFile("/etc/redhat-release", "Red Hat Enterprise Linux AS release 4 (Nahant Update 9)\n")).toMatchObject({ distro: "rhel", majorVersion: 4, minorVersion: 9 });
    expect(parseReleaseFile("/etc/redhat-release", "Fedora release 20 (Heisenbug)\n")).toMatchObject({ distro: "fedora", majorVersion: 20 });
    expect(parseReleaseFile("/etc/debian_version", "12.4\n")).toMatchObject({ distro: "debian", productName: "12.4", majorVersion: 12, minorVersion: 4 });
    expect(parseReleaseFile("/etc/SuSE-release", "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n")).toMatchObject({ distro: "sles", majorVersion: 11, minorVersion: 4 });
    expect(parseReleaseFile("/etc/redhat-release", "")).toBeUndefined();
  });

  it("derives osinfo ids and package managers like libguestfs", () => {
    expect(osinfoShortId({ distro: "centos", majorVersion: 6, minorVersion: 10 })).toBe("centos6.10");
    expect(osinfoShortId({ distro: "centos", majorVersion: 7, minorVersion: 9 })).toBe("centos7.0");
    expect(osinfoShortId({ distro: "centos", majorVersion: 8, minorVersion: 5 })).toBe("centos8");
    expect(osinfoShortId({ distro: "rhel", majorVersion: 7, minorVersion: 9 })).toBe("rhel7.9");
    expect(osinfoShortId({ distro: "rocky", majorVersion: 9, minorVersion: 3 })).toBe("rocky9");
    expect(osinfoShortId({ distro: "debian", majorVersion: 12, minorVersion: 4 })).toBe("debian12");
    expect(osinfoShortId({ distro: "ubuntu", majorVersion: 22, minorVersion: 4 })).toBe("ubuntu22.04");
    expect(osinfoShortId({ distro: "sles", majorVersion: 12, minorVersion: 3 })).toBe("sles12sp3");
    expect(osinfoShortId({ distro: "unknown", majorVersion: 0, minorVersion: 0 })).toBe("unknown");
    expect(packageManagementOf("centos", 6, false)).toBe("yum");
    expect(packageManagementOf("rocky", 9, true)).toBe("dnf");
    expect(packageManagementOf("fedora", 30, true)).toBe("dnf");
    expect(packageManagementOf("debian", 12, false)).toBe("apt");
  });
});

describe("fstab", () => {
  const volumes = [
    { device: "/dev/sda1", uuid: "3C1F5A2E-8D47-4B6A-9E10-6A2F8C4D7B91", label: "boot", partUuid: "0a1b2c3d-01" },
    { device: "/dev/sda2", uuid: undefined, label: undefined, partUuid: "0a1b2c3d-02" },
    { device: "/dev/sdb1", uuid: "1111", label: undefined, partUuid: undefined },
    { device: "/dev/vg-data/lv-home", uuid: "2222", label: undefined, partUuid: undefined },
    { device: "/dev/centos/root", uuid: "3333", label: undefined, partUuid: undefined },
  ];
  it("parses entries with octal escapes and comments", () => {
    expect(parseFstab("# c\nUUID=x /  ext4 defaults 1 1\nLABEL=My\\040Disk /mnt/my\\040disk xfs ro\nbad\n")).toEqual([
      { spec: "UUID=x", mountpoint: "/", vfstype: "ext4", options: "defaults" },
      { spec: "LABEL=My Disk", mountpoint: "/mnt/my disk", vfstype: "xfs", options: "ro" },
    ]);
  });
  it("resolves every kind of spec as libguestfs does", () => {
    expect(resolveFstabSpec("UUID=3c1f5a2e-8d47-4b6a-9e10-6a2f8c4d7b91", volumes, 2)).toBe("/dev/sda1");
    expect(resolveFstabSpec('LABEL="boot"', volumes, 2)).toBe("/dev/sda1");
    expect(resolveFstabSpec("PARTUUID=0A1B2C3D-02", volumes, 2)).toBe("/dev/sda2");
    expect(resolveFstabSpec("/dev/xvda2", volumes, 2)).toBe("/dev/sda2");
    expect(resolveFstabSpec("/dev/vdb1", volumes, 2)).toBe("/dev/sdb1");
    expect(resolveFstabSpec("/dev/hdc1", volumes, 2)).toBeUndefined();
    expect(resolveFstabSpec("/dev/mapper/vg--data-lv--home", volumes, 2)).toBe("/dev/vg-data/lv-home");
    expect(resolveFstabSpec("/dev/mapper/centos-root", volumes, 2)).toBe("/dev/centos/root");
    expect(resolveFstabSpec("/dev/centos/root", volumes, 2)).toBe("/dev/centos/root");
    expect(resolveFstabSpec("/dev/disk/by-uuid/1111", volumes, 2)).toBe("/dev/sdb1");
    expect(resolveFstabSpec("/dev/root", volumes, 2, "/dev/sda1")).toBe("/dev/sda1");
    expect(resolveFstabSpec("tmpfs", volumes, 2)).toBeUndefined();
  });
});

describe("packages", () => {
  it("reads installed packages from dpkg status", () => {
    const status = [
      "Package: apache2", "Status: install ok installed", "Architecture: amd64", "Source: apache2", "Version: 2.4.57-2", "Homepage: https://httpd.apache.org/", "Description: Apache HTTP Server", " The Apache HTTP Server Project's goal…", "",
      "Package: removed", "Status: deinstall ok config-files", "Version: 1.0-1", "Architecture: all", "",
      "Package: libc6", "Status: install ok installed", "Architecture: amd64", "Version: 2.36-9+deb12u4", "Description: GNU C Library: Shared libraries", "",
      "Package: tzdata", "Status: install ok installed", "Architecture: all", "Version: 1:2024a-0+deb12u1", "",
    ].join("\n");
    expect(parseDpkgStatus(status).applications).toEqual([
      { name: "apache2", epoch: 0, version: "2.4.57", release: "2", arch: "amd64", summary: "Apache HTTP Server", url: "https://httpd.apache.org/", sourcePackage: "apache2" },
      { name: "libc6", epoch: 0, version: "2.36", release: "9+deb12u4", arch: "amd64", summary: "GNU C Library: Shared libraries" },
      { name: "tzdata", epoch: 1, version: "2024a", release: "0+deb12u1", arch: "all" },
    ]);
    expect(splitDebianVersion("3.110")).toEqual({ epoch: 0, upstream: "3.110", revision: "" });
  });

  it("reads an rpm header blob and refuses one that lies", () => {
    const blob = rpmHeader([
      [1000, 6, "httpd"], [1001, 6, "2.2.15"], [1002, 6, "69.el6.centos"], [1003, 4, 1], [1004, 9, "Apache HTTP Server"], [1022, 6, "x86_64"], [1044, 6, "httpd-2.2.15-69.el6.centos.src.rpm"],
    ]);
    expect(parseRpmHeaderBlob(blob)).toEqual({ name: "httpd", epoch: 1, version: "2.2.15", release: "69.el6.centos", arch: "x86_64", summary: "Apache HTTP Server", sourcePackage: "httpd" });
    const lying = blob.slice();
    new DataView(lying.buffer).setUint32(4, 0x7fffffff);
    expect(parseRpmHeaderBlob(lying)).toBeUndefined();
    expect(parseRpmHeaderBlob(blob.subarray(0, 40))).toBeUndefined();
  });
});

describe("boot loaders", () => {
  it("reads grub legacy", () => {
    const cfg = parseGrubLegacy("default=1\ntimeout=5\ntitle A\n\troot (hd0,0)\n\tkernel /vmlinuz-a ro root=/dev/sda1\n\tinitrd /initrd-a.img\ntitle B\n\tkernel /vmlinuz-b ro\n");
    expect(pickDefault(cfg.entries, cfg.default, undefined)).toEqual({ title: "B", kernel: "/vmlinuz-b", initrd: undefined, options: "ro" });
  });
  it("reads grub2 menus, submenus and the saved entry", () => {
    const text = [
      "set default=\"${saved_entry}\"",
      "menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {",
      "\tlinux\t/vmlinuz-6.1.0-18-amd64 root=UUID=x ro quiet",
      "\tinitrd\t/initrd.img-6.1.0-18-amd64",
      "}",
      "submenu 'Advanced options for Debian GNU/Linux' {",
      "\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-17-amd64' {",
      "\t\tlinux /vmlinuz-6.1.0-17-amd64 root=UUID=x ro",
      "\t}",
      "}",
    ].join("\n");
    const cfg = parseGrub2Cfg(text);
    expect(cfg.entries.map((e) => e.kernel)).toEqual(["/vmlinuz-6.1.0-18-amd64", "/vmlinuz-6.1.0-17-amd64"]);
    expect(cfg.usesBls).toBe(false);
    expect(pickDefault(cfg.entries, "saved", "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-17-amd64")?.kernel).toBe("/vmlinuz-6.1.0-17-amd64");
    expect(parseGrubEnv("# GRUB Environment Block\nsaved_entry=abc-5.14\n#####").get("saved_entry")).toBe("abc-5.14");
  });
  it("reads BLS entries", () => {
    const e = parseBlsEntry("abc-5.14.0-362.el9.x86_64", "title Rocky Linux (5.14.0-362.el9.x86_64) 9.3\nversion 5.14.0-362.el9.x86_64\nlinux /vmlinuz-5.14.0-362.el9.x86_64\ninitrd /initramfs-5.14.0-362.el9.x86_64.img $tuned_initrd\noptions root=UUID=x ro\n");
    expect(e).toMatchObject({ title: "Rocky Linux (5.14.0-362.el9.x86_64) 9.3", version: "5.14.0-362.el9.x86_64", initrd: "/initramfs-5.14.0-362.el9.x86_64.img", options: "root=UUID=x ro" });
  });
});

describe("network configuration", () => {
  it("reads ifcfg", () => {
    expect(parseIfcfg("/etc/sysconfig/network-scripts/ifcfg-ens192", 'TYPE=Ethernet\nBOOTPROTO=none\nDEVICE=ens192\nONBOOT="yes"\nIPADDR=10.0.0.5\nNETMASK=255.255.255.0\nGATEWAY=10.0.0.1\nHWADDR=00:50:56:AA:BB:CC\n')).toEqual({
      name: "ens192", file: "/etc/sysconfig/network-scripts/ifcfg-ens192", format: "ifcfg", method: "static", addresses: ["10.0.0.5/24"], gateway: "10.0.0.1", macAddress: "00:50:56:aa:bb:cc", onBoot: true,
    });
  });
  it("reads Debian interfaces", () => {
    const r = parseDebianInterfaces("/etc/network/interfaces", "auto lo\niface lo inet loopback\n\nallow-hotplug ens3\niface ens3 inet static\n  address 192.0.2.7\n  netmask 255.255.255.0\n  gateway 192.0.2.1\n");
    expect(r[1]).toEqual({ name: "ens3", file: "/etc/network/interfaces", format: "interfaces", method: "static", addresses: ["192.0.2.7/24"], gateway: "192.0.2.1", onBoot: true });
  });
  it("reads netplan and NetworkManager keyfiles", () => {
    const np = parseNetplan("/etc/netplan/01.yaml", "network:\n  version: 2\n  ethernets:\n    enp1s0:\n      dhcp4: true\n    enp2s0:\n      addresses:\n        - 10.1.0.2/16\n      gateway4: 10.1.0.1\n");
    expect(np.map((i) => [i.name, i.method, i.addresses, i.gateway])).toEqual([["enp1s0", "dhcp", [], undefined], ["enp2s0", "static", ["10.1.0.2/16"], "10.1.0.1"]]);
    const nm = parseNmKeyfile("/etc/NetworkManager/system-connections/eth0.nmconnection", "[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\naddress1=192.0.2.9/24,192.0.2.1\nmethod=manual\n");
    expect(nm).toMatchObject({ name: "eth0", method: "static", addresses: ["192.0.2.9/24"], gateway: "192.0.2.1", onBoot: true });
  });
});

describe("small formats", () => {
  it("reads shell variables with quotes and comments", () => {
    expect([...parseShellVars("A=1\nB=\"two words\" # c\nC='x'y\nexport D=4\n#E=5\n")]).toEqual([["A", "1"], ["B", "two words"], ["C", "xy"], ["D", "4"]]);
  });
  it("reads ELF headers", () => {
    const h = new Uint8Array(64);
    h.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    h[18] = 183;
    expect(elfArchitecture(h)).toBe("aarch64");
    h[4] = 1;
    h[18] = 3;
    expect(elfArchitecture(h)).toBe("i386");
    expect(elfArchitecture(new Uint8Array(10))).toBeUndefined();
  });
  it("reads /proc/net/tcp listening sockets", () => {
    const tcp = "  sl  local_address rem_address   st\n   0: 0100007F:0CEA 00000000:0000 0A 0\n   1: 0100007F:0CEA 0100007F:9C40 01 0\n   2: 00000000:0016 00000000:0000 0A 0\n";
    expect(parseProcNetTcp(tcp, "tcp")).toEqual([{ protocol: "tcp", address: "0.0.0.0", port: 22 }, { protocol: "tcp", address: "127.0.0.1", port: 3306 }]);
    const tcp6 = "  sl  local_address\n   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A\n";
    expect(parseProcNetTcp(tcp6, "tcp6")).toEqual([{ protocol: "tcp6", address: "::1", port: 80 }]);
  });
  it("checks host keys against known_hosts, hashed names included", () => {
    const key = new Uint8Array([0, 0, 0, 11, ...new TextEncoder().encode("ssh-ed25519"), 1, 2, 3]);
    const b64 = Buffer.from(key).toString("base64");
    expect(checkKnownHosts(`[127.0.0.1]:2222 ssh-ed25519 ${b64}\n`, "127.0.0.1", 2222, key)).toBe("match");
    expect(checkKnownHosts(`127.0.0.1 ssh-ed25519 ${b64}\n`, "127.0.0.1", 2222, key)).toBe("unknown");
    expect(checkKnownHosts(`[127.0.0.1]:2222 ssh-ed25519 AAAA\n`, "127.0.0.1", 2222, key)).toBe("mismatch");
    expect(checkKnownHosts(`@revoked * ssh-ed25519 ${b64}\n[127.0.0.1]:2222 ssh-ed25519 ${b64}\n`, "127.0.0.1", 2222, key)).toBe("revoked");
    // A hashed entry as ssh-keygen -H writes it: |1|salt|HMAC-SHA1(salt, name).
    const salt = Buffer.alloc(20, 7);
    const mac = createHmac("sha1", salt).update("web01").digest("base64");
    expect(checkKnownHosts(`|1|${salt.toString("base64")}|${mac} ssh-ed25519 ${b64}\n`, "web01", 22, key)).toBe("match");
    expect(sha256Fingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
