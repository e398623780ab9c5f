// -o local -os DIR: virt-v2v's layout — DIR/NAME-sda, DIR/NAME-sdb… and DIR/NAME.xml, a libvirt
// domain pointing at them, to define wherever it is wanted.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { HvTargetsError } from "../errors.js";
import { writeNewFile, type OutputDriver, type OutputRequest } from "./output.js";

/** The -os directory, which must exist (as virt-v2v: a typo must not scatter disks elsewhere). */
export function outputDirectory(request: OutputRequest, kind: string): string {
  if (request.storage === undefined) throw new HvTargetsError("HV_BAD_INPUT", `-o ${kind} needs -os DIR: the directory for the disks and the domain`);
  const dir = resolve(request.storage);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new HvTargetsError("HV_BAD_INPUT", `-os ${request.storage} is not a directory: create it first`, { path: dir });
  return dir;
}

export function refuseExisting(paths: readonly string[]): void {
  for (const path of paths) if (existsSync(path)) throw new HvTargetsError("HV_EXISTS", `${path} exists already: remove it, or choose another name with -on (leapp never overwrites)`, { path });
}

export const localOutput: OutputDriver = {
  kind: "local",
  discards: false,
  async diskDir(request) {
    return outputDirectory(request, "local");
  },
  async checkFree(_request, dir, name) {
    refuseExisting([join(dir, `${name}.xml`)]);
  },
  async publish(_request, { dir, name, domainXml }) {
    const xml = join(dir, `${name}.xml`);
    await writeNewFile(xml, domainXml);
    return [xml];
  },
};
