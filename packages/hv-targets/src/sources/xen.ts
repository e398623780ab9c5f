// Xen, PV and HVM. The OS plan already moves a Xen guest's kernel, console, disk names and tools;
// what is left here: Citrix's guest utilities comment out the inittab gettys when installed (put
// them back, as virt-v2v does), and a PV guest booted by pygrub or a dom0 kernel may have no boot
// loader on its disk at all.
import type { HVSource, UnconfigureContext } from "../hv-source.js";

/** A getty line xe-guest-utilities commented out: `#1:2345:respawn:/sbin/mingetty tty1`. */
const commentedGetty = /^#([1-6]:[2-5]+:respawn:.*getty.*)$/gm;

/** Packages only a Xen guest has: the guest utilities and the xenstore tools. */
const xenPackages = /^(xe-guest-utilities|xenstore-utils|xen-tools|xen-utils-common)/;
/** A boot line only Xen runs: the root on a Xen disk, the console on Xen's. */
const xenCommandLine = /(^|\s)(root=\/dev\/xvd|console=hvc0)/;

export const xenSource: HVSource = {
  hypervisor: "xen",
  defaultBus: "xen",
  describes: (metadata) => metadata.hypervisor === "xen",
  leftTraces: (report) =>
    report.hypervisorTools.some((t) => t.hypervisor === "xen") ||
    report.applications.some((a) => xenPackages.test(a.name)) ||
    (report.boot?.default !== undefined && xenCommandLine.test(report.boot.default.options)),
  async unconfigure(context: UnconfigureContext) {
    const { report, changes, warnings, source } = context;
    if (report.applications.some((a) => a.name.startsWith("xe-guest-utilities"))) {
      await changes.edit("/etc/inittab", "xe-guest-utilities commented out the gettys of the virtual consoles when it was installed: they are back for the KVM console", (t) => t.replace(commentedGetty, "$1"));
    }
    const pv = source.metadata.osType === "xen" || source.metadata.osType === "linux" || source.metadata.bootloader !== undefined || source.metadata.kernel !== undefined;
    const firstDisk = source.disks[0];
    if (firstDisk && (pv || source.input === "disk") && source.metadata.firmware !== "uefi" && !(await hasBootCode(firstDisk.device))) {
      warnings.push(
        `the first disk has no boot code in its master boot record: Xen started this guest with ${source.metadata.kernel ? "a kernel from the Xen host" : "pygrub"} from outside the disk. On KVM it boots only once a boot loader is installed on it (from a rescue system: grub-install /dev/vda), or with UEFI`,
      );
    }
  },
};

/** Whether the MBR holds boot code: the 0x55AA signature and a non-empty code area. */
async function hasBootCode(device: { size: number; read(b: Uint8Array, p: number): Promise<void> }): Promise<boolean> {
  if (device.size < 512) return false;
  const mbr = new Uint8Array(512);
  await device.read(mbr, 0);
  return mbr[510] === 0x55 && mbr[511] === 0xaa && mbr.subarray(0, 440).some((b) => b !== 0);
}
