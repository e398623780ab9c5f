// Test support (not exported): an InspectionReport reduced to the facts a zoo guest's hand-written
// `expected` states, in the zoo's vocabulary, so tests compare the two with one toEqual.
import type { ZooExpected } from "@leapp/zoo";
import type { InspectionReport } from "./report.js";

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
    bootloader: r.boot?.loader,
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
