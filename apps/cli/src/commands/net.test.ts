// `leapp net` run in-process: files written, text and --json results, typed errors as exit code 3.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ExitCode } from "../errors.js";
import { run } from "../program.js";
import { captureStreams } from "../test-streams.js";
import type { NetResult } from "./net.js";

const work = mkdtempSync(join(tmpdir(), "leapp-net-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const yamlFile = join(work, "networks.yaml");
writeFileSync(
  yamlFile,
  `networks:
  - name: service
    bridge: virbr5
    domain: m2.local
    cidr: 192.168.155.0/24
    gateway: 192.168.155.254
    dhcp: { start: 192.168.155.200, end: 192.168.155.250 }
    hosts:
      - { name: db, mac: "52:54:00:00:01:01", ip: 192.168.155.10 }
  - name: lan
    mode: bridge
    bridge: br0
`,
);

describe("leapp net", () => {
  it("writes network XML, dnsmasq configuration and hosts file per network", async () => {
    const out = join(work, "out");
    const io = captureStreams();
    expect(await run(["net", yamlFile, "-o", out], io)).toBe(ExitCode.ok);
    expect(io.out()).toContain("wrote 2 networks to");
    expect(io.out()).toContain("service (nat, bridge virbr5) 192.168.155.0/24 via 192.168.155.254, DHCP 192.168.155.200-192.168.155.250, 1 static host");
    // libvirt-xml's own tests validate the network XML with libvirt's schema and virsh.
    expect(readFileSync(join(out, "service.xml"), "utf8")).toMatch(/^<network>\n {2}<name>service<\/name>\n/);
    expect(readFileSync(join(out, "service.hostsfile"), "utf8")).toBe("52:54:00:00:01:01,192.168.155.10,db\n");
    expect(readFileSync(join(out, "service.dnsmasq.conf"), "utf8")).toContain(`dhcp-hostsfile=${join(out, "service.hostsfile")}\n`);
    expect(readFileSync(join(out, "lan.hostsfile"), "utf8")).toBe("");
  });

  it("--json prints exactly one document", async () => {
    const io = captureStreams();
    expect(await run(["net", yamlFile, "-o", join(work, "json"), "--json"], io)).toBe(ExitCode.ok);
    const result = JSON.parse(io.out()) as NetResult;
    expect(result.networks.map((n) => [n.name, n.mode, n.subnet, n.hosts])).toEqual([
      ["service", "nat", "192.168.155.0/24", 1],
      ["lan", "bridge", null, 0],
    ]);
    expect(io.err()).toBe("");
  });

  it("a bad YAML is a typed error (exit 3) naming the problem; a missing -o is a usage error", async () => {
    const bad = join(work, "bad.yaml");
    writeFileSync(bad, "name: n\ncidr: 10.0.0.0/24\nhosts: [{ name: a, mac: '52:54:00:00:00:01', ip: 10.0.1.5 }]\n");
    const io = captureStreams();
    expect(await run(["net", bad, "-o", join(work, "bad")], io)).toBe(ExitCode.input);
    expect(io.err()).toMatch(/host 'a'.*outside the subnet 10\.0\.0\.0\/24.*\[LIBVIRT_XML_INVALID\]/);
    const json = captureStreams();
    expect(await run(["net", bad, "-o", join(work, "bad"), "--json"], json)).toBe(ExitCode.input);
    expect(JSON.parse(json.out()).error.code).toBe("LIBVIRT_XML_INVALID");
    expect(await run(["net", yamlFile], captureStreams())).toBe(ExitCode.usage);
    expect(await run(["net", join(work, "missing.yaml"), "-o", work], captureStreams())).toBe(ExitCode.input);
  });

  it("never writes through a symbolic link planted in the output directory", async () => {
    const victim = join(work, "victim");
    writeFileSync(victim, "precious\n");
    for (const planted of ["service.xml", "service.hostsfile", "lan.dnsmasq.conf"]) {
      const out = join(work, `planted-${planted}`);
      mkdirSync(out);
      symlinkSync(victim, join(out, planted));
      const io = captureStreams();
      expect(await run(["net", yamlFile, "-o", out], io)).toBe(ExitCode.input);
      expect(io.err()).toBe(`leapp: ${join(out, planted)} is a symbolic link; leapp replaces only regular files: remove it or choose another directory [LEAPP_OUTPUT_NOT_A_FILE]\n`);
      expect(readFileSync(victim, "utf8")).toBe("precious\n");
      // Nothing half-written stays: only the planted link.
      expect(readdirSync(out)).toEqual([planted]);
      expect(lstatSync(join(out, planted)).isSymbolicLink()).toBe(true);
    }
  });

  it("replaces regular files and refuses directories in their place", async () => {
    const out = join(work, "rerun");
    expect(await run(["net", yamlFile, "-o", out], captureStreams())).toBe(ExitCode.ok);
    writeFileSync(join(out, "service.hostsfile"), "stale\n");
    expect(await run(["net", yamlFile, "-o", out], captureStreams())).toBe(ExitCode.ok);
    expect(readFileSync(join(out, "service.hostsfile"), "utf8")).toBe("52:54:00:00:01:01,192.168.155.10,db\n");
    expect(readdirSync(out).sort()).toEqual(["lan.dnsmasq.conf", "lan.hostsfile", "lan.xml", "service.dnsmasq.conf", "service.hostsfile", "service.xml"]);
    rmSync(join(out, "lan.xml"));
    mkdirSync(join(out, "lan.xml"));
    const io = captureStreams();
    expect(await run(["net", yamlFile, "-o", out], io)).toBe(ExitCode.input);
    expect(io.err()).toContain("lan.xml is a directory");
    expect(existsSync(join(out, "lan.xml"))).toBe(true);
    expect(readdirSync(out).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("is listed in leapp --help", async () => {
    const io = captureStreams();
    await run(["--help"], io);
    expect(io.out()).toMatch(/net \[options\] <networks.yaml>/);
  });
});
