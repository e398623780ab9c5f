// Stage 1: the source VM from what the user names — bare disk images, or a hypervisor's metadata
// (libvirt XML, OVA, VMX, Xen cfg) and the disks it lists — with every disk opened read-only.
import { stat } from "node:fs/promises";
import { basename, dirname, extname, resolve } from "node:path";
import { readSource, type GuestSource, type SourceFormat } from "@leapp/libvirt-xml";
import { openDisk, sliceDevice, type BlockDevice } from "@leapp/storage";
import { HvTargetsError } from "./errors.js";
import type { InputKind, Source, SourceDisk } from "./types.js";

/** What the metadata reader calls each input kind. */
const formatOf: Record<Exclude<InputKind, "disk">, SourceFormat> = { libvirtxml: "libvirt", ova: "ova", vmx: "vmx", xen: "xen" };
const kindOf: Record<SourceFormat, InputKind | undefined> = { libvirt: "libvirtxml", ova: "ova", vmx: "vmx", xen: "xen", ovf: undefined };

export interface ReadInputOptions {
  /** Directories where the disks' backing files may lie besides their own (see @leapp/storage's openDisk). */
  trustedBackingDirs?: readonly string[];
}

/**
 * Reads the source: for `disk`, the images in disk order, named after the first (memory, vCPUs
 * and a NIC on the "default" network as virt-v2v's defaults); otherwise the one metadata file,
 * which must be of that kind, and the disks it lists. Every disk must exist and open read-only.
 */
export async function readInput(kind: InputKind, paths: readonly string[], options: ReadInputOptions = {}): Promise<Source> {
  if (paths.length === 0) throw new HvTargetsError("HV_BAD_INPUT", kind === "disk" ? "no disk image given: name the guest's disk images in disk order" : `no ${kind} file given: name the VM's metadata file`);
  const trusted = [...(options.trustedBackingDirs ?? [])];
  const opened: BlockDevice[] = [];
  const closeAll = async () => void (await Promise.allSettled(opened.splice(0).map((d) => d.close())));
  try {
    if (kind === "disk") {
      const disks: SourceDisk[] = [];
      for (const [index, given] of paths.entries()) {
        const file = await existingFile(given, `disk image ${given}`);
        const device = await openDisk(file, { trustedBackingDirs: trusted });
        opened.push(device);
        disks.push({ index, name: given, file, device, format: device.format, size: device.size, bus: undefined });
      }
      refuseEmpty(disks);
      const first = basename(paths[0]!);
      const name = first.slice(0, first.length - extname(first).length) || first;
      return { input: kind, location: resolve(paths[0]!), metadata: bareMetadata(name, disks), disks, trustedBackingDirs: trusted, close: closeAll };
    }
    if (paths.length > 1) throw new HvTargetsError("HV_BAD_INPUT", `-i ${kind} takes one metadata file, not ${paths.length}; its disks come from the file`);
    const location = await existingFile(paths[0]!, `${kind} file ${paths[0]}`, true);
    const read = await readSource(location);
    if (read.format !== formatOf[kind]) {
      const actual = kindOf[read.format];
      throw new HvTargetsError("HV_BAD_INPUT", `${paths[0]} is ${read.format === "ovf" ? "an OVF descriptor (give the OVA, or its unpacked directory, with -i ova)" : `${read.format} metadata, not ${kind}: use -i ${actual}`}`, { path: location });
    }
    const disks: SourceDisk[] = [];
    if (read.ova) {
      // Disks are read where they lie: inside the tar, or in the unpacked directory.
      const isTar = (await stat(location)).isFile();
      const archive = isTar ? await openDisk(location, { format: "raw" }) : undefined;
      if (archive) opened.push(archive);
      for (const [index, disk] of read.ova.disks.entries()) {
        if (disk.compression !== undefined) {
          throw new HvTargetsError("HV_UNSUPPORTED", `${disk.entry} in ${paths[0]} is ${disk.compression}-compressed: unpack the OVA, decompress the disk (gunzip) and convert the directory with -i ova`, { path: location });
        }
        const file = archive ? undefined : resolve(location, disk.entry);
        const device = archive ? await openDisk(sliceDevice(archive, disk.offset!, disk.size)) : await openDisk(file!, { trustedBackingDirs: trusted });
        opened.push(device);
        disks.push({ index, name: archive ? `${location}:${disk.entry}` : file!, file, device, format: device.format, size: device.size, bus: read.source.disks[index]?.bus });
      }
    } else {
      for (const [index, disk] of read.source.disks.entries()) {
        if (disk.sourceType !== undefined && disk.sourceType !== "file" && disk.sourceType !== "block") {
          throw new HvTargetsError("HV_UNSUPPORTED", `disk ${index + 1} of ${paths[0]} is a ${disk.sourceType} disk: copy it to a local file, point the metadata at it and convert again`, { path: location });
        }
        if (disk.path === undefined || disk.path === "") throw new HvTargetsError("HV_SOURCE_DISK", `disk ${index + 1} of ${paths[0]} names no file: fix the metadata`, { path: location });
        const file = await existingFile(resolve(dirname(location), disk.path), `disk ${index + 1} of ${paths[0]} (${disk.path})`);
        const device = await openDisk(file, { trustedBackingDirs: trusted });
        opened.push(device);
        disks.push({ index, name: file, file, device, format: device.format, size: device.size, bus: disk.bus });
      }
    }
    if (disks.length === 0) throw new HvTargetsError("HV_SOURCE_DISK", `${paths[0]} lists no disks: there is nothing to convert`, { path: location });
    refuseEmpty(disks);
    return { input: kind, location, metadata: read.source, disks, trustedBackingDirs: trusted, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function refuseEmpty(disks: readonly SourceDisk[]): void {
  const empty = disks.find((d) => d.size === 0);
  if (empty) throw new HvTargetsError("HV_SOURCE_DISK", `${empty.name} is empty (0 bytes): it holds no guest; check that the right file is named and that it was copied completely`, { path: empty.file ?? empty.name });
}

async function existingFile(path: string, what: string, directoryToo = false): Promise<string> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    throw new HvTargetsError("HV_SOURCE_DISK", `${what} does not exist (or cannot be read): check the path${(err as NodeJS.ErrnoException).code === "EACCES" ? " and its permissions" : ""}`, { cause: err, path: absolute });
  }
  if (!info.isFile() && !info.isBlockDevice() && !(directoryToo && info.isDirectory())) throw new HvTargetsError("HV_SOURCE_DISK", `${what} is not a file`, { path: absolute });
  return absolute;
}

/** The VM virt-v2v's -i disk assumes: 2 GiB, one vCPU, BIOS or UEFI as found, one NIC on the "default" network. */
function bareMetadata(name: string, disks: SourceDisk[]): GuestSource {
  return {
    name,
    hypervisor: "unknown",
    genid: undefined,
    memoryBytes: 2 * 1024 ** 3,
    vcpus: 1,
    cpu: { vendor: undefined, model: undefined, sockets: undefined, cores: undefined, threads: undefined },
    features: ["acpi", "apic", "pae"],
    firmware: "unknown",
    secureBoot: false,
    display: undefined,
    sound: undefined,
    disks: disks.map((d) => ({ path: d.file, format: d.format, bus: undefined, targetDev: undefined, controller: undefined, slot: undefined })),
    removables: [],
    nics: [{ kind: "network", name: "default", mac: undefined, model: undefined }],
  };
}
