// Every integration-tier zoo guest (real images made with mkfs/sfdisk/rpm/qemu-img), in every
// container format: the same report each time, matching the zoo's hand-written ground truth, and
// virt-inspector XML that xmllint validates against virt-inspector's own RELAX NG schema.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildZooGuest, zooContainers, type ZooGuestName } from "@leapp/zoo";
import { openDirectoryGuest } from "./directory-guest.js";
import { openImageGuest } from "./image-guest.js";
import { inspect } from "./inspect.js";
import type { InspectionReport } from "./report.js";
import { toVirtInspectorXml } from "./virt-inspector-xml.js";
import { factsOfExpected, factsOfReport } from "./zoo-expectations.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
export const virtInspectorRng = join(repoRoot, "..", "shared", "schemas", "virt-inspector.rng");
const work = mkdtempSync(join(tmpdir(), "leapp-inspect-zoo-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** xmllint --relaxng; throws with xmllint's complaint when the document is invalid. */
export function validateVirtInspectorXml(xml: string, name: string): void {
  const file = join(work, `${name}.xml`);
  writeFileSync(file, xml);
  execFileSync("xmllint", ["--noout", "--relaxng", virtInspectorRng, file], { stdio: "pipe" });
}

/** The report without where it was read from: what must not depend on the container format. */
function sansSource(r: InspectionReport) {
  return { ...r, source: { kind: r.source.kind, location: [] } };
}

const guests: ZooGuestName[] = ["el6-xen", "el7-vmware", "el9-like"];

describe.each(guests)("zoo guest %s", (name) => {
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
