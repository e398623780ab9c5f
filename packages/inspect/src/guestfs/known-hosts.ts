import { createHash, createHmac } from "node:crypto";
import { textLines } from "../text.js";

/** `SHA256:…` as `ssh-keygen -lf` prints a host key's fingerprint (base64 without padding). */
export function sha256Fingerprint(keyBlob: Uint8Array): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

/** How known_hosts names a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function hostPatternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  // Wildcards as OpenSSH allows them (* and ?); negations are handled by the caller. A pattern
  // with many wildcards could make the regular expression backtrack for ages: such lines are ignored.
  if (pattern.length > 255 || (pattern.match(/[*?]/g)?.length ?? 0) > 8) return false;
  const re = new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$", "i");
  return re.test(name);
}

/**
 * What a known_hosts file says about a host's key: "match" if one of the keys listed for the host
 * is `keyBlob`, "revoked" if the key is marked @revoked, "mismatch" if the host is listed with
 * other keys only, "unknown" if the host is not listed.
 */
export function checkKnownHosts(text: string, host: string, port: number, keyBlob: Uint8Array): "match" | "mismatch" | "unknown" | "revoked" {
  const name = knownHostsName(host, port);
  const key = Buffer.from(keyBlob).toString("base64");
  let listed = false;
  let matched = false;
  for (const raw of textLines(text, 100_000)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]?.startsWith("@")) marker = fields.shift();
    if (fields.length < 3 || marker === "@cert-authority") continue;
    const patterns = (fields[0] as string).split(",");
    const negated = patterns.some((p) => p.startsWith("!") && hostPatternMatches(p.slice(1), name));
    if (negated || !patterns.some((p) => !p.startsWith("!") && hostPatternMatches(p, name))) continue;
    const sameKey = fields[2] === key;
    if (marker === "@revoked") {
      if (sameKey) return "revoked";
      continue;
    }
    listed = true;
    if (sameKey) matched = true;
  }
  return matched ? "match" : listed ? "mismatch" : "unknown";
}
