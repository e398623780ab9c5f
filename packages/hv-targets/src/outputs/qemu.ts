// -o qemu -os DIR: the local layout plus DIR/NAME.sh, a QEMU command line that boots the guest
// without libvirt (KVM when the host has it, TCG otherwise); extra QEMU options may follow it.
import { join } from "node:path";
import type { GuestCapabilities } from "@leapp/guestos";
import { localOutput, outputDirectory, refuseExisting } from "./local.js";
import { writeNewFile, type OutputDriver, type PublishRequest } from "./output.js";

/** POSIX shell quoting: every word in single quotes. */
const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** The QEMU arguments that run the guest as its domain describes it. */
export function qemuArguments(target: PublishRequest): string[] {
  const caps: GuestCapabilities | undefined = target.capabilities;
  const transitional = caps !== undefined && !caps.virtio10 ? "-transitional" : "";
  const args = ["-name", target.name, "-machine", `${caps?.machine ?? "q35"},accel=kvm:tcg`, "-m", `${Math.max(1, Math.round(target.memoryBytes / 1024 ** 2))}M`, "-smp", String(target.vcpus)];
  if (caps?.firmware === "uefi") args.push("-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd");
  const bus = caps?.blockBus ?? "virtio-blk";
  target.disks.forEach((disk, i) => {
    args.push("-drive", `file=${disk.path.replaceAll(",", ",,")},format=${disk.format},if=none,id=disk${i}`);
    if (bus === "virtio-blk") args.push("-device", `virtio-blk-pci${transitional},drive=disk${i}${i === 0 ? ",bootindex=1" : ""}`);
    else args.push("-device", `ide-hd,drive=disk${i}${i === 0 ? ",bootindex=1" : ""}`);
  });
  const nic = caps?.netModel === "e1000" ? "e1000" : `virtio-net-pci${transitional}`;
  target.macs.forEach((mac, i) => {
    args.push("-netdev", `user,id=net${i}`, "-device", `${nic},netdev=net${i}${mac ? `,mac=${mac}` : ""}`);
  });
  if (caps?.virtioRng !== false) args.push("-device", `virtio-rng-pci${transitional}`);
  args.push("-serial", "mon:stdio", "-display", "none");
  return args;
}

export const qemuOutput: OutputDriver = {
  kind: "qemu",
  discards: false,
  async diskDir(request) {
    return outputDirectory(request, "qemu");
  },
  async checkFree(request, dir, name) {
    await localOutput.checkFree(request, dir, name);
    refuseExisting([join(dir, `${name}.sh`)]);
  },
  async publish(request, target) {
    const script = join(target.dir, `${target.name}.sh`);
    const lines = ["#!/bin/sh -", `# Boots ${target.name} under QEMU (written by leapp convert). Extra QEMU options may follow.`, `exec qemu-system-x86_64 ${qemuArguments(target).map(quote).join(" ")} "$@"`, ""];
    // The script first: NAME.xml is what says the conversion is complete.
    await writeNewFile(script, lines.join("\n"), 0o755);
    return [script, ...(await localOutput.publish(request, target))];
  },
};
