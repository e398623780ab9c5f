// `leapp convert` as users run it, with virt-v2v's spelling (-i, -o, -os, -of, -on), on a data VM
// of a Xen host (ext4 made here with mkfs.ext4 -d; no OS, so its disks move unchanged): the JSON
// contract of a dry run and of a run, typed errors with exit 3 — and the built command killed with
// SIGKILL in the middle of the copy: no NAME.xml, nothing that looks complete, the source untouched.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEMPORARY_INFIX } from "@leapp/storage";
import { ExitCode } from "../errors.js";
import { killAtProgress, leapp } from "../test-streams.js";

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "leapp-cli-convert-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const disk = join(work, "data01.img");
const domain = join(work, "data01.xml");
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'pnpm build' first`);
  const tree = join(work, "tree");
  mkdirSync(tree);
  writeFileSync(join(tree, "records.csv"), "id,name\n1,alpha\n");
  // Incompressible data, so that a copy takes long enough to be killed midway.
  writeFileSync(join(tree, "archive.bin"), randomBytes(192 * 1024 * 1024));
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", tree, disk, "256M"]);
  writeFileSync(
    domain,
    `<domain type='xen'><name>data01</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='xenfv'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='xvda' bus='xen'/></disk><interface type='bridge'><mac address='00:16:3e:0a:0b:0c'/><source bridge='xenbr0'/></interface></devices></domain>\n`,
  );
});

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("leapp convert", () => {
  it("--dry-run --json: the plan and the source; nothing written", async () => {
    const out = join(work, "dry");
    mkdirSync(out);
    const r = await leapp("convert", "-i", "libvirtxml", domain, "-o", "local", "-os", out, "--dry-run", "--json");
    expect(r.code, r.err + r.out).toBe(ExitCode.ok);
    const doc = JSON.parse(r.out) as { plan: { changes: unknown[] }; source: Record<string, unknown> };
    expect(doc.plan.changes).toEqual([]);
    expect(doc.source).toMatchObject({ input: "libvirtxml", name: "data01", hypervisor: "xen", os: null });
    expect(readdirSync(out)).toEqual([]);
  });

  it("-i libvirtxml -o local -os DIR -of raw -on NAME --json: the outputs and the domain", async () => {
    const out = join(work, "run");
    mkdirSync(out);
    const before = sha256(disk);
    const r = await leapp("convert", "-i", "libvirtxml", domain, "-o", "local", "-os", out, "-of", "raw", "-on", "data02", "--json");
    expect(r.code, r.err + r.out).toBe(ExitCode.ok);
    const doc = JSON.parse(r.out) as { name: string; outputs: { path: string; format: string }[]; domainXml: string; changes: unknown[]; source: unknown };
    expect(doc.name).toBe("data02");
    expect(doc.outputs).toEqual([{ path: join(out, "data02-sda"), format: "raw" }]);
    expect(readFileSync(join(out, "data02.xml"), "utf8")).toBe(doc.domainXml);
    execFileSync("virt-xml-validate", [join(out, "data02.xml"), "domain"]);
    execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "raw", disk, join(out, "data02-sda")]);
    expect(sha256(disk)).toBe(before);
    // Text mode: the warning that the disks moved unchanged.
    const again = await leapp("convert", disk, "-os", out, "--dry-run");
    expect(again.code).toBe(ExitCode.ok);
    expect(again.out).toMatch(/no operating system/);
  });

  it("typed errors: exit 3, one line; usage errors: exit 2", async () => {
    const missing = await leapp("convert", join(work, "nope.img"), "-os", work, "--json");
    expect(missing.code).toBe(ExitCode.input);
    expect(JSON.parse(missing.out)).toMatchObject({ error: { code: "HV_SOURCE_DISK", package: "@leapp/hv-targets" } });
    const noOs = await leapp("convert", disk, "-o", "null", "--require-os");
    expect(noOs.code).toBe(ExitCode.input);
    expect(noOs.err).toMatch(/HV_NO_OS|operating system/);
    expect((await leapp("convert", disk, "-o", "nowhere")).code).toBe(ExitCode.usage);
  });

  it("killed with SIGKILL mid-copy: no NAME.xml and no finished disk; the source untouched; the same command then succeeds", async () => {
    const out = join(work, "killed");
    mkdirSync(out);
    const before = sha256(disk);
    const args = ["convert", "-i", "libvirtxml", domain, "-os", out, "--progress", "json"];
    // The first copy event: the disk is being written under its temporary name (a fast machine
    // may copy the rest before a second event could come).
    const signal = await killAtProgress(args, (e) => e.task === "copy" && e.done < e.total, "the conversion");
    expect(signal).toBe("SIGKILL");
    const left = readdirSync(out);
    expect(left).not.toContain("data01.xml");
    expect(left).not.toContain("data01-sda");
    for (const f of left) expect(f).toContain(TEMPORARY_INFIX);
    expect(sha256(disk)).toBe(before);
    const r = await leapp("convert", "-i", "libvirtxml", domain, "-os", out);
    expect(r.code, r.err).toBe(ExitCode.ok);
    expect(readdirSync(out)).toEqual(expect.arrayContaining(["data01.xml", "data01-sda"]));
  });
});
