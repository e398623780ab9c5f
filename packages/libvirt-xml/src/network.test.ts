import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { writeDnsmasqConfig, writeDnsmasqHosts } from "./dnsmasq.js";
import { LibvirtXmlError } from "./errors.js";
import { parseNetworksYaml, writeNetworkXml } from "./network.js";
import { attr, childElements, findPath, firstChild, parseXml } from "./xml.js";

const yaml = `
networks:
  - name: service
    mode: nat
    bridge: virbr5
    domain: m2.local
    cidr: 192.168.155.0/24
    gateway: 192.168.155.254
    dhcp: { start: 192.168.155.200, end: 192.168.155.250 }
    hosts:
      - { name: db, mac: "52:54:00:00:01:01", ip: 192.168.155.10 }
      - { name: web, mac: "52:54:00:00:01:02", ip: 192.168.155.11 }
  - name: backend
    mode: isolated
    gateway: 10.0.5.1
    netmask: 255.255.255.0
  - name: routed
    mode: route
    cidr: 172.16.3.1/26
  - name: lan
    mode: bridge
    bridge: br0
`;

function error(text: string): LibvirtXmlError {
  try {
    parseNetworksYaml(text);
  } catch (err) {
    expect(err).toBeInstanceOf(LibvirtXmlError);
    return err as LibvirtXmlError;
  }
  throw new Error(`expected a LibvirtXmlError for: ${text}`);
}

const one = (extra: string) => `name: n\ncidr: 192.168.10.0/24\n${extra}`;

describe("parseNetworksYaml", () => {
  it("reads every mode and both ways of giving the subnet", () => {
    const [service, backend, routed, lan] = parseNetworksYaml(yaml);
    expect(service).toMatchObject({ name: "service", mode: "nat", bridge: "virbr5", domain: "m2.local" });
    expect(service?.ipv4).toMatchObject({ gateway: "192.168.155.254", prefix: 24, netmask: "255.255.255.0", network: "192.168.155.0", dhcp: { start: "192.168.155.200", end: "192.168.155.250" } });
    expect(service?.ipv4?.hosts).toEqual([
      { name: "db", mac: "52:54:00:00:01:01", ip: "192.168.155.10" },
      { name: "web", mac: "52:54:00:00:01:02", ip: "192.168.155.11" },
    ]);
    expect(backend).toMatchObject({ mode: "isolated", bridge: "br-backend", ipv4: { gateway: "10.0.5.1", prefix: 24, network: "10.0.5.0" } });
    expect(routed?.ipv4).toMatchObject({ gateway: "172.16.3.1", prefix: 26, netmask: "255.255.255.192", network: "172.16.3.0" });
    expect(lan).toEqual({ name: "lan", mode: "bridge", bridge: "br0", domain: undefined, ipv4: undefined });
    // A single network as a mapping, and a bare list, are accepted too; the gateway defaults to .1.
    expect(parseNetworksYaml(one(""))[0]?.ipv4?.gateway).toBe("192.168.10.1");
    expect(parseNetworksYaml("- name: a\n  cidr: 10.1.0.0/16\n")[0]?.ipv4?.netmask).toBe("255.255.0.0");
  });

  it("reads miniascape's own layout: anchors, network address + netmask, dhcp static", () => {
    const specs = parseNetworksYaml(`
common:
  domain: &domain lab.local
  gateway: &gateway 192.168.155.254
  netmask: &netmask 255.255.255.0

default_network: &default_network
  name: default
  mode: nat
  bridge: virbr0
  domain: example.com
  gateway: 192.168.122.1
  netmask: 255.255.255.0
  network: 192.168.122.0
  dhcp:
    start: 192.168.122.200
    end: 192.168.122.254
    static: { start: 192.168.122.10, end: 192.168.122.199 }

networks:
  - *default_network
  - name: service
    mode: nat
    bridge: &service_bridge virbr5
    domain: *domain
    gateway: *gateway
    netmask: *netmask
    network: 192.168.155.0
    dhcp:
      start: 192.168.155.200
      end: 192.168.155.250
      static: { start: 192.168.155.10, end: 192.168.155.199 }
    hosts:
      - { name: db, mac: "52:54:00:00:01:01", ip: 192.168.155.10 }

host:
  bridge: *service_bridge
`);
    expect(specs.map((s) => [s.name, s.bridge, s.domain, s.ipv4?.gateway, s.ipv4?.network, s.ipv4?.prefix])).toEqual([
      ["default", "virbr0", "example.com", "192.168.122.1", "192.168.122.0", 24],
      ["service", "virbr5", "lab.local", "192.168.155.254", "192.168.155.0", 24],
    ]);
    expect(parseNetworksYaml("name: n\nnetwork: 10.9.0.0\nnetmask: 255.255.0.0\n")[0]?.ipv4?.gateway).toBe("10.9.0.1");
  });

  it("typed, specific errors for bad YAML", () => {
    expect(error("networks: [unclosed").code).toBe("LIBVIRT_XML_MALFORMED");
    expect(error("name: n\nname: m\ncidr: 10.0.0.0/24").code).toBe("LIBVIRT_XML_MALFORMED");
    const cases: [string, RegExp][] = [
      ["name: n\ncidr: 192.168.10.0/33", /not an IPv4 CIDR|prefix/],
      ["name: n\ncidr: 192.168.300.0/24", /not an IPv4 address/],
      ["name: n\ncidr: fd00::/64", /not an IPv4/],
      ["name: n\ngateway: 10.0.0.1\nnetmask: 255.0.255.0", /contiguous/],
      ["name: n\ngateway: 10.0.0.1", /netmask/],
      ["name: n\nmode: nat", /needs an IPv4 subnet/],
      ["name: n\nmode: bridge", /needs the host 'bridge'/],
      ["name: n\nmode: tunnel\ncidr: 10.0.0.0/24", /mode 'tunnel'/],
      ["name: 'bad name'\ncidr: 10.0.0.0/24", /name/],
      ["name: n\nbridge: this-bridge-name-is-too-long\ncidr: 10.0.0.0/24", /interface name/],
      ["name: n\ncidr: 10.0.0.0/24\ngateway: 10.0.1.1", /not a host address/],
      [one("dhcp: { start: 192.168.10.100, end: 192.168.11.5 }"), /not inside/],
      [one("dhcp: { start: 192.168.10.200, end: 192.168.10.100 }"), /after its end/],
      [one("dhcp: { start: 192.168.10.1, end: 192.168.10.100 }"), /contains the gateway/],
      [one("hosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 192.168.11.5 }]"), /host 'a'.*outside the subnet 192.168.10.0\/24/],
      [one("hosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 192.168.10.1 }]"), /gateway/],
      [one("hosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 192.168.10.5 }, { name: b, mac: '52:54:00:00:00:01', ip: 192.168.10.6 }]"), /MAC 52:54:00:00:00:01 is also given to a/],
      [one("hosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 192.168.10.5 }, { name: b, mac: '52:54:00:00:00:02', ip: 192.168.10.5 }]"), /IP 192.168.10.5 is also given to a/],
      [one("hosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 192.168.10.5 }, { name: A, mac: '52:54:00:00:00:02', ip: 192.168.10.6 }]"), /used twice/],
      [one("hosts: [{ name: a, mac: '01:54:00:00:00:01', ip: 192.168.10.5 }]"), /multicast/],
      [one("hosts: [{ name: a, mac: 'nope', ip: 192.168.10.5 }]"), /not a MAC/],
      [one("hosts: [{ name: 'a b', mac: '52:54:00:00:00:01', ip: 192.168.10.5 }]"), /host name/],
      [one("colour: blue"), /unknown key 'colour'/],
      ["- name: a\n  cidr: 10.0.0.0/16\n- name: b\n  cidr: 10.0.5.0/24", /overlap/],
      ["- name: a\n  cidr: 10.0.0.0/24\n- name: a\n  cidr: 10.0.1.0/24", /used twice/],
      ["- name: a\n  mode: bridge\n  bridge: br0\n- name: b\n  mode: bridge\n  bridge: br0", /both use bridge br0/],
      ["just a string", /expected a network/],
      ["name: n\ngateway: 10.0.0.1\nnetmask: 255.255.255.0\nnetwork: 10.0.1.0", /does not match the subnet/],
      [one("dhcp: { start: 192.168.10.200, end: 192.168.10.250, static: { start: 192.168.10.10, end: 192.168.10.210 } }"), /overlaps the DHCP range/],
      [one("dhcp: { start: 192.168.10.200, end: 192.168.10.250, static: { start: 192.168.10.10, end: 192.168.10.99 } }\nhosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 192.168.10.150 }]"), /outside the static range/],
    ];
    for (const [text, message] of cases) {
      const err = error(text);
      expect(err.code, text).toBe("LIBVIRT_XML_INVALID");
      expect(err.message, text).toMatch(message);
    }
  });

  it("survives alias bombs and oversized input", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    const start = performance.now();
    expect(error(bomb.join("\n")).code).toMatch(/LIBVIRT_XML_(MALFORMED|INVALID)/);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(error("# " + "x".repeat(2 * 1024 * 1024)).code).toBe("LIBVIRT_XML_TOO_LARGE");
  });
});

describe("fuzz parseNetworksYaml", () => {
  it("mutated networks YAML: a list of networks or a LibvirtXmlError, nothing else", () => {
    const pieces = ["\n", ": ", "- ", "{", "}", "[", "]", "&a ", "*a", "'", "192.168.155.", "/", "255.", "52:54:00:", "name: x", "mode: route", "hosts:", "dhcp:", "~", "!!binary ", "<<: *a", "0x10", "1e400"];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(yaml.length), fc.nat(40), fc.constantFrom(...pieces), fc.boolean()), { maxLength: 6 }),
        (edits) => {
          let text = yaml;
          for (const [at, len, piece, insert] of edits) text = insert ? text.slice(0, at) + piece + text.slice(at) : text.slice(0, at) + text.slice(at + len);
          try {
            const specs = parseNetworksYaml(text);
            for (const spec of specs) {
              writeNetworkXml(spec);
              writeDnsmasqHosts(spec);
            }
          } catch (err) {
            if (!(err instanceof LibvirtXmlError)) throw err;
          }
        },
      ),
      { numRuns: 400, seed: 7 },
    );
  });
});

describe("network XML and dnsmasq files", () => {
  const [service, backend, , lan] = parseNetworksYaml(yaml);

  it("libvirt network XML with forward mode, bridge, domain, ip and DHCP", () => {
    const root = parseXml(writeNetworkXml(service!)).root;
    expect(attr(firstChild(root, "forward"), "mode")).toBe("nat");
    expect(attr(firstChild(root, "bridge"), "name")).toBe("virbr5");
    expect(attr(firstChild(root, "domain"), "name")).toBe("m2.local");
    expect(attr(firstChild(root, "ip"), "address")).toBe("192.168.155.254");
    expect(attr(findPath(root, "ip", "dhcp", "range"), "start")).toBe("192.168.155.200");
    expect(childElements(findPath(root, "ip", "dhcp")!, "host").map((h) => attr(h, "ip"))).toEqual(["192.168.155.10", "192.168.155.11"]);
    expect(firstChild(parseXml(writeNetworkXml(backend!)).root, "forward")).toBeUndefined();
    const bridged = parseXml(writeNetworkXml(lan!)).root;
    expect(attr(firstChild(bridged, "forward"), "mode")).toBe("bridge");
    expect(firstChild(bridged, "ip")).toBeUndefined();
  });

  it("dnsmasq configuration and hosts file", () => {
    const conf = writeDnsmasqConfig(service!, { hostsFile: "/etc/leapp/service.hostsfile" });
    expect(conf).toContain("interface=virbr5\n");
    expect(conf).toContain("dhcp-range=192.168.155.200,192.168.155.250,255.255.255.0\n");
    expect(conf).toContain("dhcp-hostsfile=/etc/leapp/service.hostsfile\n");
    expect(conf).toContain("domain=m2.local\n");
    expect(writeDnsmasqHosts(service!)).toBe("52:54:00:00:01:01,192.168.155.10,db\n52:54:00:00:01:02,192.168.155.11,web\n");
    expect(writeDnsmasqConfig(backend!, { hostsFile: "/x" })).not.toContain("dhcp-range");
    const isolated = parseNetworksYaml("name: iso\nmode: isolated\ncidr: 10.7.0.0/24\ndhcp: { start: 10.7.0.100, end: 10.7.0.199 }\n")[0]!;
    expect(writeDnsmasqConfig(isolated, { hostsFile: "/x" })).toContain("dhcp-option=option:router\n");
  });
});
