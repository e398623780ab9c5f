// Which disks a VMX has, and in which order, checked against virt-v2v itself: `virt-v2v -i vmx
// --print-source -v` opens each disk it found with qemu-nbd, one socket per disk in disk order,
// so its log names every disk's file in order. The disks are real (empty) vmdks made by qemu-img.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readVmx } from "./vmx.js";

const work = mkdtempSync(join(tmpdir(), "leapp-vmx-v2v-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The disks virt-v2v found, in its order: file and bus. */
function virtV2vDisks(vmx: string): { path: string; bus: string }[] {
  const r = spawnSync("virt-v2v", ["-v", "-i", "vmx", vmx, "--print-source"], {
    encoding: "utf8",
    env: { ...process.env, LIBGUESTFS_BACKEND: "direct" },
    maxBuffer: 1 << 24,
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") throw new Error("virt-v2v is missing: install Debian's virt-v2v (scripts/install-debian-tools.sh does)");
  if (r.status !== 0) throw new Error(`virt-v2v failed (exit ${r.status}): ${r.stderr}`);
  // The qemu-nbd command lines are in the debug log on stderr, the facts on stdout.
  const log = r.stderr;
  const files = new Map<number, string>();
  for (const m of log.matchAll(/^ 'qemu-nbd' .*'--socket' '[^']*\/in(\d+)' .*'([^']+)'$/gm)) files.set(Number(m[1]), m[2]!);
  const buses = r.stdout.slice(r.stdout.indexOf("\ndisks:\n")).split("\n").slice(2).filter((l) => l.startsWith("\t")).map((l) => /\[(\w+)\]/.exec(l)?.[1] ?? "?");
  return buses.map((bus, i) => ({ path: files.get(i) ?? "?", bus }));
}

function vmxWithDisks(name: string, disks: { ns: string; present?: string; deviceType?: string }[]): string {
  const lines = ['.encoding = "UTF-8"', 'config.version = "8"', 'virtualHW.version = "19"', `displayName = "${name}"`, 'memsize = "1024"', 'guestOS = "rhel8-64"'];
  for (const d of disks) {
    const file = `${d.ns.replace(":", "-")}.vmdk`;
    if (d.present !== undefined) lines.push(`${d.ns}.present = "${d.present}"`);
    if (d.deviceType !== undefined) lines.push(`${d.ns}.deviceType = "${d.deviceType}"`);
    lines.push(`${d.ns}.fileName = "${file}"`);
    execFileSync("qemu-img", ["create", "-q", "-f", "vmdk", join(work, file), "1M"]);
  }
  const path = join(work, `${name}.vmx`);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

describe("VMX disks as virt-v2v finds them", () => {
  it("NVMe before SATA, SCSI first and IDE last; each by controller and unit; its device types", () => {
    // Written out of order on purpose, and with disks virt-v2v leaves out: an IDE disk without
    // deviceType, an NVMe disk with one, a namespace whose present is FALSE. (SATA disks are
    // given no deviceType: Debian 12's virt-v2v 2.2 takes only those, later versions "disk" too.)
    const vmx = vmxWithDisks("order", [
      { ns: "sata0:1", present: "TRUE" },
      { ns: "ide0:0", present: "TRUE", deviceType: "ata-hardDisk" },
      { ns: "nvme0:0", present: "TRUE" },
      { ns: "sata0:0" },
      { ns: "scsi1:0", present: "TRUE", deviceType: "scsi-hardDisk" },
      { ns: "scsi0:2", present: "TRUE", deviceType: "plainDisk" },
      { ns: "scsi0:0" },
      { ns: "ide1:0", present: "TRUE" },
      { ns: "nvme0:1", present: "TRUE", deviceType: "disk" },
      { ns: "nvme1:0", present: "TRUE" },
      { ns: "scsi0:1", present: "FALSE" },
      { ns: "ide0:1", present: "true", deviceType: "ata-hardDisk" },
    ]);
    const theirs = virtV2vDisks(vmx);
    const ours = readVmx(readFileSync(vmx), { baseDir: work }).disks.map((d) => ({ path: d.path!, bus: d.bus! }));
    expect(theirs.map((d) => d.bus)).toEqual(["scsi", "scsi", "scsi", "nvme", "nvme", "sata", "sata", "ide", "ide"]);
    expect(ours).toEqual(theirs);
  });

  it("the NVMe and SATA disk of one VM", () => {
    const vmx = vmxWithDisks("nvme-sata", [{ ns: "sata0:0" }, { ns: "nvme0:0", present: "TRUE" }]);
    const ours = readVmx(readFileSync(vmx), { baseDir: work }).disks.map((d) => ({ path: d.path!, bus: d.bus! }));
    expect(ours).toEqual([
      { path: join(work, "nvme0-0.vmdk"), bus: "nvme" },
      { path: join(work, "sata0-0.vmdk"), bus: "sata" },
    ]);
    expect(virtV2vDisks(vmx)).toEqual(ours);
  });
});
