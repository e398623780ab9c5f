// A corpus of real libvirt domain XMLs written by virt-install (Debian package virtinst), across
// disk buses, NIC types, firmware, graphics, CPU modes, removable media and sound. virt-install
// only prints here (--print-xml against libvirt's test driver), so nothing is created. Generated
// once into the zoo's cache, keyed by virt-install's version and the variants.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { cached } from "./cache.js";
import { ZooError } from "./errors.js";
import { toolEnv } from "./run.js";

const exec = promisify(execFile);

const common = ["--connect", "test:///default", "--print-xml", "--noautoconsole", "--import"];
const disk = (extra: string): string[] => ["--disk", `size=1,${extra}`];
/** Removable media whose image virt-install would insist on finding: attach empty, then point it. */
const media = (device: string, bus: string, file: string): string[] => ["--disk", `device=${device},bus=${bus}`, "--xml", `./devices/disk[@device='${device}']/source/@file=${file}`];
const pflash = ["--boot", "loader=/usr/share/OVMF/OVMF_CODE_4M.fd,loader.type=pflash,loader.readonly=yes"];

/** name → virt-install arguments (beyond the common ones). */
export const virtInstallVariants: Record<string, string[]> = {
  "virtio-network": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/a.qcow2,format=qcow2,bus=virtio"), "--network", "network=default,model=virtio"],
  "ide-e1000-vnc": ["--osinfo", "linux2016", "--memory", "512", ...disk("path=/var/lib/libvirt/images/b.img,bus=ide"), "--network", "network=default,model=e1000", "--graphics", "vnc,listen=0.0.0.0"],
  "sata-cdrom-sata": ["--osinfo", "win10", "--memory", "4096", "--vcpus", "2", ...disk("path=/var/lib/libvirt/images/w.qcow2,bus=sata"), ...media("cdrom", "sata", "/srv/iso/win10.iso"), "--network", "bridge=br0,model=e1000e"],
  "ide-cdrom-hdc": ["--osinfo", "win7", "--memory", "2048", ...disk("path=/var/lib/libvirt/images/w7.img,bus=ide"), "--disk", "device=cdrom,bus=ide,target.dev=hdc", "--network", "network=default,model=rtl8139"],
  "scsi-virtio-scsi": ["--osinfo", "rhel9.0", "--memory", "2048", ...disk("path=/var/lib/libvirt/images/s1.qcow2,bus=scsi"), ...disk("path=/var/lib/libvirt/images/s2.qcow2,bus=scsi"), "--controller", "type=scsi,model=virtio-scsi", "--network", "network=default"],
  "usb-disk": ["--osinfo", "debian11", "--memory", "768", ...disk("path=/var/lib/libvirt/images/u.img,bus=usb"), "--network", "none"],
  "floppy": ["--osinfo", "winxp", "--memory", "512", ...disk("path=/var/lib/libvirt/images/xp.img,bus=ide"), ...media("floppy", "fdc", "/srv/floppy/drivers.img"), "--network", "network=default,model=rtl8139"],
  "user-net-rtl8139": ["--osinfo", "linux2020", "--memory", "512", ...disk("path=/var/lib/libvirt/images/c.img"), "--network", "user,model=rtl8139,mac=52:54:00:12:34:56"],
  "two-nics-macs": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/d.img"), "--network", "network=default,mac=52:54:00:00:00:01", "--network", "bridge=br1,mac=52:54:00:00:00:02,model=virtio"],
  "uefi-pflash": ["--osinfo", "linux2022", "--memory", "2048", ...pflash, ...disk("path=/var/lib/libvirt/images/e.qcow2,bus=virtio")],
  "uefi-firmware-efi": ["--osinfo", "linux2022", "--memory", "2048", ...disk("path=/var/lib/libvirt/images/f.qcow2"), "--xml", "./os/@firmware=efi"],
  "uefi-secure-boot": ["--osinfo", "win11", "--memory", "4096", "--vcpus", "4", ...disk("path=/var/lib/libvirt/images/w11.qcow2,bus=sata"), "--xml", "./os/@firmware=efi", "--xml", "./os/firmware/feature/@name=secure-boot", "--xml", "./os/firmware/feature/@enabled=yes", "--features", "smm.state=on"],
  "spice-qxl-ich9": ["--osinfo", "fedora36", "--memory", "2048", ...disk("path=/var/lib/libvirt/images/g.qcow2"), "--graphics", "spice", "--video", "qxl", "--sound", "ich9"],
  "vnc-port-ac97": ["--osinfo", "linux2016", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/h.img"), "--graphics", "vnc,port=5905,listen=127.0.0.1", "--sound", "ac97"],
  "headless-serial": ["--osinfo", "linux2022", "--memory", "512", ...disk("path=/var/lib/libvirt/images/i.img"), "--graphics", "none", "--console", "pty,target.type=serial", "--serial", "pty"],
  "cpu-host-passthrough": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/j.img"), "--cpu", "host-passthrough"],
  "cpu-custom-topology": ["--osinfo", "linux2022", "--memory", "8192", "--vcpus", "8,sockets=2,cores=2,threads=2", "--cpu", "Haswell,vendor=Intel", ...disk("path=/var/lib/libvirt/images/k.img")],
  "cpu-host-model-features": ["--osinfo", "linux2022", "--memory", "1024", "--cpu", "host-model,+vmx,-svm", ...disk("path=/var/lib/libvirt/images/l.img")],
  "memory-units-genid": ["--osinfo", "win2k19", "--memory", "3000", ...disk("path=/var/lib/libvirt/images/m.img,bus=sata"), "--xml", "./genid=e9392370-2917-565e-692b-d057f46512d6", "--xml", "./memory/@unit=MiB", "--xml", "./memory=3000"],
  "metadata-title": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/n.img"), "--metadata", "title=Build server,description=Runs <builds> & tests"],
  "no-disk-cdrom-boot": ["--osinfo", "linux2022", "--memory", "1024", "--disk", "none", ...media("cdrom", "sata", "/srv/iso/live.iso"), "--network", "network=default"],
  "many-disks": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/p1.img"), ...disk("path=/var/lib/libvirt/images/p2.img"), ...disk("path=/var/lib/libvirt/images/p3.img,bus=sata"), "--disk", "device=cdrom,bus=sata"],
  "features-hyperv-clock": ["--osinfo", "win10", "--memory", "4096", ...disk("path=/var/lib/libvirt/images/q.img,bus=sata"), "--features", "hyperv.relaxed.state=on,hyperv.vapic.state=on", "--clock", "offset=localtime"],
  "watchdog-rng-balloon": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/r.img"), "--watchdog", "i6300esb,action=reset", "--rng", "/dev/urandom", "--memballoon", "virtio"],
  "channel-filesystem": ["--osinfo", "linux2022", "--memory", "1024", ...disk("path=/var/lib/libvirt/images/s.img"), "--channel", "unix,target.type=virtio,name=org.qemu.guest_agent.0", "--filesystem", "/srv/share,share"],
};

export interface VirtInstallDomain {
  name: string;
  path: string;
  xml: string;
}

/** Every variant's domain XML as virt-install printed it, generated on first use. */
export async function virtInstallCorpus(): Promise<VirtInstallDomain[]> {
  const version = await virtInstall(["--version"]);
  const hash = createHash("sha256").update(JSON.stringify({ version: version.trim(), common, virtInstallVariants })).digest("hex").slice(0, 16);
  const dir = await cached(`virt-install-${hash}`, async (into) => {
    const names = Object.keys(virtInstallVariants);
    // Two at a time: each virt-install is a Python start-up, and the machine's cores are shared.
    for (let i = 0; i < names.length; i += 2) {
      await Promise.all(names.slice(i, i + 2).map(async (name) => writeFileSync(join(into, `${name}.xml`), await virtInstall([...common, "--name", name, ...virtInstallVariants[name]!]))));
    }
  });
  return readdirSync(dir)
    .filter((f) => f.endsWith(".xml"))
    .sort()
    .map((f) => ({ name: f.slice(0, -4), path: join(dir, f), xml: readFileSync(join(dir, f), "utf8") }));
}

async function virtInstall(args: string[]): Promise<string> {
  try {
    return (await exec("virt-install", args, { env: toolEnv, maxBuffer: 1 << 20 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new ZooError("ZOO_TOOL_MISSING", "virt-install is missing: install Debian's virtinst (scripts/install-debian-tools.sh does)", { cause: err });
    throw new ZooError("ZOO_TOOL_FAILED", `virt-install ${args.join(" ")} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}
