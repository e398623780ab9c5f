// @leapp/zoo — disk images of realistic legacy guests, made with the real tools and cached by the
// hash of their recipe, for the tests of every leapp package.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cached, cacheRoot, recipeHash, repoRoot, tempName } from "./cache.js";
import { ZooError } from "./errors.js";
import type { ZooContainer, ZooGuest, ZooGuestName } from "./expected.js";
import { el6Xen } from "./guests/el6-xen.js";
import { el7Vmware } from "./guests/el7-vmware.js";
import { el9Like } from "./guests/el9-like.js";
import { debian12 } from "./guests/debian-12.js";
import { debianVmware, debianXen } from "./guests/debian-bootable.js";
import type { GuestRecipe } from "./guests/recipe.js";
import { run } from "./run.js";

export type { ZooApplication, ZooContainer, ZooExpected, ZooFilesystem, ZooGuest, ZooGuestName, ZooHypervisorTool, ZooInterface, ZooKernel, ZooLogicalVolume, ZooVolumeGroup } from "./expected.js";
export { ZooError, type ZooErrorCode } from "./errors.js";
export { cached, cachedSync, cacheRoot, fixtureKey } from "./cache.js";
export { seededRandom } from "./random.js";
// The protofile mkfs.xfs -p reads, for a host tree: how the zoo and the benchmarks make XFS images without mounting.
export { xfsProtofile } from "./xfs-proto.js";
// The virt-v2v corpus as an oracle: what virt-v2v --print-source printed, read back and compared with leapp's facts.
// Real libvirt domains as virt-install writes them, across buses, NICs, firmware, graphics and CPUs.
export { virtInstallCorpus, virtInstallVariants, type VirtInstallDomain } from "./virt-install-corpus.js";
export { compareFacts, expectedForm, haveVirtV2vCorpus, listCorpusCases, parsePrintSource, parseTargetDisks, virtV2vCorpusDir, type CorpusCase, type FactComparison, type PrintedSource, type ReportedSource } from "./virt-v2v-corpus.js";
export { bootableFacts, type BootableFacts } from "./guests/debian-bootable.js";
// A real sshd on 127.0.0.1 with its own config and keys, for tests of live hosts and container hosts.
export { startSshd, startContainerHost, testContainersConf, freeLocalPort, knownHostsLine, type SshdOptions, type TestContainerHost, type TestSshd } from "./sshd.js";
// Waiting in tests: poll until something happens, and the page a local web server answers.
export { eventually, localPage } from "./poll.js";
// A SysV-init Debian tree that runs (for the packager's container tests); not one of the zoo guests.
export { buildDebianSysvTree, debianSysvHostname, debianSysvPage } from "./guests/debian-12-sysv.js";
// The LVM2 metadata writer, for tests that need hand-made (or deliberately lying) PV labels and VG text.
export { lvExtents, lvmCrc, lvSize, pvHeaderArea, vgMetadataText, type LogicalVolume as LvmLogicalVolume, type PhysicalVolume as LvmPhysicalVolume, type Segment as LvmSegment, type VolumeGroup as LvmVolumeGroup } from "./lvm2.js";

const recipes: Record<ZooGuestName, GuestRecipe> = {
  "el6-xen": el6Xen,
  "el7-vmware": el7Vmware,
  "el9-like": el9Like,
  "debian-12": debian12,
  "debian-xen": debianXen,
  "debian-vmware": debianVmware,
};

export const zooGuestNames: ZooGuestName[] = ["el6-xen", "el7-vmware", "el9-like", "debian-12", "debian-xen", "debian-vmware"];
export const zooContainers: ZooContainer[] = ["raw", "qcow2", "vmdk", "vhdx"];

/** Which test tier can afford to build a guest: the debootstrapped ones are slow-tier only. */
export function zooTier(name: ZooGuestName): "integration" | "slow" {
  return recipeFor(name).tier;
}

function recipeFor(name: ZooGuestName): GuestRecipe {
  const recipe = recipes[name];
  if (!recipe) throw new ZooError("ZOO_UNKNOWN_GUEST", `no zoo guest '${name}': choose one of ${zooGuestNames.join(", ")}`);
  return recipe;
}

const qemuFormat: Record<Exclude<ZooContainer, "raw">, string[]> = {
  qcow2: ["-O", "qcow2"],
  vmdk: ["-O", "vmdk", "-o", "subformat=streamOptimized"],
  vhdx: ["-O", "vhdx"],
};

/** The raw disk converted to `container` next to it (once; later calls reuse it). */
function convert(raw: string, container: Exclude<ZooContainer, "raw">): string {
  const out = raw.replace(/\.raw$/, `.${container}`);
  if (existsSync(out)) return out;
  const temp = tempName(out);
  try {
    run("qemu-img", ["convert", "-f", "raw", ...qemuFormat[container], raw, temp]);
    renameSync(temp, out);
  } finally {
    rmSync(temp, { force: true });
  }
  return out;
}

/**
 * Builds (or finds in the cache) the zoo guest `name` and returns its disks in `container`
 * format (default raw), its root tree and what inspecting it must report.
 */
export async function buildZooGuest(name: ZooGuestName, container: ZooContainer = "raw"): Promise<ZooGuest> {
  const recipe = recipeFor(name);
  if (!zooContainers.includes(container)) throw new ZooError("ZOO_BAD_INPUT", `unknown container '${container}': choose one of ${zooContainers.join(", ")}`);
  const key = `${name}-${recipeHash(["recipe.ts", "rpmdb.ts", ...(recipe.sources ?? [`${name}.ts`])], recipe.inputs)}`;
  const dir = await cached(key, async (temp) => {
    await recipe.build(temp);
    rmSync(join(temp, "work"), { recursive: true, force: true });
  });
  const rawDisks = Array.from({ length: recipe.diskCount }, (_, i) => join(dir, `disk${i + 1}.raw`));
  const disks = container === "raw" ? rawDisks : rawDisks.map((d) => convert(d, container));
  const expected = recipe.withBuildFacts ? recipe.withBuildFacts(dir, recipe.expected) : recipe.expected;
  return { name, container, disks, rawDisks, rootTree: join(dir, "root"), expected: structuredClone(expected) };
}

/** The project's sample guest: what `npm start` shows leapp on. */
export interface Sample {
  /** The folder holding both: `<cache>/zoo/sample-el6-xen-<hash>/`. */
  dir: string;
  /** `disk.img`: the el6-xen zoo guest's raw disk (a link to it). */
  disk: string;
  /** `domain.xml`: the libvirt domain its Xen host had, pointing at `disk.img`. */
  domainXml: string;
}

/**
 * The sample guest of samples/el6-xen: the el6-xen zoo guest (its root tree is the sample's)
 * beside the Xen domain of samples/el6-xen/domain.xml.in. Built without root, cached like the zoo.
 */
export async function buildSample(): Promise<Sample> {
  const guest = await buildZooGuest("el6-xen");
  const disk = guest.rawDisks[0]!;
  const template = readFileSync(join(repoRoot, "samples", "el6-xen", "domain.xml.in"), "utf8");
  const key = `sample-el6-xen-${createHash("sha256").update(`${disk}\0${template}`).digest("hex").slice(0, 16)}`;
  const final = join(cacheRoot(), key);
  const dir = await cached(key, (temp) => {
    symlinkSync(disk, join(temp, "disk.img"));
    writeFileSync(join(temp, "domain.xml"), template.replace("@DISK@", join(final, "disk.img")));
  });
  return { dir, disk: join(dir, "disk.img"), domainXml: join(dir, "domain.xml") };
}
