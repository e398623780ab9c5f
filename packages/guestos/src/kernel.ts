// The kernel the converted guest boots, the drivers its initramfs must load on KVM, and what the
// kernel's modules say the guest can use there (virtio or emulated devices).
import { compareVersions, InspectError, type GuestFS, type InspectionReport, type InstalledKernel } from "@leapp/inspect";
import { GuestOSError } from "./errors.js";
import { readInitramfs } from "./initramfs/archive.js";
import { amendInitramfs, deviceNamingFiles, type InitramfsAmendment } from "./initramfs/amend.js";
import { remapDevicesIn, type DeviceMapper } from "./devices.js";
import { parseModuleDb, type ModuleDb } from "./initramfs/modules.js";
import type { Change, ConversionTarget, GuestCapabilities, GuestFamily } from "./plan-types.js";
import { sha256, type PlanWorkspace } from "./workspace.js";
import { entryBoots } from "./boot.js";

/** The drivers a KVM guest boots with: disk, SCSI disk, NIC and the PCI transport they sit on. */
export const VIRTIO_DRIVERS = ["virtio_blk", "virtio_scsi", "virtio_net", "virtio_pci"];
/** Largest initramfs leapp reads: real ones are tens of MiB; a lying guest must not cost more. */
const MAX_INITRAMFS = 512 * 1024 * 1024;
/** Largest kernel module file read into an initramfs. */
export const MAX_MODULE = 64 * 1024 * 1024;

export interface KernelFacts {
  kernel: InstalledKernel;
  db: ModuleDb;
  wasDefault: boolean;
}

export async function moduleDb(ws: PlanWorkspace, version: string): Promise<ModuleDb> {
  const dir = await moduleDir(ws.guest, version);
  const read = async (name: string) => ws.read(`${dir}/${name}`);
  return parseModuleDb(version, { dep: await read("modules.dep"), alias: await read("modules.alias"), symbols: await read("modules.symbols"), builtin: await read("modules.builtin"), order: await read("modules.order") });
}

/** The text files of a module tree that `moduleDb` reads. */
const MODULE_DB_FILES = ["modules.dep", "modules.alias", "modules.symbols", "modules.builtin", "modules.order"];

/** Where a kernel's modules are: /lib/modules/VERSION, or /usr/lib/modules/VERSION (merged /usr). */
export async function moduleDir(guest: GuestFS, version: string): Promise<string> {
  return (await guest.exists(`/lib/modules/${version}`)) ? `/lib/modules/${version}` : `/usr/lib/modules/${version}`;
}

/**
 * What an initramfs change was built from, kept beside the plan for \`applyPlan\` in the same
 * process: the amendment, and a digest of every guest file it was built from (undefined: the
 * file was absent). Applying reads those files again and, when each holds what it held, appends
 * this amendment rather than parsing the module tree and unpacking the image a second time.
 */
export interface PreparedInitramfs {
  amendment: InitramfsAmendment;
  inputs: Map<string, string | undefined>;
}
export const preparedInitramfs = new WeakMap<Change, PreparedInitramfs>();

/** Whether every file a prepared amendment was built from still holds what it held. */
export async function inputsUnchanged(guest: GuestFS, prepared: PreparedInitramfs): Promise<boolean> {
  for (const [path, digest] of prepared.inputs) if ((await digestOf(guest, path, MAX_MODULE)) !== digest) return false;
  return true;
}

/** A guest file's digest now (undefined: absent, or not a file that can be read). */
async function digestOf(guest: GuestFS, path: string, maxBytes: number): Promise<string | undefined> {
  try {
    return sha256(await guest.readFile(path, { maxBytes }));
  } catch (err) {
    if (err instanceof InspectError) return undefined;
    throw err;
  }
}

const has = (db: ModuleDb, name: string) => db.builtin.has(name) || db.modules.has(name);

/**
 * The kernel to boot on KVM: the boot loader's default when it is a non-Xen kernel with virtio
 * drivers, else the newest such kernel (non-debug first). Refuses guests that only have
 * Xen-PV kernels, or none.
 */
export async function chooseKernel(ws: PlanWorkspace, report: InspectionReport): Promise<KernelFacts> {
  if (report.kernels.length === 0) {
    throw new GuestOSError("GUESTOS_NO_KERNEL", "the guest has no kernel in /boot: it cannot boot on KVM. Install the distribution's kernel package in the guest (yum install kernel / apt-get install linux-image-amd64) and convert again");
  }
  const candidates = report.kernels.filter((k) => !k.xen);
  if (candidates.length === 0) {
    const names = report.kernels.map((k) => k.version).join(", ");
    throw new GuestOSError("GUESTOS_XEN_ONLY_KERNEL", `the guest's only kernels (${names}) are Xen paravirtual kernels, which cannot boot on KVM: install the non-Xen kernel in the guest while it still runs on Xen (yum install kernel, then make it the default in grub.conf) and convert again`);
  }
  const facts = await Promise.all(candidates.map(async (kernel) => ({ kernel, db: await moduleDb(ws, kernel.version) })));
  const score = (f: (typeof facts)[number]) => (has(f.db, "virtio_blk") ? 2 : 0) + (has(f.db, "virtio_net") ? 1 : 0);
  const current = report.boot?.defaultKernel;
  const def = facts.find((f) => f.kernel.version === current);
  if (def && score(def) === 3) return { ...def, wasDefault: true };
  const sorted = [...facts].sort((a, b) => score(b) - score(a) || Number(/debug/.test(a.kernel.version)) - Number(/debug/.test(b.kernel.version)) || compareVersions(b.kernel.version, a.kernel.version));
  // Only a kernel the boot loader offers can be booted.
  const bootable = sorted.filter((f) => !report.boot || report.boot.entries.some((e) => entryBoots(e, f.kernel.version)));
  const best = bootable[0] ?? sorted[0];
  if (!best) throw new GuestOSError("GUESTOS_NO_KERNEL", "no kernel of the guest can be booted");
  if (!bootable[0]) ws.warnings.push(`kernel ${best.kernel.version} has no boot loader entry: add one before booting the converted guest`);
  return { ...best, wasDefault: best.kernel.version === current };
}

/**
 * The initramfs change for the chosen kernel: the virtio drivers it lacks, and its own files that
 * name the root or resume device with the old names. Nothing when all is there already.
 */
export async function planInitramfs(ws: PlanWorkspace, facts: KernelFacts, wanted: string[], mapper: DeviceMapper): Promise<InitramfsAmendment | undefined> {
  const { kernel, db } = facts;
  const loadable = wanted.filter((w) => db.modules.has(w));
  if (!kernel.initrd) {
    if (loadable.length === 0) return undefined;
    throw new GuestOSError("GUESTOS_INITRAMFS", `kernel ${kernel.version} has no initramfs but its virtio drivers are modules: it could not find its root disk on KVM. Build one in the guest (dracut -f / update-initramfs -c -k ${kernel.version}) and convert again`);
  }
  const bytes = await ws.guest.readFile(kernel.initrd, { maxBytes: MAX_INITRAMFS });
  let image;
  try {
    image = await readInitramfs(bytes);
  } catch (err) {
    if (!(err instanceof GuestOSError)) throw err;
    if (loadable.length === 0) {
      ws.warnings.push(`${kernel.initrd} cannot be read (${err.message}); the kernel has its virtio drivers built in, so it is left as it is`);
      return undefined;
    }
    throw new GuestOSError("GUESTOS_INITRAMFS", `${kernel.initrd} is not an initramfs leapp can read (${err.message}): rebuild it in the guest (dracut -f / update-initramfs -u) and convert again`, { cause: err, path: kernel.initrd });
  }
  const texts = deviceNamingFiles(image.tree)
    .map((f) => ({ path: f.path, old: f.content, content: remapDevicesIn(f.content, mapper), why: "names the root or resume device: the virtio name" }))
    .filter((t) => t.content !== t.old)
    .map(({ path, content, why }) => ({ path, content, why }));
  const dir = await moduleDir(ws.guest, kernel.version);
  const inputs = new Map<string, string | undefined>();
  // moduleDb read these through the workspace, which kept their digests.
  for (const name of MODULE_DB_FILES) inputs.set(`${dir}/${name}`, await ws.digest(`${dir}/${name}`));
  const amendment = await amendInitramfs(image, db, wanted, async (rel) => {
    try {
      const bytes = await ws.guest.readFile(`${dir}/${rel}`, { maxBytes: MAX_MODULE });
      inputs.set(`${dir}/${rel}`, sha256(bytes));
      return bytes;
    } catch (err) {
      throw new GuestOSError("GUESTOS_INITRAMFS", `module ${dir}/${rel} is listed in modules.dep but cannot be read: reinstall the kernel package in the guest`, { cause: err, path: `${dir}/${rel}` });
    }
  }, texts);
  if (amendment.files.length === 0) return amendment;
  const lacking = wanted.filter((w) => amendment.added.includes(w));
  const change: Change = {
    kind: "initramfs",
    path: kernel.initrd,
    kernel: kernel.version,
    why: `${lacking.length > 0 ? `the ${amendment.generator} initramfs of ${kernel.version} lacks ${lacking.join(", ")}: without them the kernel cannot find its root disk on KVM` : `the initramfs of ${kernel.version} names its devices by their old names`}; a plain cpio archive with the ${lacking.length > 0 ? "drivers" : "corrected files"} is appended (the original bytes stay as they were)`,
    before: { sha256: sha256(bytes), size: bytes.length },
    generator: amendment.generator,
    modules: wanted,
    added: amendment.added,
    texts,
    files: amendment.files,
  };
  ws.add(change);
  preparedInitramfs.set(change, { amendment, inputs });
  return amendment;
}

/** What the guest can use on KVM, from the chosen kernel's drivers, the OS's age and its boot setup. */
export async function capabilities(ws: PlanWorkspace, report: InspectionReport, family: GuestFamily, facts: KernelFacts, target: ConversionTarget): Promise<GuestCapabilities> {
  const { db, kernel } = facts;
  const virtioBlk = has(db, "virtio_blk") && (has(db, "virtio_pci") || db.modules.size === 0);
  const [major = 0, minor = 0] = kernel.version.split(/[.-]/).map(Number);
  const kernelAtLeast = (a: number, b: number) => major > a || (major === a && minor >= b);
  const old = (family === "rhel" && report.os.majorVersion <= 4) || (report.os.distro === "debian" && report.os.majorVersion < 4);
  const blockBus: GuestCapabilities["blockBus"] = virtioBlk ? "virtio-blk" : old || !has(db, "ahci") ? "ide" : "sata";
  const efiDir = report.mountpoints.some((m) => m.mountpoint === "/boot/efi" || m.mountpoint === "/efi");
  let firmware: GuestCapabilities["firmware"] = target.firmware ?? "bios";
  if (!target.firmware && efiDir && !(await ws.guest.exists("/boot/grub/i386-pc")) && !(await ws.guest.exists("/boot/grub2/i386-pc")) && report.boot?.loader !== "grub") firmware = "uefi";
  const guestAgent = report.applications.some((a) => a.name === "qemu-guest-agent") || (await ws.guest.exists("/usr/bin/qemu-ga")) || target.installGuestAgent === true;
  return {
    blockBus,
    netModel: has(db, "virtio_net") ? "virtio" : "e1000",
    virtioScsi: has(db, "virtio_scsi"),
    virtioRng: has(db, "virtio_rng"),
    virtioBalloon: has(db, "virtio_balloon"),
    machine: blockBus === "ide" || old ? "pc" : "q35",
    // Virtio 1.0 came with Linux 4.0 and was backported to RHEL 7's 3.10.
    virtio10: kernelAtLeast(4, 0) || /\.el7/.test(kernel.version),
    firmware,
    guestAgent,
    serialConsole: target.serialConsole !== false,
    rtcUtc: true,
  };
}
