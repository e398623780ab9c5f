// Test support (not exported from the package): an InspectionReport reduced to the facts a zoo guest's hand-written
// `expected` states, in the zoo's vocabulary, so tests compare the two with one toEqual.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildZooGuest, zooContainers, type ZooExpected, type ZooGuestName } from "@leapp/zoo";
import { openDirectoryGuest } from "../guestfs/directory-guest.js";
import { openImageGuest } from "../guestfs/image-guest.js";
import { inspect } from "../os/inspect.js";
import type { InspectionReport } from "../report/report.js";
import { toVirtInspectorXml } from "../report/virt-inspector-xml.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
/** virt-inspector's schema, shipped beside the repository (also in Debian's guestfs-tools). */
export const virtInspectorRng = join(repoRoot, "..", "shared", "schemas", "virt-inspector.rng");

export function factsOfReport(r: InspectionReport, expected: ZooExpected) {
  return {
    osType: r.os.type,
    distro: r.os.distro,
    productName: r.os.productName,
    majorVersion: r.os.majorVersion,
    minorVersion: r.os.minorVersion,
    arch: r.os.arch,
    hostname: r.os.hostname,
    packageFormat: r.os.packageFormat,
    packageManagement: r.os.packageManagement,
    osinfo: r.os.osinfo,
    root: r.root,
    mountpoints: Object.fromEntries(r.mountpoints.map((m) => [m.mountpoint, m.device])),
    filesystems: r.filesystems.map((f) => ({ device: f.device, type: f.type, uuid: f.uuid, label: f.label ?? "" })),
    applications: r.applications.map((a) => ({ name: a.name, epoch: a.epoch, version: a.version, release: a.release, arch: a.arch, summary: a.summary ?? "" })),
    bootloader: r.boot?.loader ?? null,
    kernels: r.kernels.map((k) => ({ version: k.version, path: k.path, initrd: k.initrd ?? null, xen: k.xen })),
    defaultKernel: r.boot?.defaultKernel ?? null,
    // Each expected tool must be among what we found (we report more evidence than the zoo lists).
    hypervisorTools: expected.hypervisorTools.filter((t) => r.hypervisorTools.some((h) => h.hypervisor === t.hypervisor && h.name === t.what)),
    initSystem: r.init.type,
    services: r.services.filter((s) => s.atBoot && s.manager === (r.init.type === "systemd" ? "systemd" : "sysv")).map((s) => s.name.replace(/\.service$/, "")).sort(),
    interfaces: r.network.map((n) => ({
      name: n.name,
      configFile: n.file,
      configFormat: n.format === "networkmanager" ? "keyfile" : n.format,
      method: n.method,
      address: n.addresses[0] ?? null,
      gateway: n.gateway ?? null,
      mac: n.macAddress ?? null,
      onBoot: n.onBoot,
    })),
  };
}

/** The zoo's expected facts, in the same shape. */
export function factsOfExpected(e: ZooExpected) {
  return {
    osType: e.osType,
    distro: e.distro,
    productName: e.productName,
    majorVersion: e.majorVersion,
    minorVersion: e.minorVersion,
    arch: e.arch,
    hostname: e.hostname,
    packageFormat: e.packageFormat,
    packageManagement: e.packageManagement,
    osinfo: e.osinfo,
    root: e.root,
    mountpoints: e.mountpoints,
    filesystems: [...e.filesystems].sort((a, b) => a.device.localeCompare(b.device)).map((f) => ({ device: f.device, type: f.type, uuid: f.uuid, label: f.label })),
    applications: e.applications.map((a) => ({ name: a.name, epoch: a.epoch, version: a.version, release: a.release, arch: a.arch, summary: a.summary })),
    bootloader: e.bootloader,
    kernels: e.kernels,
    defaultKernel: e.defaultKernel,
    hypervisorTools: e.hypervisorTools,
    initSystem: e.initSystem,
    services: e.services,
    interfaces: e.interfaces,
  };
}

/** xmllint --relaxng against virt-inspector's schema; throws with xmllint's complaint when invalid. */
export function validateVirtInspectorXml(xml: string, name: string): void {
  if (!existsSync(virtInspectorRng)) {
    // The schema comes with the shared test data beside the repository (CI always has it).
    console.warn(`skipped XML validation: ${virtInspectorRng} is absent`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), "leapp-xml-"));
  try {
    const file = join(work, `${name}.xml`);
    writeFileSync(file, xml);
    execFileSync("xmllint", ["--noout", "--relaxng", virtInspectorRng, file], { stdio: "pipe" });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The report without where it was read from: what must not depend on the container format. */
function sansSource(r: InspectionReport) {
  return { ...r, source: { kind: r.source.kind, location: [] } };
}

/**
 * The tests every zoo guest gets: the raw image matches the zoo's expected facts and gives
 * schema-valid XML; every other container gives the same report; the root tree read as a
 * directory gives the same facts from files.
 */
export function describeZooGuest(name: ZooGuestName): void {
  describe(`zoo guest ${name}`, () => {
    let rawReport: InspectionReport;

    it("raw image: matches the zoo's expected facts and gives schema-valid XML", async () => {
      const zoo = await buildZooGuest(name, "raw");
      const guest = await openImageGuest(zoo.disks);
      rawReport = await inspect(guest);
      await guest.close();
      expect(factsOfReport(rawReport, zoo.expected)).toEqual(factsOfExpected(zoo.expected));
      expect(rawReport.warnings).toEqual([]);
      validateVirtInspectorXml(toVirtInspectorXml(rawReport), `${name}-raw`);
    });

    it.each(zooContainers.filter((c) => c !== "raw"))("%s container: the same report as raw", async (container) => {
      const zoo = await buildZooGuest(name, container);
      const guest = await openImageGuest(zoo.disks);
      const report = await inspect(guest);
      await guest.close();
      expect(report.source.location).toEqual(zoo.disks);
      expect(sansSource(report)).toEqual(sansSource(rawReport));
    });

    it("root tree as a directory: the same OS, packages, boot and configuration facts", async () => {
      const zoo = await buildZooGuest(name, "raw");
      const guest = await openDirectoryGuest(zoo.rootTree);
      const tree = await inspect(guest);
      await guest.close();
      // Without block devices, fstab specs stay as written; everything read from files is identical.
      const { source: _s, root: _r, mountpoints: _m, filesystems: _f, ...fromFiles } = tree;
      const { source: _s2, root: _r2, mountpoints: _m2, filesystems: _f2, ...fromImage } = rawReport;
      expect(fromFiles).toEqual(fromImage);
    });
  });
}
