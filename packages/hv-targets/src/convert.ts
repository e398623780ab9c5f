// The conversion, stage by stage as virt-v2v runs it: the source (metadata and disks, read-only)
// → inspection → a writable overlay on the source disks → the hypervisor the guest leaves
// unconfigured (HVSource) and the OS plan of @leapp/guestos applied → the domain for KVM
// (HVTarget) → the output. The source is never written (except with the in-place strategy, which
// asks for it); every output is written under a temporary name and takes its name when complete,
// the domain last, so a guest whose NAME.xml exists is whole.
import { randomBytes } from "node:crypto";
import { realpathSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { applyPlan, GuestOSError, planConversion, type ChangePlan, type NothingToPlan } from "@leapp/guestos";
import { diskName, inspect, InspectError, openImageGuest, type InspectableGuest, type InspectionReport, type WritableGuest } from "@leapp/inspect";
import { convertDisk, createOverlay, openDisk, TEMPORARY_INFIX, type BlockDevice, type OperationOptions } from "@leapp/storage";
import { ChangeSet } from "./change-set.js";
import { HvTargetsError } from "./errors.js";
import { freeRangesOf, mergeRanges, totalBytes, withHoles, type ByteRange } from "./free-space.js";
import { sourceHardware } from "./hv-source.js";
import { readInput } from "./input.js";
import { libvirtOutput } from "./outputs/libvirt.js";
import { localOutput, refuseExisting } from "./outputs/local.js";
import { nullOutput } from "./outputs/null.js";
import type { OutputDriver, OutputRequest } from "./outputs/output.js";
import { qemuOutput } from "./outputs/qemu.js";
import { chooseSource } from "./sources/index.js";
import { kvmTarget } from "./targets/kvm.js";
import type { Conversion, InputKind, Inspection, OutputKind, Source, StorageStrategy, Target, TargetDisk } from "./types.js";

export interface ConvertOptions extends OperationOptions {
  /** How SOURCE is given (`-i`): disk images (default), or a hypervisor's metadata file. */
  input?: InputKind;
  /** Where the guest goes (`-o`, default local). */
  output?: OutputKind;
  /** `-os`: the output directory (local, qemu) or storage pool (libvirt, default "default"). */
  outputStorage?: string;
  /** `-oc`: the libvirt connection (default qemu:///system). */
  outputConnection?: string;
  /** `-of`: the format of copied disks (default qcow2). */
  outputFormat?: "qcow2" | "raw";
  /** `-on`: the converted guest's name (default: the source's). */
  name?: string;
  /** How the target disks are made (default copy). */
  storage?: StorageStrategy;
  /** Plan only: nothing is written anywhere. */
  dryRun?: boolean;
  /** Fail (HV_NO_OS) rather than move disks in which no operating system was found. */
  requireOs?: boolean;
  /** The domain's type: `kvm` (default) or `qemu` (TCG, for hosts without KVM). */
  domainType?: "kvm" | "qemu";
  /** Directories where the source disks' backing files may lie besides their own. */
  trustedBackingDirs?: readonly string[];
}

/** One change of the plan, for people and scripts: what kind, which file (if one), and why. */
export interface ChangeSummary {
  kind: string;
  path?: string;
  description: string;
}

export interface SourceSummary {
  input: InputKind;
  location: string;
  name: string;
  /** The hypervisor the guest leaves. */
  hypervisor: string;
  /** The operating system found, or null when none was. */
  os: { distro: string; version: string; productName: string | undefined } | null;
  disks: { name: string; format: string; size: number; bus: string | undefined }[];
}

export interface ConvertResult {
  name: string;
  dryRun: boolean;
  /** The target disks (for a dry run and -o null: where they would be). */
  outputs: TargetDisk[];
  /** Files written besides the disks (NAME.xml, NAME.sh). */
  files: string[];
  domainXml: string;
  plan: ChangePlan | NothingToPlan;
  changes: ChangeSummary[];
  source: SourceSummary;
  warnings: string[];
  /** Bytes the copy did not read because the guest's filesystems mark them free. */
  freeBytesSkipped: number;
}

const outputDrivers: Record<OutputKind, OutputDriver> = { local: localOutput, qemu: qemuOutput, libvirt: libvirtOutput, null: nullOutput };

const temporaryName = (path: string, tag = "") => join(dirname(path), `.${basename(path)}${TEMPORARY_INFIX}${tag}${randomBytes(6).toString("hex")}`);

/** The plan as a flat list: each file change, each package removal and each first-boot action. */
export function summarizeChanges(plan: ChangePlan | NothingToPlan): ChangeSummary[] {
  if (plan.status !== "planned") return [];
  const out: ChangeSummary[] = plan.changes.map((c) => (c.kind === "rename" ? { kind: c.kind, path: c.to, description: `${c.from} → ${c.to}: ${c.why}` } : { kind: c.kind, path: c.path, description: c.why }));
  for (const p of plan.packages) out.push({ kind: "remove-packages", description: `${p.packages.join(", ")} (${p.when === "now" ? "now" : "at first boot"}): ${p.why}` });
  for (const f of plan.firstBoot) out.push({ kind: "first-boot", description: `${f.name}: ${f.why}` });
  return out;
}

function checkName(name: string): string {
  if (name === "" || name.startsWith(".") || name.includes("/") || name.includes("\0") || name.length > 200) {
    throw new HvTargetsError("HV_BAD_INPUT", `'${name.slice(0, 64)}' cannot name a guest's files (empty, too long, starting with '.' or holding '/'): choose a name with -on`);
  }
  return name;
}

/**
 * Converts the guest described by `sources` (disk images, or one metadata file) to run on KVM.
 * An abort (`signal`) or an error removes everything half-written and rejects; progress comes as
 * events (`inspect`, `convert` steps, `copy` bytes per disk).
 */
export async function convert(sources: readonly string[], options: ConvertOptions = {}): Promise<ConvertResult> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const strategy = options.storage ?? "copy";
  const outputKind = options.output ?? "local";
  const driver = outputDrivers[outputKind];
  if (!driver) throw new HvTargetsError("HV_BAD_INPUT", `unknown output -o ${String(outputKind)}: choose local, libvirt, qemu or null`);
  if (strategy !== "copy" && options.outputFormat === "raw") throw new HvTargetsError("HV_BAD_INPUT", `-of raw goes with --storage copy only: ${strategy === "snapshot" ? "a snapshot is a qcow2 overlay" : "in-place keeps the source's format"}`);
  if (strategy !== "copy" && driver.discards) throw new HvTargetsError("HV_BAD_INPUT", `-o null discards the disks: it takes --storage copy only`);
  const format = options.outputFormat ?? "qcow2";
  const request: OutputRequest = { storage: options.outputStorage, connection: options.outputConnection };
  const dryRun = options.dryRun ?? false;

  const source = await readInput(options.input ?? "disk", sources, options.trustedBackingDirs ? { trustedBackingDirs: options.trustedBackingDirs } : {});
  const cleanup: string[] = [];
  const working: BlockDevice[] = [];
  let guest: (InspectableGuest & Partial<WritableGuest>) | undefined;
  let scratch: string | undefined;
  // The copy of the source disks, started before the guest is inspected and edited; stopped on an error.
  const stopCopy = new AbortController();
  let copying: Promise<number> | undefined;
  try {
    const name = checkName(options.name ?? source.metadata.name);
    if (strategy === "in-place") {
      for (const d of source.disks) if (d.file === undefined || (d.format !== "raw" && d.format !== "qcow2")) throw new HvTargetsError("HV_UNSUPPORTED", `--storage in-place needs raw or qcow2 disk files, and ${d.name} is ${d.file === undefined ? "inside an archive" : d.format}: use --storage copy`);
    }
    // Where everything goes, checked before anything is written.
    // A dry run names no output: it only plans (and then checks no directory).
    const dir = dryRun && request.storage === undefined && outputKind !== "libvirt" ? undefined : await driver.diskDir(request);
    const targets: TargetDisk[] =
      strategy === "in-place"
        ? source.disks.map((d) => ({ path: d.file!, format: d.format as "raw" | "qcow2" }))
        : source.disks.map((_, i) => {
            const file = `${name}-${basename(diskName(i))}`;
            return { path: resolve(dir ?? ".", file), format: strategy === "snapshot" ? "qcow2" : format };
          });
    if (dir !== undefined) {
      if (strategy !== "in-place") refuseExisting(targets.map((t) => t.path));
      await driver.checkFree(request, dir, name);
    }
    const trusted = trustedDirs(source);
    signal?.throwIfAborted();

    // The guest, writable through overlays (or read-only for a dry run).
    onProgress?.({ phase: "inspect", done: 0, unit: "steps", detail: source.location });
    let overlays: string[] = [];
    let copies: string[] = [];
    /** What the edits wrote, per overlay (recorded only while an early copy runs). */
    const written: ByteRange[][] = [];
    if (!dryRun) {
      if (strategy === "in-place") overlays = source.disks.map((d) => d.file!);
      else {
        scratch = dir === undefined ? await mkdtemp(join(tmpdir(), "leapp-convert-")) : undefined;
        overlays = targets.map((t) => (scratch ? join(scratch, basename(t.path)) : temporaryName(t.path, strategy === "copy" ? "overlay-" : "")));
        cleanup.push(...overlays);
        for (const [i, overlay] of overlays.entries()) {
          const disk = source.disks[i]!;
          if (disk.file !== undefined) await createOverlay(disk.file, overlay, { absoluteBacking: true, trustedBackingDirs: trusted, ...(signal ? { signal } : {}) });
          // A disk inside an archive (an OVA) has no file to back an overlay: a private copy takes the edits.
          else if (strategy === "copy") await convertDisk(disk.device, overlay, { format: "qcow2", ...(signal ? { signal } : {}) });
          else unsupportedArchive(source, i);
        }
      }
      if (strategy === "copy") {
        copies = targets.map((t) => (scratch ? join(scratch, `${basename(t.path)}.copy`) : temporaryName(t.path)));
        cleanup.push(...copies);
      }
      // With every disk in a file of its own, the copy starts now, from the source, while the guest
      // is inspected and edited on the overlays; the ranges the edits wrote are copied again after.
      if (strategy === "copy" && source.disks.every((d) => d.file !== undefined)) {
        const copySignal = signal ? AbortSignal.any([signal, stopCopy.signal]) : stopCopy.signal;
        copying = copyDisks(source.disks.map((d) => d.device), copies, format, { ...options, signal: copySignal });
        copying.catch(() => {}); // awaited once the edits are made
      }
      for (const path of overlays) {
        // A copy's overlays are thrown away once copied: nothing written to them needs syncing.
        const device = await openDisk(path, { writable: true, trustedBackingDirs: trusted, scratch: strategy === "copy" });
        written.push([]);
        working.push(copying ? recordingWrites(device, written[written.length - 1]!) : device);
      }
    }
    let inspection: Inspection;
    try {
      guest = dryRun ? await openImageGuest(source.disks.map((d) => d.device)) : await openImageGuest(working, { writable: true });
      inspection = { report: await inspect(guest) };
    } catch (err) {
      if (!(err instanceof InspectError && err.code === "INSPECT_NO_OS")) throw err;
      inspection = { report: undefined, reason: err.message };
    }
    signal?.throwIfAborted();

    const { report } = inspection;
    const hv = chooseSource(source.metadata, report);
    const warnings: string[] = [];
    let plan: ChangePlan | NothingToPlan;
    if (guest && report) {
      plan = await planOrNothing(guest, report, sourceHardware(hv, source));
      if (plan.status === "planned") {
        await hv.unconfigure({ source, guest, report, changes: new ChangeSet(guest, plan.changes), warnings });
        plan.warnings.push(...warnings.splice(0));
        warnings.push(...plan.warnings);
      }
    } else plan = { status: "nothing-to-plan", reason: "no-os", message: inspection.reason ?? "no operating system was found on the disks" };
    if (plan.status !== "planned") {
      if (options.requireOs) throw new HvTargetsError("HV_NO_OS", `${plan.message}; without --require-os the disks would be copied unchanged`);
      warnings.push(`no operating system leapp can convert was found (${plan.message}): the disks ${dryRun ? "would be" : "were"} moved unchanged and the guest keeps its source's devices; it boots on KVM only if it already has the drivers`);
    }

    if (!dryRun) {
      if (guest?.flush) await applyPlan(plan, guest as WritableGuest, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) });
      await guest?.close();
      guest = undefined;
    }

    let freeBytesSkipped = 0;
    if (copying) {
      freeBytesSkipped = await copying;
      await patchCopies(working, copies, written, format, signal);
    } else if (copies.length > 0) freeBytesSkipped = await copyDisks(working, copies, format, options);
    for (const device of working.splice(0)) await device.close();
    if (copies.length > 0) {
      for (const o of overlays) await rm(o, { force: true });
      overlays = copies;
    }
    if (!dryRun && !driver.discards && strategy !== "in-place") {
      // Every disk is complete: they take their names, then the domain says the guest is whole.
      for (const [i, t] of targets.entries()) {
        refuseExisting([t.path]);
        await rename(overlays[i]!, t.path);
      }
    }
    const conversion: Conversion = { from: hv.hypervisor, plan, capabilities: plan.status === "planned" ? plan.capabilities : undefined, warnings };
    const domainXml = kvmTarget.configure({ source, name, disks: targets, capabilities: conversion.capabilities, ...(options.domainType ? { domainType: options.domainType } : {}) });
    const files =
      dryRun || dir === undefined
        ? []
        : await driver.publish(request, { dir, name, domainXml, disks: targets, capabilities: conversion.capabilities, macs: source.metadata.nics.map((n) => n.mac), memoryBytes: source.metadata.memoryBytes, vcpus: source.metadata.vcpus });
    const target: Target = { name, output: outputKind, strategy, disks: targets, domainXml, files };
    return {
      name,
      dryRun,
      outputs: target.disks,
      files: target.files,
      domainXml: target.domainXml,
      plan: conversion.plan,
      changes: summarizeChanges(conversion.plan),
      source: summarize(source, conversion.from, report),
      warnings: conversion.warnings,
      freeBytesSkipped,
    };
  } finally {
    if (copying) {
      stopCopy.abort();
      await copying.catch(() => undefined);
    }
    await guest?.close().catch(() => undefined);
    await Promise.allSettled(working.map((d) => d.close()));
    await source.close();
    await Promise.all(cleanup.map((p) => rm(p, { force: true })));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** The OS plan; an OS leapp does not convert is moved unchanged, like disks without one. */
async function planOrNothing(...args: Parameters<typeof planConversion>): Promise<ChangePlan | NothingToPlan> {
  try {
    return await planConversion(...args);
  } catch (err) {
    if (err instanceof GuestOSError && err.code === "GUESTOS_UNSUPPORTED_OS") return { status: "nothing-to-plan", reason: "no-os", message: err.message };
    throw err;
  }
}

function unsupportedArchive(source: Source, index: number): never {
  throw new HvTargetsError("HV_UNSUPPORTED", `${source.disks[index]!.name} lies inside an archive, which a snapshot cannot be backed by nor changed in place: use --storage copy, or unpack the OVA (tar xf) and convert the directory with -i ova`, { path: source.location });
}

/** The source disks' directories (as named and as their links lead): overlays elsewhere may open them. */
function trustedDirs(source: Source): string[] {
  const dirs = new Set(source.trustedBackingDirs);
  for (const d of source.disks) {
    if (d.file === undefined) continue;
    dirs.add(dirname(d.file));
    dirs.add(dirname(realpathSync(d.file)));
  }
  return [...dirs];
}

/**
 * Copies each disk to a standalone image, leaving out what the guest's filesystems mark free.
 * Returns the bytes skipped that way. The devices stay open.
 */
async function copyDisks(devices: readonly BlockDevice[], copies: readonly string[], format: "qcow2" | "raw", options: ConvertOptions): Promise<number> {
  const { signal, onProgress } = options;
  const holes = (await freeRangesOf(devices, signal)).map((ranges) => alignedHoles(ranges, HOLE_ALIGNMENT));
  let skipped = 0;
  for (const [i, device] of devices.entries()) {
    signal?.throwIfAborted();
    skipped += totalBytes(holes[i]!);
    const detail = copies[i]!;
    await convertDisk(withHoles(device, holes[i]!), copies[i]!, {
      format,
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress: (e) => onProgress({ ...e, phase: "copy", detail }) } : {}),
    });
  }
  return skipped;
}

/**
 * Free ranges are skipped in whole units of this size (the default qcow2 cluster): a hole that
 * starts or ends inside a cluster would leave a part of it to be read by itself, where whole
 * clusters are copied by the kernel in large runs. What a partly free cluster holds is copied.
 */
const HOLE_ALIGNMENT = 64 * 1024;

/** The whole `unit`-aligned pieces of each range (sorted ranges in, sorted ranges out). */
function alignedHoles(ranges: readonly ByteRange[], unit: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const start = Math.ceil(r.offset / unit) * unit;
    const end = Math.floor((r.offset + r.length) / unit) * unit;
    if (end > start) out.push({ offset: start, length: end - start });
  }
  return out;
}

/** `device`, with every range written to it added to `ranges`. */
function recordingWrites(device: BlockDevice, ranges: ByteRange[]): BlockDevice {
  return {
    format: device.format,
    size: device.size,
    writable: device.writable,
    read: (buffer, position) => device.read(buffer, position),
    extents: (start, length) => device.extents(start, length),
    write(data, position) {
      ranges.push({ offset: position, length: data.length });
      return device.write(data, position);
    },
    flush: () => device.flush(),
    close: () => device.close(),
  };
}

/** Bytes copied again per read while patching a copy. */
const PATCH_CHUNK = 4 * 1024 * 1024;

/**
 * Brings each copy (made from the source while the guest was edited) up to its overlay: every
 * range the edits wrote is copied again, then the copy is made durable.
 */
async function patchCopies(overlays: readonly BlockDevice[], copies: readonly string[], written: readonly ByteRange[][], format: "qcow2" | "raw", signal: AbortSignal | undefined): Promise<void> {
  for (const [i, overlay] of overlays.entries()) {
    const copy = await openDisk(copies[i]!, { format, writable: true });
    try {
      const buffer = new Uint8Array(PATCH_CHUNK);
      for (const r of mergeRanges(written[i]!)) {
        for (let at = r.offset; at < r.offset + r.length; at += PATCH_CHUNK) {
          signal?.throwIfAborted();
          const piece = buffer.subarray(0, Math.min(PATCH_CHUNK, r.offset + r.length - at));
          await overlay.read(piece, at);
          await copy.write(piece, at);
        }
      }
      await copy.flush();
    } finally {
      await copy.close();
    }
  }
}

function summarize(source: Source, hypervisor: string, report: InspectionReport | undefined): SourceSummary {
  const os = report?.os;
  return {
    input: source.input,
    location: source.location,
    name: source.metadata.name,
    hypervisor,
    os: os ? { distro: os.distro, version: `${os.majorVersion}.${os.minorVersion}`, productName: os.productName } : null,
    disks: source.disks.map((d) => ({ name: d.name, format: d.format, size: d.size, bus: d.bus })),
  };
}
