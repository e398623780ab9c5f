import { mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { writeOutputFiles, type OutputFile } from "../output-files.js";
import type { Cli, RegisterCommand } from "../program.js";

/** What `leapp net --json` prints: one entry per network, with the files written for it. */
export interface NetResult {
  directory: string;
  networks: {
    name: string;
    mode: string;
    bridge: string;
    subnet: string | null;
    gateway: string | null;
    dhcpRange: { start: string; end: string } | null;
    hosts: number;
    files: { networkXml: string; dnsmasqConf: string; dhcpHosts: string };
  }[];
}

/** The networks file is a description: refuse anything bigger before reading it. */
const MAX_YAML_BYTES = 1024 * 1024;

export const registerNet: RegisterCommand = (program: Command, cli: Cli) => {
  program
    .command("net")
    .description("write libvirt network XML and dnsmasq files (configuration + DHCP hosts) from a networks YAML")
    .argument("<networks.yaml>", "networks in miniascape style: name, mode, bridge, domain, cidr or gateway+netmask, dhcp, hosts")
    .requiredOption("-o, --output <dir>", "directory to write NAME.xml, NAME.dnsmasq.conf and NAME.hostsfile into")
    .action(async (file: string, options: { output: string }, cmd: Command) => {
      const out = cli.output(cmd);
      const info = await stat(file);
      if (!info.isFile()) throw new UsageError(`${file} is not a file; give the networks YAML.`);
      if (info.size > MAX_YAML_BYTES) throw new UsageError(`${file} is ${info.size} bytes; a networks YAML is far smaller.`);
      const { parseNetworksYaml, writeDnsmasqConfig, writeDnsmasqHosts, writeNetworkXml } = await import("@leapp/libvirt-xml");
      const specs = parseNetworksYaml(await readFile(file, "utf8"), file);
      const dir = resolve(options.output);
      await mkdir(dir, { recursive: true });
      const result: NetResult = { directory: dir, networks: [] };
      const outputs: OutputFile[] = [];
      for (const spec of specs) {
        // Network names are validated ([A-Za-z0-9_.-], no leading dot), so they are safe file names.
        const files = {
          networkXml: join(dir, `${spec.name}.xml`),
          dnsmasqConf: join(dir, `${spec.name}.dnsmasq.conf`),
          dhcpHosts: join(dir, `${spec.name}.hostsfile`),
        };
        outputs.push(
          { path: files.networkXml, content: writeNetworkXml(spec) },
          { path: files.dnsmasqConf, content: writeDnsmasqConfig(spec, { hostsFile: files.dhcpHosts }) },
          { path: files.dhcpHosts, content: writeDnsmasqHosts(spec) },
        );
        const ip = spec.ipv4;
        result.networks.push({
          name: spec.name,
          mode: spec.mode,
          bridge: spec.bridge,
          subnet: ip ? `${ip.network}/${ip.prefix}` : null,
          gateway: ip?.gateway ?? null,
          dhcpRange: ip?.dhcp ?? null,
          hosts: ip?.hosts.length ?? 0,
          files,
        });
      }
      await writeOutputFiles(outputs);
      out.result(result, netText);
    });
};

function netText(result: NetResult): string {
  const lines = [`wrote ${result.networks.length} network${result.networks.length === 1 ? "" : "s"} to ${result.directory}:`];
  for (const n of result.networks) {
    const addressing = n.subnet ? ` ${n.subnet} via ${n.gateway}` : "";
    const dhcp = n.dhcpRange ? `, DHCP ${n.dhcpRange.start}-${n.dhcpRange.end}` : "";
    const hosts = n.hosts > 0 ? `, ${n.hosts} static host${n.hosts === 1 ? "" : "s"}` : "";
    lines.push(`  ${n.name} (${n.mode}, bridge ${n.bridge})${addressing}${dhcp}${hosts}`);
    lines.push(`    define it:  virsh net-define ${n.files.networkXml}`);
  }
  return lines.join("\n");
}
