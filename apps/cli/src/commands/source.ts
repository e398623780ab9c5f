import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import type { GuestSource, SourceFormat } from "@leapp/libvirt-xml";
import type { Cli, RegisterCommand } from "../program.js";
import { escapeStrings } from "../text.js";

/** `leapp source FILE`: the source VM's facts, as `virt-v2v --print-source` shows them. */
export interface SourceFacts {
  name: string;
  hypervisor: string;
  memoryBytes: number;
  vcpus: number;
  firmware: string;
  secureBoot: boolean;
  disks: { bus: string | null; format: string | null; path: string | null }[];
  removables: { type: "cdrom" | "floppy"; bus: string | null; slot: number | null }[];
  nics: { kind: "network" | "bridge" | "user"; name: string | null; mac: string | null; model: string | null }[];
}

/** The JSON contract of `leapp source --json`: exactly these keys, null where the source says nothing. */
export function sourceFacts(source: GuestSource): SourceFacts {
  return {
    name: source.name,
    hypervisor: source.hypervisor,
    memoryBytes: source.memoryBytes,
    vcpus: source.vcpus,
    firmware: source.firmware,
    secureBoot: source.secureBoot,
    disks: source.disks.map((d) => ({ bus: d.bus ?? null, format: d.format ?? null, path: d.path ?? null })),
    removables: source.removables.map((r) => ({ type: r.type, bus: r.bus ?? null, slot: r.slot ?? null })),
    nics: source.nics.map((n) => ({ kind: n.kind, name: n.name ?? null, mac: n.mac ?? null, model: n.model ?? null })),
  };
}

/** The human rendering, laid out like virt-v2v's --print-source so the two can be compared by eye. */
export function sourceText(source: GuestSource, format: SourceFormat): string {
  const cpu = source.cpu;
  const topology =
    cpu.sockets === undefined && cpu.cores === undefined && cpu.threads === undefined
      ? ""
      : `sockets: ${cpu.sockets ?? "?"} cores/socket: ${cpu.cores ?? "?"} threads/core: ${cpu.threads ?? "?"}`;
  const display = source.display ? `${source.display.type}${source.display.listen ? ` listening on ${source.display.listen}` : ""}${source.display.port ? ` port ${source.display.port}` : ""}` : "";
  const lines = [
    `    source name: ${source.name}`,
    `  source format: ${format}`,
    `hypervisor type: ${source.hypervisor}`,
    `       guest OS: ${source.guestOs ?? ""}`,
    `       VM genid: ${source.genid ?? ""}`,
    `         memory: ${source.memoryBytes} (bytes)`,
    `       nr vCPUs: ${source.vcpus}`,
    `     CPU vendor: ${cpu.vendor ?? ""}`,
    `      CPU model: ${cpu.model ?? ""}`,
    `   CPU topology: ${topology}`,
    `   CPU features: ${source.features.join(",")}`,
    `       firmware: ${source.firmware}`,
    `UEFI secureboot: ${source.secureBoot}`,
    `        display: ${display}`,
    `          sound: ${source.sound ?? ""}`,
    "disks:",
    ...source.disks.map((d) => `\t${d.path ?? "(no file)"}${d.format ? ` (${d.format})` : ""}${d.bus ? ` [${d.bus}]` : ""}`),
    "removable media:",
    ...source.removables.map((r) => `\t${r.type === "cdrom" ? "CD-ROM" : "Floppy"}${r.bus ? ` [${r.bus}]` : ""}${r.slot !== undefined ? ` in slot ${r.slot}` : ""}`),
    "NICs:",
    ...source.nics.map((n) => {
      const kind = n.kind === "network" ? "Network" : n.kind === "bridge" ? "Bridge" : "User";
      return `\t${kind}${n.name !== undefined ? ` ${JSON.stringify(n.name)}` : ""}${n.mac ? ` mac: ${n.mac}` : ""}${n.model ? ` [${n.model}]` : ""}`;
    }),
  ];
  return lines.join("\n");
}

export const registerSource: RegisterCommand = (program: Command, cli: Cli) => {
  program
    .command("source")
    .description("read a VM's metadata (libvirt XML, OVF, OVA, VMX, Xen cfg; detected by content) and print the source facts")
    .argument("<file>", "the metadata file, an .ova, or a directory holding an unpacked OVA")
    .option("--libvirt-xml", "print the KVM libvirt domain XML for this source instead of its facts")
    .action(async (file: string, options: { libvirtXml?: boolean }, cmd: Command) => {
      const out = cli.output(cmd);
      const { readSource, writeDomainXml } = await import("@leapp/libvirt-xml");
      const { format, source } = await readSource(file);
      if (options.libvirtXml) {
        // OVA disks are archive entries: the domain points where they land when unpacked beside the .ova.
        if (format === "ova") out.note(`note: the disks are inside ${file}; unpack it in ${dirname(resolve(file))} before defining this domain`);
        // The domain is KVM's, the disks are not: nothing here touched them or the guest inside.
        const input = { libvirt: "libvirtxml", ovf: "ova", ova: "ova", vmx: "vmx", xen: "xen" }[format];
        const convert = `'leapp convert -i ${input} ${file}' converts the guest itself`;
        out.note(`note: this domain uses the source's disks as they are, unconverted (${source.disks.map((d) => d.format ?? "raw").join(", ") || "no disks"}) and with the guest still set up for ${source.hypervisor}; ${convert}`);
        const xml = writeDomainXml(source, { baseDir: dirname(resolve(file)) });
        out.result({ libvirtXml: xml }, (r) => r.libvirtXml, { document: true });
        return;
      }
      // The text renders the whole source, not only the facts: it needs the same escaping they get.
      out.result(sourceFacts(source), () => sourceText(escapeStrings(source), format));
    });
};
