// -o libvirt on a real libvirtd (started here when none runs, and stopped again): the disks go into
// a directory pool made for the test, the domain is defined on the connection, and a second
// conversion to the same name is refused before anything is written. Slow tier: on this machine
// libvirtd probes QEMU again on every define (its /dev/kvm cannot be used), about 45 s each.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convert } from "./convert.js";

const uri = "qemu:///system";
const scratch = mkdtempSync(join(tmpdir(), "hv-libvirt-"));
const pool = `leapp-test-${randomBytes(4).toString("hex")}`;
const poolDir = join(scratch, "pool");
const name = `leapp-data-${randomBytes(4).toString("hex")}`;
const started: number[] = [];
const virsh = (...args: string[]) => execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

beforeAll(async () => {
  if (spawnSync("virsh", ["-c", uri, "version"], { stdio: "ignore" }).status !== 0) {
    mkdirSync("/var/log/libvirt", { recursive: true });
    for (const daemon of ["virtlogd", "libvirtd"]) {
      execFileSync(daemon, ["-d"]);
      started.push(Number(readFileSync(`/run/${daemon}.pid`, "utf8")));
    }
    for (let i = 0; i < 50 && spawnSync("virsh", ["-c", uri, "version"], { stdio: "ignore" }).status !== 0; i++) await new Promise((r) => setTimeout(r, 200));
  }
  mkdirSync(poolDir);
  virsh("pool-define-as", pool, "dir", "--target", poolDir);
  virsh("pool-start", pool);
});

afterAll(() => {
  spawnSync("virsh", ["-c", uri, "undefine", name], { stdio: "ignore" });
  spawnSync("virsh", ["-c", uri, "pool-destroy", pool], { stdio: "ignore" });
  spawnSync("virsh", ["-c", uri, "pool-undefine", pool], { stdio: "ignore" });
  for (const pid of started.reverse()) process.kill(pid, "SIGTERM");
  rmSync(scratch, { recursive: true, force: true });
});

describe("-o libvirt", () => {
  it("puts the disks in the pool's directory and defines the domain on the connection", async () => {
    const image = join(scratch, "data.img");
    execFileSync("truncate", ["-s", "32M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", image]);
    const result = await convert([image], { output: "libvirt", outputConnection: uri, outputStorage: pool, name, domainType: "qemu" });
    expect(result.outputs).toEqual([{ path: join(poolDir, `${name}-sda`), format: "qcow2" }]);
    expect(readdirSync(poolDir)).toEqual([`${name}-sda`]);
    expect(virsh("list", "--all", "--name")).toContain(name);
    const defined = virsh("dumpxml", name);
    expect(defined).toContain(`<source file='${join(poolDir, `${name}-sda`)}'/>`);
    expect(defined).toMatch(/<domain type='qemu'/);
    expect(virsh("vol-list", pool)).toContain(`${name}-sda`);
    // The same name again: refused before a disk is written.
    await expect(convert([image], { output: "libvirt", outputConnection: uri, outputStorage: pool, name, domainType: "qemu" })).rejects.toMatchObject({ code: "HV_EXISTS" });
    expect(readdirSync(poolDir)).toEqual([`${name}-sda`]);
    await expect(convert([image], { output: "libvirt", outputConnection: uri, outputStorage: "no-such-pool", name: `${name}-2` })).rejects.toMatchObject({ code: "HV_LIBVIRT" });
    expect(existsSync(join(poolDir, `${name}-2-sda`))).toBe(false);
  });
});
