import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sfdiskScript } from "./disk.js";
import { xfsProtofile } from "./xfs-proto.js";

const dir = mkdtempSync(join(tmpdir(), "zoo-proto-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("xfsProtofile", () => {
  it("lists directories, files and symlinks with modes, nested up to '$'", () => {
    mkdirSync(join(dir, "etc"));
    writeFileSync(join(dir, "etc", "hostname"), "h\n");
    chmodSync(join(dir, "etc", "hostname"), 0o4755);
    symlinkSync("usr/bin", join(dir, "bin"));
    chmodSync(dir, 0o755);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    expect(xfsProtofile(dir).split("\n")).toEqual([
      "/dev/null",
      "0 0",
      `d--755 ${uid} ${gid}`,
      ` bin l--777 ${uid} ${gid} usr/bin`,
      ` etc d--755 ${uid} ${gid}`,
      `  hostname -u-755 ${uid} ${gid} ${join(dir, "etc", "hostname")}`,
      " $",
      "$",
      "",
    ]);
  });

  it("refuses names the protofile cannot hold", () => {
    writeFileSync(join(dir, "a b"), "");
    expect(() => xfsProtofile(dir)).toThrow(/protofile/);
    rmSync(join(dir, "a b"));
  });
});

describe("sfdiskScript", () => {
  it("writes sector units, GPT uuids and names", () => {
    expect(sfdiskScript({ label: "gpt", id: "G", size: 0, partitions: [{ start: 1048576, size: 2097152, type: "U", uuid: "P", name: "EFI System Partition" }] })).toBe(
      'label: gpt\nlabel-id: G\nunit: sectors\nfirst-lba: 2048\nstart=2048, size=4096, type=U, uuid=P, name="EFI System Partition"\n',
    );
  });
});
