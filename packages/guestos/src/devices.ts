// Disk device names across hypervisors: the i-th disk is /dev/xvdX on Xen, /dev/sdX on VMware
// (SCSI) or modern IDE, /dev/hdX on old IDE, /dev/nvme(i)n1 or /dev/cciss/c0d(i) elsewhere — and
// /dev/vdX on virtio-blk. Names given by UUID, LABEL or LVM are left alone: they survive.

/** `a`, `b`, … `z`, `aa`, … for disk index 0, 1, … (as the kernel names disks). */
export function diskLetters(index: number): string {
  let s = "";
  let n = index + 1;
  while (n > 0) {
    n--;
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  }
  return s;
}

function letterIndex(letters: string): number {
  let n = 0;
  for (const c of letters) n = n * 26 + (c.charCodeAt(0) - 96);
  return n - 1;
}

export interface DeviceMapper {
  /** The target name for a device path, or undefined when it is not a disk we map. */
  map(device: string): string | undefined;
  /** Whole-disk mapping that was used, for the plan (`/dev/xvda` → `/dev/vda`). */
  used: Map<string, string>;
}

// A whole disk or partition: /dev/xvda, /dev/sdb2, /dev/hda1, /dev/vdc, /dev/nvme0n1p2, /dev/cciss/c0d1p1.
const DEVICE = /\/dev\/(?:(xvd|sd|hd|vd)([a-z]{1,2})(\d{0,3})|nvme(\d{1,2})n1(?:p(\d{1,3}))?|cciss\/c0d(\d{1,2})(?:p(\d{1,3}))?)(?![\w/-])/g;
const ONE_DEVICE = new RegExp(`^(?:${DEVICE.source})$`);

/**
 * Maps every disk name to `prefix` + the same disk letters. With `diskCount`, only names of the
 * first `diskCount` disks are mapped (a /dev/hdc beyond them is a CD-ROM, not a disk).
 */
export function deviceMapper(prefix: "vd" | "sd" | "hd", diskCount: number | undefined): DeviceMapper {
  const used = new Map<string, string>();
  const map = (device: string): string | undefined => {
    const m = ONE_DEVICE.exec(device);
    if (!m) return undefined;
    let index: number;
    let part: string;
    let whole: string;
    if (m[1] !== undefined) {
      index = letterIndex(m[2] as string);
      part = m[3] ?? "";
      whole = `/dev/${m[1]}${m[2]}`;
    } else if (m[4] !== undefined) {
      index = Number(m[4]);
      part = m[5] ?? "";
      whole = `/dev/nvme${m[4]}n1`;
    } else {
      index = Number(m[6]);
      part = m[7] ?? "";
      whole = `/dev/cciss/c0d${m[6]}`;
    }
    if (diskCount !== undefined && index >= diskCount) return undefined;
    const target = `/dev/${prefix}${diskLetters(index)}`;
    if (whole !== target) used.set(whole, target);
    return `${target}${part}`;
  };
  return { map, used };
}

/** Replaces every mapped disk name in a text (kernel command lines, grub files, fstab fields). */
export function remapDevicesIn(text: string, mapper: DeviceMapper): string {
  return text.replace(DEVICE, (device) => mapper.map(device) ?? device);
}
