import { describe, expect, it } from "vitest";
import { seededRandom } from "@leapp/zoo";
import { PackagerError } from "../errors.js";
import { parsePortRequest, planPortMap, type PortMapping, type SourcePort, type TakenPorts } from "./port-map.js";

const tcp = (...ports: number[]): SourcePort[] => ports.map((port) => ({ port, protocol: "tcp" }));
const taken = (tcpPorts: number[] = [], udpPorts: number[] = []): TakenPorts => ({ tcp: new Set(tcpPorts), udp: new Set(udpPorts) });
const pairs = (m: PortMapping[]) => m.map((p) => `${p.protocol === "udp" ? "udp " : ""}${p.source}->${p.target}`);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof PackagerError) return err.code;
    throw err;
  }
  return undefined;
}

describe("planPortMap", () => {
  it("keeps each port's own number when it is free, and moves 22 to 9022 as the prototype did", () => {
    const m = planPortMap([{ port: 80, protocol: "tcp", service: "httpd" }, { port: 22, protocol: "tcp", service: "sshd" }, { port: 443, protocol: "tcp" }], taken());
    expect(m).toEqual([
      { source: 22, target: 9022, protocol: "tcp", service: "sshd", why: "default", wanted: 9022 },
      { source: 80, target: 80, protocol: "tcp", service: "httpd", why: "same", wanted: 80 },
      { source: 443, target: 443, protocol: "tcp", why: "same", wanted: 443 },
    ]);
  });

  it("takes the next free port above a taken one", () => {
    expect(pairs(planPortMap(tcp(80), taken([80, 81, 82])))).toEqual(["80->83"]);
    expect(planPortMap(tcp(80), taken([80]))[0]).toMatchObject({ why: "next-free", wanted: 80 });
    // The default move too: 9022 taken → 9023.
    expect(pairs(planPortMap(tcp(22), taken([22, 9022])))).toEqual(["22->9023"]);
  });

  it("lets every port that can keep its number keep it before moving the others", () => {
    // 80 is taken: it must not take 81, which the machine serves itself.
    expect(pairs(planPortMap(tcp(80, 81), taken([80])))).toEqual(["80->82", "81->81"]);
    expect(pairs(planPortMap(tcp(8080, 8081, 8082), taken([8080, 8081])))).toEqual(["8080->8083", "8081->8084", "8082->8082"]);
  });

  it("never gives two mappings one target port", () => {
    const m = planPortMap(tcp(22, 9022, 9023), taken());
    expect(pairs(m)).toEqual(["22->9024", "9022->9022", "9023->9023"]);
    expect(new Set(m.map((p) => p.target)).size).toBe(3);
  });

  it("follows --tcp-port TARGET:SOURCE, also for ports the machine was not seen to serve", () => {
    const m = planPortMap(tcp(80, 22), taken([80]), { requested: [{ source: 80, target: 8080 }, { source: 3306, target: 13306 }] });
    expect(m).toEqual([
      { source: 22, target: 9022, protocol: "tcp", why: "default", wanted: 9022 },
      { source: 80, target: 8080, protocol: "tcp", why: "requested", wanted: 8080 },
      { source: 3306, target: 13306, protocol: "tcp", why: "requested", wanted: 13306 },
    ]);
  });

  it("publishes a --tcp-port SOURCE on its own number (no default move), or the next free one", () => {
    expect(pairs(planPortMap([], taken(), { requested: [{ source: 22 }] }))).toEqual(["22->22"]);
    expect(pairs(planPortMap([], taken([22]), { requested: [{ source: 22 }] }))).toEqual(["22->23"]);
  });

  it("a requested target port goes first: an automatic port moves out of its way", () => {
    expect(pairs(planPortMap(tcp(80, 8080), taken(), { requested: [{ source: 80, target: 8080 }] }))).toEqual(["80->8080", "8080->8081"]);
  });

  it("refuses a requested target that is in use, naming it", () => {
    expect(code(() => planPortMap(tcp(80), taken([8080]), { requested: [{ source: 80, target: 8080 }] }))).toBe("PACKAGER_PORT_TAKEN");
    expect(() => planPortMap(tcp(80), taken([8080]), { requested: [{ source: 80, target: 8080 }] })).toThrow(/target port 8080 .* is in use on the target; choose another with --tcp-port PORT:80/);
  });

  it("leaves --no-tcp-port ports out, and refuses a port both mapped and excluded", () => {
    expect(pairs(planPortMap(tcp(22, 80), taken(), { excluded: [22] }))).toEqual(["80->80"]);
    expect(code(() => planPortMap(tcp(80), taken(), { excluded: [80], requested: [{ source: 80, target: 8080 }] }))).toBe("PACKAGER_BAD_INPUT");
  });

  it("refuses contradictory requests", () => {
    expect(code(() => planPortMap([], taken(), { requested: [{ source: 80, target: 8080 }, { source: 80, target: 8081 }] }))).toBe("PACKAGER_BAD_INPUT");
    expect(code(() => planPortMap([], taken(), { requested: [{ source: 80, target: 8080 }, { source: 81, target: 8080 }] }))).toBe("PACKAGER_BAD_INPUT");
    for (const bad of [0, -1, 65536, 1.5, Number.NaN]) {
      expect(code(() => planPortMap(tcp(bad), taken()))).toBe("PACKAGER_BAD_INPUT");
      expect(code(() => planPortMap([], taken(), { requested: [{ source: 80, target: bad }] }))).toBe("PACKAGER_BAD_INPUT");
      expect(code(() => planPortMap([], taken(), { excluded: [bad] }))).toBe("PACKAGER_BAD_INPUT");
    }
  });

  it("says so when no port is free up to 65535", () => {
    const all = Array.from({ length: 65535 - 65530 + 1 }, (_, i) => 65530 + i);
    expect(code(() => planPortMap(tcp(65530), taken(all)))).toBe("PACKAGER_NO_FREE_PORT");
    expect(pairs(planPortMap(tcp(65535), taken()))).toEqual(["65535->65535"]);
  });

  it("maps UDP apart from TCP: the same number may be used by both", () => {
    const m = planPortMap([{ port: 53, protocol: "udp", service: "named" }, { port: 53, protocol: "tcp", service: "named" }], taken([], [53]));
    expect(pairs(m)).toEqual(["53->53", "udp 53->54"]);
    // --no-tcp-port leaves the UDP port alone.
    expect(pairs(planPortMap([{ port: 53, protocol: "udp" }, { port: 53, protocol: "tcp" }], taken(), { excluded: [53] }))).toEqual(["udp 53->53"]);
  });

  it("lists a port once when the configuration and the live machine both name it, keeping the service's name", () => {
    const m = planPortMap([{ port: 80, protocol: "tcp" }, { port: 80, protocol: "tcp", service: "apache2" }, { port: 80, protocol: "tcp", service: "listening" }], taken());
    expect(m).toEqual([{ source: 80, target: 80, protocol: "tcp", service: "apache2", why: "same", wanted: 80 }]);
  });

  it("moves ports a rootless runtime cannot bind above its lowest port", () => {
    const m = planPortMap(tcp(22, 80, 8080), taken([1024]), { lowestPort: 1024 });
    expect(pairs(m)).toEqual(["22->9022", "80->1025", "8080->8080"]);
    expect(m.find((p) => p.source === 80)).toMatchObject({ why: "next-free", wanted: 1024 });
    expect(code(() => planPortMap(tcp(80), taken(), { lowestPort: 1024, requested: [{ source: 80, target: 80 }] }))).toBe("PACKAGER_PORT_TAKEN");
  });

  it("other defaults replace 22 → 9022", () => {
    expect(pairs(planPortMap(tcp(22, 80), taken(), { defaults: { 80: 8080 } }))).toEqual(["22->22", "80->8080"]);
  });

  it("holds its invariants on random inputs: distinct free targets, every wanted port once, requests kept", () => {
    const rand = seededRandom(20240611);
    for (let round = 0; round < 300; round++) {
      const n = Math.floor(rand() * 12);
      const sources: SourcePort[] = Array.from({ length: n }, () => ({ port: 1 + Math.floor(rand() * 40), protocol: rand() < 0.8 ? "tcp" : "udp" }));
      const usedTcp = Array.from({ length: Math.floor(rand() * 30) }, () => 1 + Math.floor(rand() * 60));
      const usedUdp = Array.from({ length: Math.floor(rand() * 10) }, () => 1 + Math.floor(rand() * 60));
      const requestedTarget = 100 + Math.floor(rand() * 10);
      const requested = rand() < 0.5 ? [{ source: 1 + Math.floor(rand() * 40), target: requestedTarget }] : [];
      const m = planPortMap(sources, taken(usedTcp, usedUdp), { requested, defaults: { 5: 50 } });
      for (const proto of ["tcp", "udp"] as const) {
        const targets = m.filter((p) => p.protocol === proto).map((p) => p.target);
        expect(new Set(targets).size).toBe(targets.length);
        for (const t of targets) expect((proto === "tcp" ? usedTcp : usedUdp).includes(t)).toBe(false);
      }
      const wanted = new Set([...sources.map((s) => `${s.protocol}/${s.port}`), ...requested.map((r) => `tcp/${r.source}`)]);
      expect(new Set(m.map((p) => `${p.protocol}/${p.source}`))).toEqual(wanted);
      for (const r of requested) expect(m.find((p) => p.protocol === "tcp" && p.source === r.source)!.target).toBe(r.target);
      for (const p of m) if (p.why === "same") expect(p.target).toBe(p.source);
    }
  });
});

describe("parsePortRequest", () => {
  it("reads TARGET:SOURCE and SOURCE", () => {
    expect(parsePortRequest("8080:80")).toEqual({ source: 80, target: 8080 });
    expect(parsePortRequest(" 443 ")).toEqual({ source: 443 });
  });
  it.each(["", "80:", ":80", "a:80", "80:80:80", "0:80", "80:0", "70000:80", "1e3", "-1"])("refuses %j", (text) => {
    expect(code(() => parsePortRequest(text))).toBe("PACKAGER_BAD_INPUT");
  });
});
