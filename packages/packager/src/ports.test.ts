// Ports read from services' own configuration, offline: Apache (with <IfModule> resolved against
// the modules the guest loads), nginx, and hostile text that must never crash the parsers.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isLoopback, parseApacheListen, parseNginxListen, splitHostPort } from "./ports.js";

describe("service ports", () => {
  it("reads Apache's Listen, honouring IfModule for the modules the guest loads", () => {
    const ports = `Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n<IfModule mod_gnutls.c>\n  Listen 8443\n</IfModule>\nListen 127.0.0.1:8081\n# Listen 9999\n`;
    expect(parseApacheListen([{ path: "/etc/apache2/ports.conf", text: ports }]).map((p) => [p.address, p.port])).toEqual([["", 80], ["127.0.0.1", 8081]]);
    const ssl = { path: "/etc/apache2/mods-enabled/ssl.load", text: "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n" };
    expect(parseApacheListen([ssl, { path: "/etc/apache2/ports.conf", text: ports }]).map((p) => p.port)).toEqual([80, 443, 8081]);
  });

  it("reads nginx's listen directives", () => {
    const conf = "server {\n  listen 80 default_server;\n  listen [::]:8080;\n  listen 127.0.0.1:9000 ssl; # local\n  listen unix:/run/x.sock;\n}\n";
    expect(parseNginxListen([{ path: "/etc/nginx/sites-enabled/default", text: conf }]).map((p) => [p.address, p.port])).toEqual([["", 80], ["[::]", 8080], ["127.0.0.1", 9000]]);
  });

  it("knows host:port forms and loopback addresses", () => {
    expect(splitHostPort("[::1]:22")).toEqual({ address: "[::1]", port: 22 });
    expect(splitHostPort("70000")).toBeUndefined();
    expect(isLoopback("[::1]") && isLoopback("127.0.0.2") && isLoopback("localhost") && !isLoopback("0.0.0.0")).toBe(true);
  });

  it("never throws on arbitrary configuration text (fast-check, seeded)", () => {
    const line = fc.oneof(fc.string(), fc.constantFrom("Listen", "listen", "<IfModule", "</IfModule>", "LoadModule x y/mod_x.so", "{", "}", ";").chain((k) => fc.string().map((v) => `${k} ${v}`)));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), (lines) => {
        const files = [{ path: "/x", text: lines.join("\n") }];
        for (const p of [...parseApacheListen(files), ...parseNginxListen(files)]) expect(p.port > 0 && p.port < 65536).toBe(true);
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
