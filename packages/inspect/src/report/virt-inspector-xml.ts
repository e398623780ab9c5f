import type { InspectionReport } from "./report.js";

/** Values virt-inspector's schema accepts; anything else is left out rather than invalid. */
const schemaDistros = new Set([
  "alpinelinux", "altlinux", "archlinux", "buildroot", "centos", "cirros", "coreos", "debian", "fedora", "freebsd", "freedos",
  "frugalware", "gentoo", "kalilinux", "kylin", "linuxmint", "mageia", "mandriva", "meego", "msdos", "neokylin", "netbsd",
  "openbsd", "openmandriva", "opensuse", "oraclelinux", "pardus", "pldlinux", "redhat-based", "rhel", "scientificlinux",
  "slackware", "sles", "suse-based", "ttylinux", "ubuntu", "voidlinux", "windows",
]);
const schemaPackageFormats = new Set(["apk", "deb", "ebuild", "pacman", "pisi", "pkgsrc", "rpm", "xbps"]);
const schemaPackageManagers = new Set(["apk", "apt", "dnf", "pacman", "pisi", "portage", "up2date", "urpmi", "xbps", "yum", "zypper"]);

/** XML text escaping; control characters a guest may put in a summary are dropped (XML 1.0 forbids them). */
function esc(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/**
 * A Debian version as libguestfs splits it: at the *first* hyphen (`3.1-20221030-2` → `3.1` and
 * `20221030-2`), where dpkg — and our JSON report — split at the last (`3.1-20221030` and `2`).
 */
function libguestfsDebSplit(version: string, release: string): { version: string; release: string } {
  const full = release === "" ? version : `${version}-${release}`;
  const dash = full.indexOf("-");
  return dash < 0 ? { version: full, release: "" } : { version: full.slice(0, dash), release: full.slice(dash + 1) };
}

/**
 * The reports as virt-inspector's XML (`<operatingsystems>`, one `<operatingsystem>` per report,
 * as virt-inspector lists every root), in its element order and with its conventions: epoch only
 * when non-zero, empty versions left out, mountpoints shortest first, Debian versions split at
 * the first hyphen. The facts virt-inspector does not know (kernels, boot, services…) are not in
 * it; use the JSON.
 */
export function toVirtInspectorXml(reports: InspectionReport | readonly InspectionReport[]): string {
  const out: string[] = ['<?xml version="1.0"?>', "<operatingsystems>"];
  for (const report of Array.isArray(reports) ? reports : [reports as InspectionReport]) operatingSystemXml(report, out);
  out.push("</operatingsystems>");
  return out.join("\n") + "\n";
}

function operatingSystemXml(report: InspectionReport, out: string[]): void {
  const os = report.os;
  out.push("  <operatingsystem>");
  const el = (indent: number, name: string, value: string | number | undefined) => {
    if (value !== undefined && value !== "") out.push(`${" ".repeat(indent)}<${name}>${esc(String(value))}</${name}>`);
  };
  el(4, "root", report.root);
  // The schema has no "unknown" name: an unidentified Linux root is still Linux.
  el(4, "name", os.type === "unknown" ? "linux" : os.type);
  el(4, "arch", os.arch);
  if (schemaDistros.has(os.distro)) el(4, "distro", os.distro);
  el(4, "product_name", os.productName);
  el(4, "major_version", os.majorVersion);
  el(4, "minor_version", os.minorVersion);
  if (os.packageFormat && schemaPackageFormats.has(os.packageFormat)) el(4, "package_format", os.packageFormat);
  if (os.packageManagement && schemaPackageManagers.has(os.packageManagement)) el(4, "package_management", os.packageManagement);
  el(4, "hostname", os.hostname);
  el(4, "osinfo", os.osinfo);

  const mountpoints = report.mountpoints.length > 0 ? report.mountpoints : [{ device: report.root, mountpoint: "/" }];
  out.push("    <mountpoints>");
  for (const m of mountpoints) out.push(`      <mountpoint dev="${esc(m.device)}">${esc(m.mountpoint)}</mountpoint>`);
  out.push("    </mountpoints>");

  const filesystems = report.filesystems.length > 0 ? report.filesystems : [{ device: report.root }];
  out.push("    <filesystems>");
  for (const f of filesystems) {
    out.push(`      <filesystem dev="${esc(f.device)}">`);
    el(8, "type", f.type);
    el(8, "label", f.label);
    el(8, "uuid", f.uuid);
    out.push("      </filesystem>");
  }
  out.push("    </filesystems>");

  out.push("    <applications>");
  for (const a of report.applications) {
    out.push("      <application>");
    el(8, "name", a.name);
    if (a.epoch !== 0) el(8, "epoch", a.epoch);
    const { version, release } = report.os.packageFormat === "deb" ? libguestfsDebSplit(a.version, a.release) : a;
    el(8, "version", version);
    el(8, "release", release);
    el(8, "arch", a.arch);
    el(8, "url", a.url);
    el(8, "source_package", a.sourcePackage);
    el(8, "summary", a.summary);
    out.push("      </application>");
  }
  out.push("    </applications>");
  out.push("  </operatingsystem>");
}
