// toVirtInspectorXml's conventions, on a report written here (xmllint validation of real reports
// is in the integration tier).
import { describe, expect, it } from "vitest";
import type { InspectionReport } from "./report.js";
import { toVirtInspectorXml } from "./virt-inspector-xml.js";

function report(overrides: Partial<InspectionReport["os"]>, applications: InspectionReport["applications"]): InspectionReport {
  return {
    source: { kind: "image", location: ["d.qcow2"] },
    root: "/dev/sda2",
    os: { type: "linux", distro: "debian", productName: "12.4", majorVersion: 12, minorVersion: 4, osinfo: "debian12", arch: "x86_64", hostname: "h<&>", packageFormat: "deb", packageManagement: "apt", ...overrides },
    mountpoints: [{ device: "/dev/sda2", mountpoint: "/" }],
    filesystems: [{ device: "/dev/sda2", type: "ext4", uuid: "u" }],
    applications,
    kernels: [],
    boot: undefined,
    init: { type: undefined, default: undefined },
    hypervisorTools: [],
    services: [],
    network: [],
    warnings: [],
  };
}

describe("toVirtInspectorXml", () => {
  it("splits Debian versions at the first hyphen, as libguestfs does, and prints epochs only when set", () => {
    const xml = toVirtInspectorXml(report({}, [
      { name: "libedit2", epoch: 0, version: "3.1-20221030", release: "2", arch: "amd64" },
      { name: "tzdata", epoch: 1, version: "2024a", release: "0+deb12u1", arch: "all", summary: "time zone & daylight-saving \u0001data" },
      { name: "adduser", epoch: 0, version: "3.134", release: "", arch: "all" },
    ]));
    expect(xml).toContain("<name>libedit2</name>\n        <version>3.1</version>\n        <release>20221030-2</release>");
    expect(xml).toContain("<name>tzdata</name>\n        <epoch>1</epoch>\n        <version>2024a</version>");
    expect(xml).toContain("<summary>time zone &amp; daylight-saving data</summary>");
    expect(xml).toContain("<name>adduser</name>\n        <version>3.134</version>\n        <arch>all</arch>");
    expect(xml).toContain("<hostname>h&lt;&amp;&gt;</hostname>");
  });

  it("keeps rpm versions as they are and leaves out values the schema forbids", () => {
    const xml = toVirtInspectorXml(report({ distro: "rocky", packageFormat: "rpm", packageManagement: "dnf", osinfo: "rocky9" }, [
      { name: "kernel-core", epoch: 0, version: "5.14.0", release: "427.13.1.el9_4", arch: "x86_64" },
    ]));
    expect(xml).not.toContain("<distro>");
    expect(xml).toContain("<release>427.13.1.el9_4</release>");
    expect(xml).toContain("<package_management>dnf</package_management>");
  });
});
