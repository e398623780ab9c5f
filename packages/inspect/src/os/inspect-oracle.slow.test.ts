// The oracle: virt-inspector (libguestfs, booting its appliance under TCG) on the zoo images, and
// our report, fact by fact. virt-inspector's XML is kept in the zoo's fixture cache by image hash,
// so reruns skip the ~20 s boots.
//
// Debian's libguestfs cannot list rpm applications at all (its appliance's librpm fails with
// "internal_list_rpm_applications: rpmtsInitIterator", for BDB and sqlite rpmdbs alike) and then
// gives up on the whole guest. For rpm guests virt-inspector therefore runs with
// --no-applications, and their applications are checked against the real rpm instead
// (`rpm -qa --dbpath GUEST/var/lib/rpm`, with the bdb_ro or sqlite backend).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildZooGuest, cached, type ZooGuestName } from "@leapp/zoo";
import { openImageGuest } from "../guestfs/image-guest.js";
import { inspect } from "./inspect.js";
import type { InspectionReport } from "../report/report.js";
import { toVirtInspectorXml } from "../report/virt-inspector-xml.js";

async function fileHash(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** virt-inspector's XML for a guest's disks, from the cache or by running it. */
async function virtInspector(disks: string[], withApplications: boolean): Promise<string> {
  const hashes = [];
  for (const d of disks) hashes.push(await fileHash(d));
  const key = `virt-inspector-${withApplications ? "apps" : "noapps"}-${createHash("sha256").update(hashes.join(",")).digest("hex").slice(0, 32)}`;
  const dir = await cached(key, (into) => {
    const xml = execFileSync("virt-inspector", [...(withApplications ? [] : ["--no-applications"]), "--format=qcow2", ...disks.flatMap((d) => ["-a", d])], {
      env: { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" },
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    });
    writeFileSync(join(into, "inspector.xml"), xml);
  });
  return readFileSync(join(dir, "inspector.xml"), "utf8");
}

const unescape = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
const tag = (xml: string, name: string) => {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? unescape(m[1] as string) : undefined;
};

interface OracleFacts {
  name?: string;
  arch?: string;
  distro?: string;
  product_name?: string;
  major_version?: string;
  minor_version?: string;
  package_format?: string;
  package_management?: string;
  hostname?: string;
  osinfo?: string;
  root?: string;
  mountpoints: string[];
  filesystems: string[];
  applications: string[];
}

/** The facts of a virt-inspector document (first operating system), in a comparable form. */
function factsOfXml(xml: string, withApplications: boolean): OracleFacts {
  const os = /<operatingsystem>([\s\S]*?)<\/operatingsystem>/.exec(xml)?.[1] ?? "";
  const head = os.split("<mountpoints>")[0] as string;
  const facts: OracleFacts = { mountpoints: [], filesystems: [], applications: [] };
  for (const k of ["name", "arch", "distro", "product_name", "major_version", "minor_version", "package_format", "package_management", "hostname", "osinfo", "root"] as const) {
    const v = tag(head, k);
    if (v !== undefined) facts[k] = v;
  }
  for (const m of os.matchAll(/<mountpoint dev="([^"]*)">([^<]*)<\/mountpoint>/g)) facts.mountpoints.push(`${unescape(m[2] as string)} ${unescape(m[1] as string)}`);
  for (const m of os.matchAll(/<filesystem dev="([^"]*)">([\s\S]*?)<\/filesystem>/g)) {
    const body = m[2] as string;
    facts.filesystems.push([unescape(m[1] as string), tag(body, "type") ?? "", tag(body, "label") ?? "", tag(body, "uuid") ?? ""].join(" "));
  }
  if (withApplications) {
    for (const m of os.matchAll(/<application>([\s\S]*?)<\/application>/g)) {
      const b = m[1] as string;
      facts.applications.push([tag(b, "name"), tag(b, "epoch") ?? "0", tag(b, "version") ?? "", tag(b, "release") ?? "", tag(b, "arch") ?? ""].join(" "));
    }
  }
  facts.mountpoints.sort();
  facts.filesystems.sort();
  facts.applications.sort();
  return facts;
}

/** `rpm -qa` on the guest's rpmdb, as NEVRA lines like factsOfXml's. */
function rpmQa(rootTree: string, backend: "bdb_ro" | "sqlite"): string[] {
  const out = execFileSync("rpm", ["-qa", "--dbpath", join(rootTree, "var", "lib", "rpm"), "--define", `_db_backend ${backend}`, "--qf", "%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\\n"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l !== "").sort();
}

const guests: ZooGuestName[] = ["el6-xen", "el7-vmware", "el9-like", "debian-12"];

describe.each(guests)("virt-inspector agrees on %s", (name) => {
  it("every fact, and each application's name/epoch/version/release/arch", async () => {
    const zoo = await buildZooGuest(name, "qcow2");
    const db = zoo.expected.packageDatabase.format;
    const isRpm = db !== "dpkg";
    const theirs = factsOfXml(await virtInspector(zoo.disks, !isRpm), !isRpm);
    const guest = await openImageGuest(zoo.disks);
    const report: InspectionReport = await inspect(guest);
    await guest.close();
    const ours = factsOfXml(toVirtInspectorXml(report), true);
    // virt-inspector prints <distro>rocky</distro>, which its own schema does not allow; our XML
    // leaves such a value out to stay valid, and the JSON report carries it.
    if (ours.distro === undefined && theirs.distro !== undefined) ours.distro = report.os.distro;
    const { applications: ourApps, ...ourFacts } = ours;
    const { applications: theirApps, ...theirFacts } = theirs;
    expect(ourFacts).toEqual(theirFacts);
    expect(ourApps).toEqual(isRpm ? rpmQa(zoo.rootTree, db === "bdb" ? "bdb_ro" : "sqlite") : theirApps);
    expect(ourApps.length).toBeGreaterThan(5);
  });
});
