import { describe, expect, it } from "vitest";
import { seededRandom } from "@leapp/zoo";
import { parseBoundPorts, parsePublishedPorts } from "./host-ports.js";

// As a Linux 6.x host prints them: a header, listening and connected sockets, IPv4 and IPv6.
const tcp = [
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
  "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 280 1 00000000411c4b55 100 0 0 10 0",
  "   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 3311 1 0000000000000000 100 0 0 10 0",
  "   2: 0100007F:CBE6 0100007F:AF05 06 00000000:00000000 03:0000106F 00000000     0        0 0 3 000000005fde9de5",
  "   3: 0F02000A:0016 0202000A:D431 01 00000000:00000000 02:00090C8A 00000000     0        0 9012 2 0000000000000000 20 4 29 10 -1",
].join("\n");
const tcp6 = [
  "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
  "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 290 1 0000000000000000 100 0 0 10 0",
  "   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 291 1 0000000000000000 100 0 0 10 0",
].join("\n");
const udp = [
  "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
  "  112: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1850 2 0000000000000000 0",
  "  300: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 1811 2 0000000000000000 0",
  "  400: 0F02000A:9C41 0202000A:0035 01 00000000:00000000 00:00000000 00000000     0        0 1990 2 0000000000000000 0",
].join("\n");

describe("parseBoundPorts", () => {
  it("takes listening TCP sockets on any address, IPv4 and IPv6, and no connected ones", () => {
    expect([...parseBoundPorts(`${tcp}\n${tcp6}\n`, "tcp")].sort((a, b) => a - b)).toEqual([22, 631, 3306, 8080]);
  });

  it("takes every bound UDP socket", () => {
    expect([...parseBoundPorts(udp, "udp")].sort((a, b) => a - b)).toEqual([53, 68, 40001]);
  });

  it("skips what is not a socket line", () => {
    expect(parseBoundPorts("", "tcp").size).toBe(0);
    expect(parseBoundPorts("garbage\n0: zz:0016 0 0A\n   0: 00000000:0000 00000000:0000 0A\n   1: 00000000:0050 00000000:0000 XY\n", "tcp").size).toBe(0);
  });

  it("never throws and stays bounded on mutated tables", () => {
    const rand = seededRandom(71);
    const base = `${tcp}\n${tcp6}\n${udp}`;
    const alphabet = "0123456789ABCDEFabcdef: \n\t:zZ-";
    for (let round = 0; round < 400; round++) {
      const chars = [...base];
      for (let k = 0; k < 1 + Math.floor(rand() * 40); k++) chars[Math.floor(rand() * chars.length)] = alphabet[Math.floor(rand() * alphabet.length)]!;
      const text = chars.join("").repeat(1 + Math.floor(rand() * 3));
      for (const proto of ["tcp", "udp"] as const) {
        for (const p of parseBoundPorts(text, proto)) expect(p >= 1 && p <= 65535).toBe(true);
      }
    }
    // Lines past the bound are not read: a huge table costs bounded work.
    const huge = "   0: 00000000:0050 00000000:0000 0A x\n".repeat(250_000) + "   0: 00000000:0051 00000000:0000 0A x\n";
    expect([...parseBoundPorts(huge, "tcp")]).toEqual([80]);
  });
});

describe("parsePublishedPorts", () => {
  it("reads the host ports of podman's and docker's Ports column", () => {
    expect(parsePublishedPorts("0.0.0.0:8080->80/tcp, 0.0.0.0:9022->22/tcp")).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: 9022, containerPort: 22, protocol: "tcp" },
    ]);
    // docker lists IPv4 and IPv6 bindings of one port; a range; UDP.
    expect(parsePublishedPorts("0.0.0.0:8080->80/tcp, :::8080->80/tcp, 127.0.0.1:5300-5301->53-54/udp")).toEqual([
      { hostPort: 5300, containerPort: 53, protocol: "udp" },
      { hostPort: 5301, containerPort: 54, protocol: "udp" },
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
    ]);
  });

  it("leaves out exposed-only ports, SCTP and nonsense", () => {
    expect(parsePublishedPorts("80/tcp, 443/tcp")).toEqual([]);
    expect(parsePublishedPorts("0.0.0.0:3868->3868/sctp")).toEqual([]);
    expect(parsePublishedPorts("")).toEqual([]);
    expect(parsePublishedPorts("0.0.0.0:99999->80/tcp, 0.0.0.0:9000-8000->80/tcp, 0.0.0.0:0->80/tcp")).toEqual([]);
  });

  it("bounds a lying range by the port space", () => {
    expect(parsePublishedPorts("0.0.0.0:1-65535->1-65535/tcp")).toHaveLength(65535);
  });
});
