// `leapp inspect` in-process on a disk image made here from the sample guest's tree with
// mkfs.ext4 -d and qemu-img: --xml validated by xmllint against virt-inspector's schema, --json
// the same facts as the directory.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InspectionReport } from "@leapp/inspect";
import { ExitCode } from "../errors.js";
import { leapp } from "../test-streams.js";

const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url));
const sample = join(repoRoot, "samples", "el6-xen", "root");
const rng = join(repoRoot, "..", "shared", "schemas", "virt-inspector.rng");
const work = mkdtempSync(join(tmpdir(), "leapp-cli-inspect-"));
let qcow2: string;

beforeAll(() => {
  const raw = join(work, "disk.raw");
  execFileSync("mkfs.ext4", ["-q", "-F", "-U", "3c1f5a2e-8d47-4b6a-9e10-6a2f8c4d7b91", "-d", sample, raw, "32M"], { stdio: "pipe" });
  qcow2 = join(work, "disk.qcow2");
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("leapp inspect on a disk image", () => {
  it("--xml validates against virt-inspector's schema", async () => {
    const r = await leapp("inspect", qcow2, "--xml");
    expect(r.code).toBe(ExitCode.ok);
    const file = join(work, "out.xml");
    writeFileSync(file, r.out);
    // The schema comes with the shared test data beside the repository (CI always has it).
    if (existsSync(rng)) execFileSync("xmllint", ["--noout", "--relaxng", rng, file], { stdio: "pipe" });
    else console.warn(`skipped XML validation: ${rng} is absent`);
    expect(r.out).toContain('<mountpoint dev="/dev/sda">/</mountpoint>');
    expect(r.out).toContain("<uuid>3c1f5a2e-8d47-4b6a-9e10-6a2f8c4d7b91</uuid>");
  });

  it("--json gives the image's report: the directory's facts, with devices resolved", async () => {
    const [image] = JSON.parse((await leapp("inspect", qcow2, "--json")).out) as InspectionReport[];
    const [tree] = JSON.parse((await leapp("inspect", sample, "--json")).out) as InspectionReport[];
    if (!image || !tree) throw new Error("no report");
    expect(image.source).toEqual({ kind: "image", location: [qcow2] });
    expect(image.root).toBe("/dev/sda");
    expect(image.os).toEqual(tree.os);
    expect(image.services).toEqual(tree.services);
    expect(image.boot).toEqual(tree.boot);
    // fstab says /dev/xvda1, but this disk has no partitions: the guest's root is the whole disk.
    expect(image.mountpoints).toEqual([{ device: "/dev/sda", mountpoint: "/" }]);
  });

  it("reports every operating system on the disks given: text blocks, a JSON array, one XML document", async () => {
    // The same guest's disk given twice: two roots, /dev/sda and /dev/sdb.
    const text = await leapp("inspect", qcow2, qcow2);
    expect(text.code).toBe(ExitCode.ok);
    expect(text.out).toContain("== operating system 1 of 2 ==");
    expect(text.out).toContain("== operating system 2 of 2 ==\nsource:        image");
    const reports = JSON.parse((await leapp("inspect", qcow2, qcow2, "--json")).out) as InspectionReport[];
    expect(reports.map((r) => r.root)).toEqual(["/dev/sda", "/dev/sdb"]);
    expect((await leapp("inspect", qcow2, qcow2, "--xml")).out.match(/<operatingsystem>/g)).toHaveLength(2);
  });
});
