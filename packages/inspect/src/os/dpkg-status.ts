import { MAX_PACKAGES, type Application } from "./application.js";

/**
 * `/var/lib/dpkg/status`: the installed packages (status word `installed`), each version split as
 * libguestfs splits it — `epoch:upstream-debianrevision`. At most MAX_PACKAGES are listed; `more`
 * counts the installed packages left out beyond them.
 */
export function parseDpkgStatus(text: string): { applications: Application[]; more: number } {
  const apps: Application[] = [];
  let more = 0;
  let fields = new Map<string, string>();
  let last: string | undefined;
  const flush = () => {
    const name = fields.get("package")?.trim();
    const status = (fields.get("status") ?? "").trim().split(/\s+/);
    const version = fields.get("version")?.trim();
    if (name && version !== undefined && status[2] === "installed" && apps.length >= MAX_PACKAGES) more++;
    else if (name && version !== undefined && status[2] === "installed") {
      const { epoch, upstream, revision } = splitDebianVersion(version);
      const app: Application = { name, epoch, version: upstream, release: revision, arch: (fields.get("architecture") ?? "").trim() };
      const description = fields.get("description");
      if (description) app.summary = description.split("\n")[0] as string;
      const homepage = fields.get("homepage")?.trim();
      if (homepage) app.url = homepage;
      const source = fields.get("source");
      if (source) app.sourcePackage = source.split(/\s+/)[0] as string;
      apps.push(app);
    }
    fields = new Map();
    last = undefined;
  };
  // Line by line without splitting: a status file of hundreds of MiB is never copied whole.
  for (let at = 0; at <= text.length; ) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const line = text.charCodeAt(end - 1) === 13 ? text.slice(at, end - 1) : text.slice(at, end);
    at = end + 1;
    if (line === "") {
      flush();
      continue;
    }
    if ((line.startsWith(" ") || line.startsWith("\t")) && last !== undefined) {
      // Continuation lines only matter for Description's first line; keep them short.
      const prev = fields.get(last) ?? "";
      if (prev.length < 4096) fields.set(last, prev + "\n" + line.trim());
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    last = line.slice(0, colon).toLowerCase();
    // Only the separator is dropped: a Description's first line is kept exactly as dpkg has it.
    fields.set(last, line.slice(colon + 1).replace(/^[ \t]+/, ""));
  }
  flush();
  return { applications: apps, more };
}

/** `1:2.4.57-2+deb12u1` → epoch 1, version `2.4.57`, release `2+deb12u1`. */
export function splitDebianVersion(v: string): { epoch: number; upstream: string; revision: string } {
  let rest = v.trim();
  let epoch = 0;
  const colon = rest.indexOf(":");
  if (colon > 0 && /^\d{1,9}$/.test(rest.slice(0, colon))) {
    epoch = Number(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf("-");
  if (dash > 0) return { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
  return { epoch, upstream: rest, revision: "" };
}
