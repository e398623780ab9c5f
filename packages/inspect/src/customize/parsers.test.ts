// The customize parsers — virt-customize's option syntax, the --edit substitution, glob patterns,
// /etc/hosts rewriting — on known cases, then fuzzed (seeded, bounded): every input gives a value
// or a typed InspectError, never a crash or a hang.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InspectError } from "../errors.js";
import { parseSubstitution, substituteLines } from "./edit.js";
import { componentPattern, expandGlob } from "./glob.js";
import { memoryGuest } from "./memory-guest-test-support.js";
import { replaceHostInHosts } from "./system.js";
import { customizeOptionNames, parseCustomizeOption } from "./syntax.js";

const fuzz = { seed: 42, numRuns: 400, interruptAfterTimeLimit: 5000 };

async function typedOrValue<T>(f: () => Promise<T> | T): Promise<void> {
  try {
    await f();
  } catch (err) {
    if (!(err instanceof InspectError)) throw err;
  }
}

describe("virt-customize's option syntax", () => {
  it("reads every option as virt-customize splits it", async () => {
    const op = async (name: string, value: string) => (await parseCustomizeOption(name, value)).operation;
    expect(await op("write", "/etc/motd:a:b")).toEqual({ op: "write", path: "/etc/motd", content: "a:b" });
    expect(await op("append-line", "/etc/hosts:10.0.0.1 db")).toEqual({ op: "append-line", path: "/etc/hosts", line: "10.0.0.1 db" });
    expect(await op("upload", "host.txt:/root/")).toEqual({ op: "upload", hostFile: "host.txt", path: "/root/" });
    expect(await op("copy-in", "site:/srv")).toEqual({ op: "copy-in", hostPath: "site", guestDir: "/srv" });
    expect(await op("move", "/a:/b")).toEqual({ op: "move", from: "/a", to: "/b" });
    expect(await op("link", "/t:/l1:/l2")).toEqual({ op: "link", target: "/t", links: ["/l1", "/l2"] });
    expect(await op("chown", "0:10:/etc/x")).toEqual({ op: "chown", uid: 0, gid: 10, path: "/etc/x" });
    expect(await op("edit", "/etc/x:s/a:b/c/")).toEqual({ op: "edit", path: "/etc/x", expression: "s/a:b/c/" });
    expect(await op("ssh-inject", "root:string:ssh-rsa AAAA x@y")).toEqual({ op: "ssh-inject", user: "root", key: "ssh-rsa AAAA x@y" });
    expect(await op("root-password", "password:a:b")).toEqual({ op: "root-password", password: "a:b" });
    expect(await op("root-password", "disabled")).toEqual({ op: "root-password", password: null });
    expect(await op("delete", "/var/log/*.log")).toEqual({ op: "delete", path: "/var/log/*.log" });
  });

  it("reads modes as virt-customize does — octal with a leading 0, else decimal, and says so", async () => {
    expect(await parseCustomizeOption("chmod", "0755:/x")).toEqual({ operation: { op: "chmod", mode: 0o755, path: "/x" } });
    const decimal = await parseCustomizeOption("chmod", "493:/x");
    expect(decimal.operation).toEqual({ op: "chmod", mode: 0o755, path: "/x" });
    expect(decimal.note).toContain("decimal");
  });

  it("refuses malformed values with the syntax it expected", async () => {
    for (const [name, value] of [["write", "no-colon"], ["chown", "a:b:/x"], ["link", "/t"], ["chmod", "rwx:/x"], ["root-password", "secret"], ["ssh-inject", "root:bogus:x"], ["run-command", "x"]] as const) {
      await expect(parseCustomizeOption(name, value), `${name} ${value}`).rejects.toMatchObject({ code: "INSPECT_INVALID" });
    }
    await expect(parseCustomizeOption("ssh-inject", "root:file:/nonexistent/key.pub")).rejects.toMatchObject({ code: "INSPECT_NOT_FOUND" });
  });

  it("fuzzed: any option and value is an operation or a typed error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...customizeOptionNames.filter((n) => n !== "ssh-inject" && n !== "root-password")), fc.string({ maxLength: 60 }), async (name, value) => {
        await typedOrValue(() => parseCustomizeOption(name, value));
      }),
      fuzz,
    );
  });
});

describe("--edit substitutions", () => {
  it("parses delimiters, escapes and flags as Perl does", () => {
    const apply = (expr: string, input: string) => substituteLines(input, parseSubstitution(expr));
    expect(apply("s/a/b/", "aa\naa\n")).toBe("ba\nba\n");
    expect(apply("s/a/b/g", "aa\naa")).toBe("bb\nbb");
    expect(apply("s|/usr/bin|/opt/bin|", "x=/usr/bin/env\n")).toBe("x=/opt/bin/env\n");
    expect(apply("s/\\/dev\\/xvda/\\/dev\\/vda/g", "/dev/xvda1 /dev/xvda2\n")).toBe("/dev/vda1 /dev/vda2\n");
    expect(apply("s/^(\\w+)=(.*)$/$2=\\1/", "key=value\n")).toBe("value=key\n");
    expect(apply("s/x$/y/", "ax\nbx\n")).toBe("ay\nby\n");
    expect(apply("s/A/b/gi", "aA\n")).toBe("bb\n");
    expect(apply("s/;/\\n/", "a;b\n")).toBe("a\nb\n");
    expect(apply("s#price#$$5#", "price\n")).toBe("$5\n");
  });

  it("refuses what is not a substitution", () => {
    for (const bad of ["", "s", "s/a", "s/a/b", "y/a/b/", "s/(/x/", "s/a/b/x", "saaba"]) expect(() => parseSubstitution(bad), bad).toThrow(InspectError);
  });

  it("fuzzed: any expression parses or is refused; any text survives a parsed one", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 200 }), (expr, input) => {
        let s;
        try {
          s = parseSubstitution(`s/${expr}`);
        } catch (err) {
          if (!(err instanceof InspectError)) throw err;
          return;
        }
        expect(typeof substituteLines(input, s)).toBe("string");
      }),
      fuzz,
    );
  });
});

describe("glob patterns", () => {
  it("match as glob(3): no / in wildcards, no leading dot unless asked, brackets and escapes", () => {
    expect(componentPattern("*.log").test("a.log")).toBe(true);
    expect(componentPattern("a?c").test("abc")).toBe(true);
    expect(componentPattern("[!a]*").test("bc")).toBe(true);
    expect(componentPattern("[!a]*").test("ac")).toBe(false);
    expect(componentPattern("[a-c]x").test("bx")).toBe(true);
    expect(componentPattern("\\*").test("*")).toBe(true);
    expect(componentPattern("\\*").test("a")).toBe(false);
    expect(componentPattern("[oops").test("[oops")).toBe(true);
  });

  it("expand against a guest, sorted, following directory links, skipping dotfiles", async () => {
    const { guest } = await memoryGuest({ files: { "/var/log/b.log": "", "/var/log/a.log": "", "/var/log/.c.log": "", "/var/log/x/y.log": "" }, links: { "/logs": "/var/log" } });
    expect(await expandGlob(guest, "/var/log/*.log")).toEqual(["/var/log/a.log", "/var/log/b.log"]);
    expect(await expandGlob(guest, "/logs/.*.log")).toEqual(["/logs/.c.log"]);
    expect(await expandGlob(guest, "/var/*/*/*.log")).toEqual(["/var/log/x/y.log"]);
    expect(await expandGlob(guest, "/var/log/none*")).toEqual([]);
  });

  it("fuzzed: any pattern compiles to a regex", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (pattern) => {
        expect(componentPattern(pattern)).toBeInstanceOf(RegExp);
      }),
      fuzz,
    );
  });
});

describe("/etc/hosts", () => {
  it("replaces the old name, full and short, and Debian's installer placeholders; leaves comments", () => {
    const hosts = "127.0.0.1 localhost\n127.0.1.1 old.example.org old # old\n#127.0.1.1 old\n10.0.0.2 unassigned-hostname.unassigned-domain unassigned-hostname\n";
    expect(replaceHostInHosts(hosts, "old.example.org", "new.example.net")).toBe(
      "127.0.0.1 localhost\n127.0.1.1 new.example.net new # old\n#127.0.1.1 old\n10.0.0.2 new.example.net new\n",
    );
    expect(replaceHostInHosts("1.2.3.4 old\n", undefined, "new")).toBe("1.2.3.4 old\n");
  });
});
