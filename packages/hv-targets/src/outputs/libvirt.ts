// -o libvirt -oc URI -os POOL: the disks go into the directory of a libvirt storage pool and the
// domain is defined on that connection (virsh define), as virt-v2v's libvirt output does.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { HvTargetsError } from "../errors.js";
import { writeNewFile, type OutputDriver, type OutputRequest } from "./output.js";

const run = promisify(execFile);

async function virsh(request: OutputRequest, args: string[]): Promise<string> {
  const uri = request.connection ?? "qemu:///system";
  try {
    return (await run("virsh", ["-q", "-c", uri, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new HvTargetsError("HV_LIBVIRT", "virsh is not installed: install libvirt-clients to use -o libvirt", { cause: err });
    throw new HvTargetsError("HV_LIBVIRT", `virsh -c ${uri} ${args[0]} failed: ${(e.stderr ?? e.message).trim().slice(0, 500)}`, { cause: err });
  }
}

export const libvirtOutput: OutputDriver = {
  kind: "libvirt",
  discards: false,
  async diskDir(request) {
    const pool = request.storage ?? "default";
    const xml = await virsh(request, ["pool-dumpxml", pool]);
    if (!/<pool[^>]*type=['"]dir['"]/.test(xml)) throw new HvTargetsError("HV_UNSUPPORTED", `pool ${pool} is not a directory pool: give -os a pool of type dir`);
    const path = /<target>\s*<path>([^<]+)<\/path>/.exec(xml)?.[1];
    if (path === undefined) throw new HvTargetsError("HV_LIBVIRT", `pool ${pool} has no target directory`);
    return path.replaceAll("&amp;", "&").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&apos;", "'").replaceAll("&quot;", '"');
  },
  async checkFree(request, _dir, name) {
    const names = (await virsh(request, ["list", "--all", "--name"])).split("\n").map((l) => l.trim());
    if (names.includes(name)) throw new HvTargetsError("HV_EXISTS", `a domain ${name} is defined on ${request.connection ?? "qemu:///system"} already: undefine it, or choose another name with -on`);
  },
  async publish(request, { name, domainXml }) {
    const scratch = await mkdtemp(join(tmpdir(), "leapp-convert-"));
    try {
      const file = join(scratch, `${name.replaceAll("/", "_")}.xml`);
      await writeNewFile(file, domainXml);
      await virsh(request, ["define", file]);
      if (request.storage !== undefined) await virsh(request, ["pool-refresh", request.storage]).catch(() => undefined);
      else await virsh(request, ["pool-refresh", "default"]).catch(() => undefined);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return [];
  },
};
