import type { ZooExpected, ZooGuestName } from "../expected.js";
import { byNameVersionRelease } from "../nevra.js";
import type { RpmPackageSpec } from "../rpm-build.js";

/** How one zoo guest is made. `build` fills `dir` with `root/` (the tree) and `disk1.raw`…. */
export interface GuestRecipe {
  name: ZooGuestName;
  tier: "integration" | "slow";
  /** Folders outside tools/zoo/src whose content the guest is made from (part of its cache key). */
  inputs: string[];
  /** Other files under guests/ the recipe is made from (part of its cache key). */
  sources?: string[];
  diskCount: number;
  expected: ZooExpected;
  build(dir: string): Promise<void>;
  /** For guests whose facts depend on what a mirror served: completes `expected` from the build. */
  withBuildFacts?(dir: string, expected: ZooExpected): ZooExpected;
}

/** expected.applications for an rpm catalog, sorted by name, version, release. */
export function rpmApplications(catalog: RpmPackageSpec[]): ZooExpected["applications"] {
  return catalog
    .map(({ name, epoch, version, release, arch, summary }) => ({ name, epoch, version, release, arch, summary }))
    .sort(byNameVersionRelease);
}
