// Offline removal of Debian packages, judged by the real dpkg: packages built with dpkg-deb and
// installed with dpkg --root; the plan's changes written to a copy of the tree; then dpkg --audit
// finds the database consistent, dpkg-query no longer lists what was removed, and dpkg itself can
// still remove what was left for the first boot.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDirectoryGuest } from "@leapp/inspect";
import { applyPlan } from "./apply.js";
import { planDpkgRemovals } from "./dpkg-offline.js";
import { MemoryGuest } from "./memory-guest.js";
import type { ChangePlan } from "./plan-types.js";
import { applyChangesToTree } from "./testing/loop-apply.js";
import { PlanWorkspace } from "./workspace.js";

const scratch = mkdtempSync(join(tmpdir(), "guestos-dpkg-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
const run = (tool: string, args: string[]) => execFileSync(tool, args, { env, stdio: ["ignore", "pipe", "pipe"] }).toString();

function deb(name: string, o: { depends?: string; files: Record<string, string>; postrm?: string }): string {
  const dir = join(scratch, `pkg-${name}`);
  mkdirSync(join(dir, "DEBIAN"), { recursive: true });
  const control = [`Package: ${name}`, "Version: 1.0-1", "Architecture: all", "Maintainer: leapp tests <tests@example.org>", `Description: ${name} for the offline removal test`];
  if (o.depends) control.push(`Depends: ${o.depends}`);
  writeFileSync(join(dir, "DEBIAN/control"), `${control.join("\n")}\n`);
  if (o.postrm) writeFileSync(join(dir, "DEBIAN/postrm"), o.postrm, { mode: 0o755 });
  for (const [path, content] of Object.entries(o.files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  const out = join(scratch, `${name}.deb`);
  run("dpkg-deb", ["--root-owner-group", "-b", dir, out]);
  return out;
}

describe("offline dpkg removal", () => {
  it("removes a package with nothing to run now, leaves scripted or needed ones for first boot; dpkg agrees", async () => {
    const root = join(scratch, "root");
    for (const d of ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "bin", "usr/bin"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "var/lib/dpkg/status"), "");
    cpSync("/bin/sh", join(root, "bin/sh"));
    const debs = [
      deb("xenstore-utils", { files: { "usr/bin/xenstore-read": "#!/bin/sh\n", "usr/share/doc/xenstore-utils/README": "xenstore\n" } }),
      deb("open-vm-tools", { files: { "usr/bin/vmtoolsd": "#!/bin/sh\n" }, postrm: "#!/bin/sh\nexit 0\n" }),
      deb("xe-guest-utilities", { files: { "usr/sbin/xe-daemon": "#!/bin/sh\n" } }),
      deb("monitoring", { depends: "xe-guest-utilities", files: { "usr/bin/monitor": "#!/bin/sh\n" } }),
    ];
    run("dpkg", ["--root", root, "--log=/dev/null", "--force-script-chrootless", "--force-not-root", "-i", ...debs]);
    const guest = await openDirectoryGuest(root);
    const ws = new PlanWorkspace(guest);
    const { now, later } = await planDpkgRemovals(ws, ["xenstore-utils", "open-vm-tools", "xe-guest-utilities"], "hypervisor tools");
    expect(now).toEqual(["xenstore-utils"]);
    expect(later).toEqual(["open-vm-tools", "xe-guest-utilities"]);
    const plan = { status: "planned", changes: ws.changes() } as unknown as ChangePlan;
    const dry = new MemoryGuest(guest);
    await applyPlan(plan, dry);
    const copy = join(scratch, "converted");
    cpSync(root, copy, { recursive: true, verbatimSymlinks: true });
    await applyChangesToTree(dry, copy);

    expect(existsSync(join(copy, "usr/bin/xenstore-read"))).toBe(false);
    expect(existsSync(join(copy, "usr/bin/vmtoolsd"))).toBe(true);
    expect(run("dpkg", ["--root", copy, "--audit"])).toBe("");
    const listed = run("dpkg-query", ["--admindir", join(copy, "var/lib/dpkg"), "-W", "-f", "${Package} ${db:Status-Abbrev}\\n"]);
    expect(listed.split("\n").filter((l) => l !== "").sort()).toEqual(["monitoring ii ", "open-vm-tools ii ", "xe-guest-utilities ii "]);
    // What waits for the first boot is still dpkg's to remove.
    run("dpkg", ["--root", copy, "--log=/dev/null", "--force-script-chrootless", "--force-not-root", "--purge", "open-vm-tools"]);
    expect(readFileSync(join(copy, "var/lib/dpkg/status"), "utf8")).not.toContain("Package: open-vm-tools");
  });
});
