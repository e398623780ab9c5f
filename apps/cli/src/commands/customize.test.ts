// `leapp customize`'s command line: usage errors before anything is opened, and the text rendering.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CustomizeResult } from "@leapp/inspect";
import { ExitCode } from "../errors.js";
import { leapp } from "../test-streams.js";
import { customizeText } from "./customize.js";

// The usage checks come after the images are found: give them images that exist.
const work = mkdtempSync(join(tmpdir(), "leapp-customize-usage-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
for (const name of ["disk.img", "a.img", "b.img"]) writeFileSync(join(work, name), "");

describe("leapp customize usage", () => {
  it("lists virt-customize's operations in its help", async () => {
    const r = await leapp("customize", "--help");
    expect(r.code).toBe(ExitCode.ok);
    for (const option of ["--write <PATH:CONTENT>", "--copy-in <HOSTPATH:GUESTDIR>", "--chown <UID:GID:PATH>", "--root-password", "--dry-run", "--in-place"]) expect(r.out).toContain(option);
  });

  it.each([
    [["customize", "disk.img", "--write", "/x:1"], /say where the changes go/],
    [["customize", "disk.img", "--in-place", "-o", "o.qcow2", "--write", "/x:1"], /exclusive/],
    [["customize", "a.img", "b.img", "-o", "one.qcow2", "--write", "/x:1"], /2 image\(s\) but 1 overlay/],
    [["customize", "disk.img", "-o", "o.qcow2"], /no operation given/],
    [["customize", "disk.img", "-o", "o.qcow2", "--write", "no-colon"], /expected --write PATH:CONTENT/],
    [["customize", "disk.img", "-o", "o.qcow2", "--chown", "root:root:/etc"], /UID:GID:PATH/],
  ])("refuses %j with a usage error (exit 2)", async (args, message) => {
    const r = await leapp(...args.map((a) => (a.endsWith(".img") ? join(work, a) : a)));
    expect(r.code).toBe(ExitCode.usage);
    expect(r.err).toMatch(message);
  });

  it("renders each operation with the filesystem it touched, and what it made", () => {
    const result: CustomizeResult = {
      overlays: ["/out/disk-sda.qcow2"],
      inPlace: [],
      dryRun: false,
      operations: [
        { op: "write", path: "/var/x", filesystem: "/dev/sda2", mountpoint: "/var", targets: [{ path: "/var/x", filesystem: "/dev/sda2", mountpoint: "/var" }] },
        { op: "hostname", path: "/etc/hostname", filesystem: "/dev/sda1", mountpoint: "/", targets: [{ path: "/etc/hostname", filesystem: "/dev/sda1", mountpoint: "/" }, { path: "/etc/hosts", filesystem: "/dev/sda1", mountpoint: "/" }] },
      ],
      warnings: ["something to know"],
    };
    expect(customizeText(result)).toBe(
      [
        "created /out/disk-sda.qcow2",
        "  write     /var/x  on /dev/sda2 (/var)",
        "  hostname  /etc/hostname  on /dev/sda1 (/)",
        "            /etc/hosts  on /dev/sda1 (/)",
        "warning: something to know",
      ].join("\n"),
    );
  });
});
