// The network XML must be what libvirt accepts (its RNG schema and the test driver's net-define),
// and the dnsmasq files what dnsmasq accepts: a syntax check, then a real dnsmasq started on the
// bridge inside a private network namespace, which must read the hosts file and serve the range.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDnsmasqConfig, writeDnsmasqHosts } from "./dnsmasq.js";
import { parseNetworksYaml, writeNetworkXml, type NetworkSpec } from "./network.js";

const run = promisify(execFile);
let work = "";
let specs: NetworkSpec[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "leapp-network-"));
  specs = parseNetworksYaml(`
networks:
  - name: service
    bridge: virbr5
    domain: m2.local
    cidr: 192.168.155.0/24
    gateway: 192.168.155.254
    dhcp: { start: 192.168.155.200, end: 192.168.155.250 }
    hosts:
      - { name: db, mac: "52:54:00:00:01:01", ip: 192.168.155.10 }
      - { name: web, mac: "52:54:00:00:01:02", ip: 192.168.155.11 }
      - { mac: "52:54:00:00:01:03", ip: 192.168.155.12 }
  - name: backend
    mode: isolated
    gateway: 10.0.5.1
    netmask: 255.255.255.0
    dhcp: { start: 10.0.5.100, end: 10.0.5.120 }
    hosts: [{ name: store, mac: "52:54:00:00:02:01", ip: 10.0.5.10 }]
  - name: routed
    mode: route
    cidr: 172.16.3.1/26
    dhcp: { start: 172.16.3.10, end: 172.16.3.20 }
  - name: lan
    mode: bridge
    bridge: br-lan
  - name: lan-dhcp
    mode: bridge
    bridge: br-office
    domain: office.example
    cidr: 10.20.0.1/16
    dhcp: { start: 10.20.1.1, end: 10.20.1.250 }
    hosts: [{ name: printer, mac: "52:54:00:00:03:01", ip: 10.20.0.5 }]
`);
  for (const spec of specs) {
    writeFileSync(join(work, `${spec.name}.xml`), writeNetworkXml(spec));
    writeFileSync(join(work, `${spec.name}.hostsfile`), writeDnsmasqHosts(spec));
    writeFileSync(
      join(work, `${spec.name}.dnsmasq.conf`),
      writeDnsmasqConfig(spec, { hostsFile: join(work, `${spec.name}.hostsfile`), pidFile: join(work, `${spec.name}.pid`) }),
    );
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("network XML and dnsmasq files, checked by libvirt and dnsmasq", () => {
  it("virt-xml-validate … network and virsh net-define accept every network", async () => {
    for (const spec of specs) {
      const file = join(work, `${spec.name}.xml`);
      await run("virt-xml-validate", [file, "network"]);
      const { stdout } = await run("virsh", ["-c", "test:///default", "net-define", file]);
      expect(stdout).toContain(`Network ${spec.name} defined`);
    }
  });

  it("dnsmasq --test accepts every configuration", async () => {
    for (const spec of specs) {
      const { stderr } = await run("dnsmasq", ["--test", `--conf-file=${join(work, `${spec.name}.dnsmasq.conf`)}`]);
      expect(stderr).toMatch(/syntax check OK/);
    }
  });

  it("a real dnsmasq on the bridge, in a private network namespace, reads the hosts and serves the range", async () => {
    for (const spec of specs.filter((s) => s.ipv4?.dhcp !== undefined)) {
      const ip = spec.ipv4!;
      const conf = join(work, `${spec.name}.dnsmasq.conf`);
      const script = [
        "set -e",
        `ip link add ${spec.bridge} type bridge`,
        `ip addr add ${ip.gateway}/${ip.prefix} dev ${spec.bridge}`,
        `ip link set ${spec.bridge} up`,
        // DNS off (port 0) so nothing but DHCP binds; it runs one second, then is stopped.
        `timeout 1 dnsmasq --keep-in-foreground --log-facility=- --port=0 --user=root --dhcp-leasefile=${join(work, `${spec.name}.leases`)} --conf-file=${conf} 2>&1 || true`,
      ].join("\n");
      const { stdout } = await run("unshare", ["--net", "sh", "-c", script]);
      expect(stdout, stdout).toContain(`DHCP, IP range ${ip.dhcp!.start} -- ${ip.dhcp!.end}`);
      if (ip.hosts.length > 0) expect(stdout, stdout).toContain(`read ${join(work, `${spec.name}.hostsfile`)}`);
      expect(stdout, stdout).not.toMatch(/bad|error|failed/i);
    }
  });
});
