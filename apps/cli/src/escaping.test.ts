// Guest-controlled text never forges output: a newline, an ESC sequence or a bidirectional override
// in a VM name, a backing file name or a host name is printed spelled out, on the line it belongs
// to — in results, in notes and in error messages. --json keeps the text as it is (JSON escapes it).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { createOverlay } from "@leapp/storage";
import { ExitCode } from "./errors.js";
import { Output } from "./output.js";
import { run } from "./program.js";
import { captureStreams, leapp } from "./test-streams.js";
import { escapeControl, escapeDocument, escapeStrings } from "./text.js";

const work = mkdtempSync(join(tmpdir(), "leapp-escaping-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hostile = "web\nforged: yes\r\x1b[31mred\x1b[0m\u202eevil\u2028x\x7f\x9b";

/** Every control character of the C0/C1 sets and the separators/overrides, and nothing else. */
// eslint-disable-next-line no-control-regex -- what the output must never hold
const forbidden = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe("escapeControl", () => {
  it("spells out every control character, keeping the rest", () => {
    expect(escapeControl(hostile)).toBe("web\\nforged: yes\\r\\x1b[31mred\\x1b[0m\\u{202e}evil\\u{2028}x\\x7f\\x9b");
    expect(escapeControl("C:\\vm\\disk.vmdk – ünïcode")).toBe("C:\\vm\\disk.vmdk – ünïcode");
    for (let c = 0; c < 0x3000; c++) {
      const escaped = escapeControl(String.fromCodePoint(c));
      expect(forbidden.test(escaped) || escaped.includes("\n") || escaped.includes("\t"), `U+${c.toString(16)}`).toBe(false);
    }
  });

  it("keeps a document's lines and tabs but nothing else", () => {
    expect(escapeDocument("<a>\n\t<b>x\x1b]0;title\x07</b>\r\n</a>")).toBe("<a>\n\t<b>x\\x1b]0;title\\x07</b>\\r\n</a>");
  });

  it("escapes strings at any depth of plain data and leaves other values alone", () => {
    const date = new Date(0);
    expect(escapeStrings({ a: ["x\ny", { b: "\x1b" }], n: 1, d: date, u: undefined })).toEqual({ a: ["x\\ny", { b: "\\x1b" }], n: 1, d: date, u: undefined });
  });
});

describe("Output", () => {
  it("renders text from escaped data, and JSON from the data as it is", () => {
    const text = captureStreams();
    new Output({ json: false, progress: "none", debug: false }, text).result({ name: hostile }, (d) => `name: ${d.name}`);
    expect(text.out().split("\n")).toHaveLength(2);
    expect(text.out()).not.toMatch(forbidden);
    const json = captureStreams();
    new Output({ json: true, progress: "none", debug: false }, json).result({ name: hostile }, (d) => `name: ${d.name}`);
    expect(JSON.parse(json.out())).toEqual({ name: hostile });
  });

  it("keeps a document's own lines and escapes notes", () => {
    const io = captureStreams();
    const out = new Output({ json: false, progress: "none", debug: false }, io);
    out.note(`note: ${hostile}`);
    out.result("<a>\n<b>\x1b</b>\n</a>", (d) => d, { document: true });
    expect(io.out()).toBe("<a>\n<b>\\x1b</b>\n</a>\n");
    expect(io.err().split("\n")).toHaveLength(2);
  });
});

describe("error messages", () => {
  const throwing = (error: Error) => async (argv: string[]) => {
    const { commands } = await import("./commands/index.js");
    const register = (program: Command) =>
      void program.command("fail").action(() => {
        throw error;
      });
    commands.push(register);
    try {
      const io = captureStreams();
      const code = await run(argv, io);
      return { code, out: io.out(), err: io.err() };
    } finally {
      commands.splice(commands.indexOf(register), 1);
    }
  };

  it("a typed error is one escaped line; --json has the message as it is", async () => {
    const fail = throwing(Object.assign(new Error(`no such VM '${hostile}'`), { code: "LIBVIRT_XML_INVALID", package: "@leapp/libvirt-xml" }));
    const r = await fail(["fail"]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.err.split("\n")).toHaveLength(2);
    expect(r.err).not.toMatch(forbidden);
    expect(r.err).toMatch(/^leapp: no such VM 'web\\nforged: yes.*\[LIBVIRT_XML_INVALID\]\n$/);
    const json = await fail(["--json", "fail"]);
    expect(JSON.parse(json.out).error.message).toBe(`no such VM '${hostile}'`);
  });

  it("an internal error is one line too, and shows its stack only with --debug", async () => {
    const fail = throwing(new TypeError(`cannot read '${hostile}'`));
    const r = await fail(["fail"]);
    expect(r.code).toBe(ExitCode.internal);
    expect(r.err.split("\n")).toHaveLength(2);
    expect(r.err).toMatch(/^leapp: internal error: cannot read 'web\\nforged.*rerun with --debug/);
    expect((await fail(["--debug", "fail"])).err).toMatch(/\n\s+at /);
  });

  it("a host error names the path and what to do, not Node's raw message", async () => {
    const missing = join(work, "absent\ndir", "disk.img");
    const r = await leapp("storage", "info", missing);
    expect(r.code).toBe(ExitCode.input);
    expect(r.err).toBe(`leapp: ${escapeControl(missing)}: no such file or directory; check the path [ENOENT]\n`);
    const dir = await leapp("storage", "info", work);
    expect(dir.code).toBe(ExitCode.input);
    expect(dir.err).not.toMatch(/EISDIR:|errno/);
    expect(dir.err.split("\n")).toHaveLength(2);
  });
});

describe("guest text in command output", () => {
  it("leapp source: a VMX name with a |0a escape stays on its line", async () => {
    const vmx = join(work, "forged.vmx");
    writeFileSync(vmx, ['displayName = "web|0a       nr vCPUs: 64|1b[2J"', 'memsize = "512"', 'ethernet0.present = "TRUE"', 'ethernet0.networkName = "LAN|0aNICs:"', ""].join("\n"));
    const r = await leapp("source", vmx);
    expect(r.code).toBe(ExitCode.ok);
    expect(r.out).not.toMatch(forbidden);
    expect(r.out).toContain("    source name: web\\n       nr vCPUs: 64\\x1b[2J\n");
    expect(r.out.match(/nr vCPUs:/g)).toHaveLength(2);
    expect(r.out.match(/^ +nr vCPUs: /gm)).toHaveLength(1);
    expect(r.out).toContain('\tNetwork "LAN\\\\nNICs:"');
    const json = await leapp("source", vmx, "--json");
    expect(JSON.parse(json.out).name).toBe("web\n       nr vCPUs: 64\x1b[2J");
  });

  it("leapp source: a libvirt domain name with a character reference for a newline", async () => {
    const xml = join(work, "forged.xml");
    writeFileSync(xml, "<domain type='kvm'><name>db&#10;hypervisor type: xen</name><memory>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>\n");
    const r = await leapp("source", xml);
    expect(r.code).toBe(ExitCode.ok);
    expect(r.out).toContain("    source name: db\\nhypervisor type: xen\n");
    expect(r.out.match(/^hypervisor type:/gm)).toHaveLength(1);
  });

  it("leapp storage info: a backing file name with a newline", async () => {
    const base = join(work, "base\nbacking file: shadow.raw");
    writeFileSync(base, Buffer.alloc(1 << 20));
    const overlay = join(work, "overlay.qcow2");
    await createOverlay(base, overlay);
    const r = await leapp("storage", "info", overlay);
    expect(r.code).toBe(ExitCode.ok);
    expect(r.out).not.toMatch(forbidden);
    expect(r.out.match(/^backing file: /gm)).toHaveLength(1);
    expect(r.out).toContain("base\\nbacking file: shadow.raw");
  });

  it("leapp net: a host name with a newline is one escaped error line", async () => {
    const yaml = join(work, "forged.yaml");
    writeFileSync(yaml, 'name: lan\ncidr: 10.0.0.0/24\nhosts:\n  - { name: "db\\nforged-line \\e[1m", mac: "52:54:00:00:00:01", ip: 10.0.0.5 }\n');
    const r = await leapp("net", yaml, "-o", join(work, "net"));
    expect(r.code).toBe(ExitCode.input);
    expect(r.err.split("\n")).toHaveLength(2);
    expect(r.err).not.toMatch(forbidden);
    expect(r.err).toContain("db\\nforged-line \\x1b[1m");
  });
});
