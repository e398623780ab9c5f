// The JSON contract of `leapp convert --json` (a dry run: the plan and the source; a run: what it
// made) and its text: the OS named, a package's files on one line, warnings last.
import { describe, expect, it } from "vitest";
import type { ConvertResult } from "@leapp/hv-targets";
import { convertText, convertView } from "./convert.js";

const source = { input: "libvirtxml" as const, location: "/vm/web01.xml", name: "web01", hypervisor: "xen", os: { distro: "debian", version: "12.5", productName: undefined }, disks: [{ name: "/vm/web01.img", format: "raw", size: 1 << 30, bus: "xen" }] };
const changes = [
  { kind: "edit", path: "/etc/fstab", description: "disks are named after the virtio bus on KVM" },
  ...["/usr/bin/xenstore", "/usr/bin/xenstore-ls", "/usr/bin/xenstore-read", "/usr/bin/xenstore-write"].map((path) => ({ kind: "remove", path, description: "package xenstore-utils removed" })),
  { kind: "remove-packages", description: "xenstore-utils (now): Xen guest tools do nothing on KVM" },
];

function result(dryRun: boolean): ConvertResult {
  return { name: "web01", dryRun, outputs: [{ path: "/out/web01-sda", format: "qcow2" }], files: dryRun ? [] : ["/out/web01.xml"], domainXml: "<domain/>", plan: { status: "nothing-to-plan", reason: "no-os", message: "" }, changes, source, warnings: ["check the NIC"], freeBytesSkipped: dryRun ? 0 : 3 << 20 };
}

describe("leapp convert's output", () => {
  it("--dry-run --json: exactly the plan's changes, the source and the warnings", () => {
    expect(convertView(result(true))).toEqual({ plan: { changes }, source, warnings: ["check the NIC"] });
  });

  it("--json: the name, the outputs, the files, the domain, the changes and the source", () => {
    expect(convertView(result(false))).toEqual({ name: "web01", outputs: [{ path: "/out/web01-sda", format: "qcow2" }], files: ["/out/web01.xml"], domainXml: "<domain/>", changes, source, warnings: ["check the NIC"], freeBytesSkipped: 3 << 20 });
  });

  it("text: one line per reason, the outputs, what free space was left out, warnings last", () => {
    const text = convertText(convertView(result(false)));
    expect(text.split("\n")).toEqual([
      "web01: debian 12.5, leaving xen (-i libvirtxml /vm/web01.xml)",
      "6 change(s) made:",
      "  edit             /etc/fstab: disks are named after the virtio bus on KVM",
      "  remove           /usr/bin/xenstore, /usr/bin/xenstore-ls and 2 more: package xenstore-utils removed",
      "  remove-packages  xenstore-utils (now): Xen guest tools do nothing on KVM",
      "disk /out/web01-sda (qcow2)",
      "wrote /out/web01.xml",
      "left out 3.0 MiB the guest's filesystems mark free",
      "warning: check the NIC",
    ]);
    expect(convertText(convertView(result(true)))).toMatch(/^dry run: nothing was written; the conversion makes 6 change\(s\):$/m);
  });
});
