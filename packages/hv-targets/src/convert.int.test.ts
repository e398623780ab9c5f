// The pipeline on real guests of the zoo (RHEL family: el6-xen from its Xen domain, el7-vmware
// from bare disks): the outputs are judged by qemu-img, virt-xml-validate and leapp's own reader
// of the converted disk, file by file; the sources' hashes never change.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openImageGuest } from "@leapp/inspect";
import { buildSample, buildZooGuest } from "@leapp/zoo";
import { convert } from "./convert.js";
import { HvTargetsError } from "./errors.js";

const scratch = mkdtempSync(join(tmpdir(), "hv-convert-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const qemuInfo = (path: string) => JSON.parse(execFileSync("qemu-img", ["info", "--output=json", path]).toString()) as { format: string; "virtual-size": number; "backing-filename"?: string };
const text = async (disks: string[], path: string) => {
  const guest = await openImageGuest(disks);
  try {
    return Buffer.from(await guest.readFile(path)).toString("utf8");
  } finally {
    await guest.close();
  }
};
let n = 0;
const freshDir = () => {
  const dir = join(scratch, `out-${n++}`);
  mkdirSync(dir);
  return dir;
};

describe("el6-xen from its libvirt domain (-i libvirtxml)", () => {
  let sample: Awaited<ReturnType<typeof buildSample>>;
  let before: string;
  beforeAll(async () => {
    sample = await buildSample();
    before = sha256(sample.disk);
  });

  it("dry run: plans the Xen → KVM edits, writes nothing anywhere", async () => {
    const dir = freshDir();
    const result = await convert([sample.domainXml], { input: "libvirtxml", outputStorage: dir, dryRun: true });
    expect(result.source).toMatchObject({ input: "libvirtxml", name: "centos6-web01", hypervisor: "xen", os: { distro: "centos" } });
    expect(result.changes.map((c) => c.path)).toEqual(expect.arrayContaining(["/etc/fstab"]));
    for (const c of result.changes) expect(c.description.length).toBeGreaterThan(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(sha256(sample.disk)).toBe(before);
  });

  it("-o local: a standalone qcow2 per disk and a domain virt-xml-validate accepts; the edits are on the copy, not the source", async () => {
    const dir = freshDir();
    const events: string[] = [];
    const result = await convert([sample.domainXml], { input: "libvirtxml", output: "local", outputStorage: dir, onProgress: (e) => events.push(e.phase) });
    expect(readdirSync(dir).sort()).toEqual(["centos6-web01-sda", "centos6-web01.xml"]);
    const disk = join(dir, "centos6-web01-sda");
    expect(result.outputs).toEqual([{ path: disk, format: "qcow2" }]);
    const info = qemuInfo(disk);
    expect(info.format).toBe("qcow2");
    expect(info["backing-filename"]).toBeUndefined();
    execFileSync("qemu-img", ["check", disk]);
    const xml = readFileSync(join(dir, "centos6-web01.xml"), "utf8");
    expect(xml).toBe(result.domainXml);
    execFileSync("virt-xml-validate", [join(dir, "centos6-web01.xml"), "domain"]);
    expect(xml).toContain(`<source file="${disk}"`);
    expect(xml).toMatch(/<target dev="vda" bus="virtio"/);
    expect(xml).toContain("00:16:3e:5d:c7:9e");
    expect(events).toEqual(expect.arrayContaining(["inspect", "convert", "copy"]));
    // The converted guest has the plan's content in every file the plan changed.
    for (const change of result.plan.status === "planned" ? result.plan.changes : []) {
      if (change.kind === "edit" || change.kind === "create") expect(await text([disk], change.path)).toBe(change.content);
    }
    expect(await text([disk], "/etc/fstab")).not.toMatch(/xvd/);
    expect(await text([sample.disk], "/etc/fstab")).toMatch(/xvd/);
    expect(sha256(sample.disk)).toBe(before);
    // Same guest, same name: refused before anything is written.
    await expect(convert([sample.domainXml], { input: "libvirtxml", outputStorage: dir })).rejects.toMatchObject({ code: "HV_EXISTS" });
    expect(readdirSync(dir).sort()).toEqual(["centos6-web01-sda", "centos6-web01.xml"]);
  });

  it("an abort midway leaves nothing in the output directory and the source as it was", async () => {
    const dir = freshDir();
    const controller = new AbortController();
    const run = convert([sample.domainXml], { input: "libvirtxml", outputStorage: dir, signal: controller.signal, onProgress: (e) => e.phase === "copy" && e.done > 0 && controller.abort() });
    await expect(run).rejects.toThrow();
    expect(readdirSync(dir)).toEqual([]);
    expect(sha256(sample.disk)).toBe(before);
  });

  it("--storage snapshot: a qcow2 overlay backed by the untouched source", async () => {
    const dir = freshDir();
    const result = await convert([sample.domainXml], { input: "libvirtxml", outputStorage: dir, storage: "snapshot", name: "web01" });
    const disk = join(dir, "web01-sda");
    expect(result.outputs).toEqual([{ path: disk, format: "qcow2" }]);
    expect(qemuInfo(disk)["backing-filename"]).toBe(sample.disk);
    expect(await text([disk], "/etc/fstab")).not.toMatch(/xvd/);
    expect(sha256(sample.disk)).toBe(before);
  });
});

describe("el7-vmware from bare disks (-i disk)", () => {
  it("-of raw, -o qemu: named after the image, the VMware edits applied, a boot script beside the domain", async () => {
    const zoo = await buildZooGuest("el7-vmware");
    const image = join(scratch, "el7-web.img");
    copyFileSync(zoo.rawDisks[0]!, image);
    const before = sha256(image);
    const dir = freshDir();
    const result = await convert([image], { output: "qemu", outputStorage: dir, outputFormat: "raw" });
    expect(result.name).toBe("el7-web");
    expect(result.source).toMatchObject({ input: "disk", hypervisor: "vmware" });
    expect(readdirSync(dir).sort()).toEqual(["el7-web-sda", "el7-web.sh", "el7-web.xml"]);
    expect(qemuInfo(join(dir, "el7-web-sda")).format).toBe("raw");
    const script = readFileSync(join(dir, "el7-web.sh"), "utf8");
    expect(script).toContain(`file=${join(dir, "el7-web-sda")},format=raw`);
    execFileSync("sh", ["-n", join(dir, "el7-web.sh")]);
    execFileSync("virt-xml-validate", [join(dir, "el7-web.xml"), "domain"]);
    expect(result.changes.some((c) => c.kind === "remove-packages" && /open-vm-tools|vmware/i.test(c.description))).toBe(true);
    expect(sha256(image)).toBe(before);
  });
});

describe("guests leapp cannot edit still move", () => {
  it("a data-only disk is copied unchanged with a warning; --require-os refuses it", async () => {
    const tree = join(scratch, "data-tree");
    mkdirSync(tree);
    writeFileSync(join(tree, "records.csv"), "id,name\n1,alpha\n");
    const image = join(scratch, "data01.img");
    execFileSync("truncate", ["-s", "64M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", "-d", tree, image]);
    const before = sha256(image);
    const refused = freshDir();
    await expect(convert([image], { outputStorage: refused, requireOs: true })).rejects.toMatchObject({ code: "HV_NO_OS" });
    expect(readdirSync(refused)).toEqual([]);
    const dir = freshDir();
    const result = await convert([image], { outputStorage: dir, outputFormat: "raw" });
    expect(result.plan.status).toBe("nothing-to-plan");
    expect(result.warnings.join("\n")).toMatch(/no operating system/);
    expect(readdirSync(dir).sort()).toEqual(["data01-sda", "data01.xml"]);
    execFileSync("e2fsck", ["-fn", join(dir, "data01-sda")]);
    const files = execFileSync("debugfs", ["-R", "cat /records.csv", join(dir, "data01-sda")], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    expect(files).toBe("id,name\n1,alpha\n");
    expect(sha256(image)).toBe(before);
  });

  it("bad input gets typed errors and leaves nothing", async () => {
    const dir = freshDir();
    await expect(convert([join(scratch, "missing.img")], { outputStorage: dir })).rejects.toBeInstanceOf(HvTargetsError);
    await expect(convert([join(scratch, "missing.img")], { outputStorage: dir })).rejects.toMatchObject({ code: "HV_SOURCE_DISK" });
    await expect(convert([join(scratch, "missing.img")], { outputStorage: join(scratch, "no-such-dir") })).rejects.toMatchObject({ code: "HV_SOURCE_DISK" });
    const sample = await buildSample();
    await expect(convert([sample.domainXml], { input: "vmx", outputStorage: dir })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    await expect(convert([sample.domainXml], { input: "libvirtxml", outputStorage: join(scratch, "no-such-dir") })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    await expect(convert([sample.domainXml], { input: "libvirtxml", outputStorage: dir, storage: "snapshot", outputFormat: "raw" })).rejects.toMatchObject({ code: "HV_BAD_INPUT" });
    expect(readdirSync(dir)).toEqual([]);
  });
});
