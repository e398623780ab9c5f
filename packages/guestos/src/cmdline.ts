// Kernel command lines, wherever a boot configuration keeps one: device names follow the disks
// (root=, resume=, real_root=), and the Xen console (hvc0/xvc0, xencons=) becomes the first
// serial port, where KVM's serial console is.
import { remapDevicesIn, type DeviceMapper } from "./devices.js";

export interface CmdlineOptions {
  mapper: DeviceMapper;
  /** Put the console on ttyS0 (when false, only Xen consoles are dropped). */
  serialConsole: boolean;
}

const SERIAL = "console=ttyS0,115200n8";

/** The command line `options` edited for KVM; tokens it does not know are kept as they are. */
export function editCmdline(options: string, o: CmdlineOptions): string {
  const tokens = options.split(/(\s+)/);
  const out: string[] = [];
  let hadXenConsole = false;
  let hasSerial = false;
  let hasConsole = false;
  for (const t of tokens) {
    if (/^\s*$/.test(t)) {
      out.push(t);
      continue;
    }
    if (/^xencons=/.test(t)) continue;
    const console = /^console=(hvc0|xvc0)(,.*)?$/.exec(t);
    if (console) {
      // In its place, once: the kernel's /dev/console is the last console= given.
      if (!hadXenConsole && o.serialConsole) out.push(SERIAL);
      hadXenConsole = true;
      hasSerial ||= o.serialConsole;
      continue;
    }
    if (/^console=ttyS0\b/.test(t)) hasSerial = true;
    if (/^console=/.test(t)) hasConsole = true;
    const dev = /^(root|resume|real_root|rd\.md\.uuid)=(\/dev\/.*)$/.exec(t);
    out.push(dev ? `${dev[1]}=${remapDevicesIn(dev[2] as string, o.mapper)}` : t);
  }
  let result = out.join("").replace(/\s{2,}/g, " ").trim();
  // Only where the guest had no console of its own besides Xen's: an admin's choice stays.
  if (o.serialConsole && !hasSerial && (hadXenConsole || !hasConsole)) result = `${result} ${hadXenConsole || hasConsole ? "" : "console=tty0 "}${SERIAL}`.trim();
  if (!o.serialConsole && hadXenConsole && !hasConsole) result = `${result} console=tty0`.trim();
  return result;
}
