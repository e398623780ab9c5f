import type { EnabledService, GuestFS } from "@leapp/inspect";

/** A port an enabled service of the guest is configured to listen on. */
export interface ServicePort {
  /** The service, as the guest names it (`apache2`, `httpd`, `ssh`…). */
  service: string;
  port: number;
  protocol: "tcp" | "udp";
  /** Where it was read (`/etc/apache2/ports.conf: Listen 80`), or the service's built-in default. */
  evidence: string;
  /** Bound to the loopback address only: unreachable from outside the container, so not exposed. */
  loopbackOnly: boolean;
}

/** Most bytes read of one configuration file, and most files read from one directory. */
const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_DIR_FILES = 200;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Reads guest configuration defensively: a missing, odd or huge file is simply no configuration. */
class ConfigReader {
  constructor(readonly guest: GuestFS) {}

  async text(path: string): Promise<string | undefined> {
    try {
      const st = await this.guest.stat(path);
      if (st.type !== "file" || st.size > MAX_CONFIG_BYTES) return undefined;
      return decoder.decode(await this.guest.readFile(path, { maxBytes: MAX_CONFIG_BYTES }));
    } catch {
      return undefined;
    }
  }

  /** The files of a directory whose names pass `filter`, with their text, in name order. */
  async dir(path: string, filter: (name: string) => boolean = () => true): Promise<{ path: string; text: string }[]> {
    let names: string[];
    try {
      names = (await this.guest.readdir(path)).filter(filter).sort().slice(0, MAX_DIR_FILES);
    } catch {
      return [];
    }
    const out: { path: string; text: string }[] = [];
    for (const name of names) {
      const text = await this.text(`${path}/${name}`);
      if (text !== undefined) out.push({ path: `${path}/${name}`, text });
    }
    return out;
  }

  async files(paths: string[], dirs: { path: string; filter?: (name: string) => boolean }[]): Promise<{ path: string; text: string }[]> {
    const out: { path: string; text: string }[] = [];
    for (const p of paths) {
      const text = await this.text(p);
      if (text !== undefined) out.push({ path: p, text });
    }
    for (const d of dirs) out.push(...(await this.dir(d.path, d.filter)));
    return out;
  }
}

/** Lines without comments (`#` to the end), trimmed, empty ones dropped. */
function configLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .slice(0, 100_000)
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l !== "");
}

export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "").toLowerCase();
  return a === "localhost" || a === "::1" || /^127\./.test(a);
}

function validPort(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n < 65536;
}

/** `80`, `1.2.3.4:80`, `[::]:80`, `*:80` → address and port. */
export function splitHostPort(text: string): { address: string; port: number } | undefined {
  const m = /^(?:(\[[^\]]*\]|[^:\s]*):)?(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  return validPort(port) ? { address: m[1] ?? "", port } : undefined;
}

/** Apache's `Listen` directives, with `<IfModule>` sections resolved against the modules the guest loads. */
export function parseApacheListen(files: { path: string; text: string }[]): { port: number; address: string; evidence: string }[] {
  const loaded = new Set<string>();
  for (const f of files) {
    for (const line of configLines(f.text)) {
      const m = /^LoadModule\s+(\S+)\s+\S*?(mod_[\w]+)\.so/i.exec(line);
      if (m) loaded.add(m[1]!.toLowerCase()).add(`${m[2]!.toLowerCase()}.c`);
    }
  }
  const out: { port: number; address: string; evidence: string }[] = [];
  for (const f of files) {
    const active: boolean[] = [];
    for (const line of configLines(f.text)) {
      const open = /^<(IfModule|IfDefine)\s+(!?)([^>\s]+)\s*>/i.exec(line);
      if (open) {
        const known = open[1]!.toLowerCase() === "ifmodule" ? loaded.has(open[3]!.toLowerCase()) : false;
        active.push(open[2] === "!" ? !known : known);
        continue;
      }
      if (/^<\/(IfModule|IfDefine)\s*>/i.test(line)) {
        active.pop();
        continue;
      }
      if (active.includes(false)) continue;
      const listen = /^Listen\s+(\S+)/i.exec(line);
      const hp = listen ? splitHostPort(listen[1]!) : undefined;
      if (hp) out.push({ ...hp, evidence: `${f.path}: ${line}` });
    }
  }
  return out;
}

/** nginx's `listen` directives (unix sockets skipped). */
export function parseNginxListen(files: { path: string; text: string }[]): { port: number; address: string; evidence: string }[] {
  const out: { port: number; address: string; evidence: string }[] = [];
  for (const f of files) {
    for (const statement of configLines(f.text).join("\n").split(/[;{}]/)) {
      const m = /^\s*listen\s+(\S+)/.exec(statement);
      if (!m || m[1]!.startsWith("unix:")) continue;
      const target = m[1]!;
      const hp = splitHostPort(target) ?? (/^[\w.-]+$/.test(target) && !/^\d+$/.test(target) ? { address: target, port: 80 } : undefined);
      if (hp) out.push({ ...hp, evidence: `${f.path}: ${statement.trim()}` });
    }
  }
  return out;
}

/** `key = value` / `key value` settings of simple configuration files (last one wins), lower-cased keys. */
function settings(text: string, separator: RegExp, section?: string): Map<string, { value: string; line: string }> {
  const out = new Map<string, { value: string; line: string }>();
  let current = "";
  for (const line of configLines(text)) {
    const s = /^\[([^\]]+)\]$/.exec(line);
    if (s) {
      current = s[1]!.toLowerCase();
      continue;
    }
    if (section !== undefined && current !== section) continue;
    const m = separator.exec(line);
    if (m) out.set(m[1]!.toLowerCase(), { value: m[2]!.trim().replace(/^["']|["']$/g, ""), line });
    else if (section !== undefined) out.set(line.toLowerCase(), { value: "", line });
  }
  return out;
}

type PortFinder = (r: ConfigReader, service: string) => Promise<Omit<ServicePort, "service">[]>;

const fromListen = (found: { port: number; address: string; evidence: string }[]) => found.map((f) => ({ port: f.port, protocol: "tcp" as const, evidence: f.evidence, loopbackOnly: isLoopback(f.address) }));
const fallback = (port: number, protocol: "tcp" | "udp" = "tcp", loopbackOnly = false) => [{ port, protocol, evidence: "default", loopbackOnly }];
const confFiles = (n: string) => n.endsWith(".conf");

const apache: PortFinder = async (r) => {
  const files = await r.files(
    ["/etc/apache2/apache2.conf", "/etc/apache2/ports.conf", "/etc/httpd/conf/httpd.conf"],
    [
      { path: "/etc/apache2/mods-enabled", filter: (n) => n.endsWith(".load") || n.endsWith(".conf") },
      { path: "/etc/apache2/sites-enabled" },
      { path: "/etc/apache2/conf-enabled", filter: confFiles },
      { path: "/etc/httpd/conf.modules.d", filter: confFiles },
      { path: "/etc/httpd/conf.d", filter: confFiles },
    ],
  );
  const found = fromListen(parseApacheListen(files));
  return found.length > 0 ? found : fallback(80);
};

const nginx: PortFinder = async (r) => {
  const files = await r.files(["/etc/nginx/nginx.conf"], [{ path: "/etc/nginx/conf.d", filter: confFiles }, { path: "/etc/nginx/sites-enabled" }]);
  const found = fromListen(parseNginxListen(files));
  return found.length > 0 ? found : fallback(80);
};

const lighttpd: PortFinder = async (r) => {
  const text = (await r.text("/etc/lighttpd/lighttpd.conf")) ?? "";
  const s = settings(text, /^([\w.]+)\s*=\s*(.+)$/);
  const port = Number(s.get("server.port")?.value ?? 80);
  const bind = s.get("server.bind")?.value ?? "";
  return validPort(port) ? [{ port, protocol: "tcp", evidence: s.get("server.port") ? `/etc/lighttpd/lighttpd.conf: ${s.get("server.port")!.line}` : "default", loopbackOnly: isLoopback(bind) }] : [];
};

const sshd: PortFinder = async (r) => {
  const text = (await r.text("/etc/ssh/sshd_config")) ?? "";
  const ports = configLines(text).flatMap((line) => {
    const m = /^Port\s+(\d+)$/i.exec(line);
    return m && validPort(Number(m[1])) ? [{ port: Number(m[1]), protocol: "tcp" as const, evidence: `/etc/ssh/sshd_config: ${line}`, loopbackOnly: false }] : [];
  });
  const listen = configLines(text).flatMap((line) => /^ListenAddress\s+(\S+)/i.exec(line)?.[1] ?? []);
  const loopbackOnly = listen.length > 0 && listen.every((a) => isLoopback(a.replace(/:\d+$/, "")));
  return (ports.length > 0 ? ports : fallback(22)).map((p) => ({ ...p, loopbackOnly }));
};

const mysql: PortFinder = async (r) => {
  const files = await r.files(["/etc/my.cnf", "/etc/mysql/my.cnf"], [
    { path: "/etc/my.cnf.d", filter: (n) => n.endsWith(".cnf") },
    { path: "/etc/mysql/conf.d", filter: (n) => n.endsWith(".cnf") },
    { path: "/etc/mysql/mysql.conf.d", filter: (n) => n.endsWith(".cnf") },
    { path: "/etc/mysql/mariadb.conf.d", filter: (n) => n.endsWith(".cnf") },
  ]);
  let port = 3306;
  let evidence = "default";
  let bind = "";
  let skip = false;
  for (const f of files) {
    for (const section of ["mysqld", "mariadb", "server"]) {
      const s = settings(f.text, /^([\w-]+)\s*=\s*(.*)$/, section);
      const p = s.get("port");
      if (p && validPort(Number(p.value))) {
        port = Number(p.value);
        evidence = `${f.path}: ${p.line}`;
      }
      bind = (s.get("bind-address") ?? s.get("bind_address"))?.value ?? bind;
      if (s.has("skip-networking") || s.has("skip_networking")) skip = true;
    }
  }
  return skip ? [] : [{ port, protocol: "tcp", evidence, loopbackOnly: isLoopback(bind) }];
};

const postgresql: PortFinder = async (r) => {
  let candidates = ["/var/lib/pgsql/data/postgresql.conf"];
  try {
    for (const v of (await r.guest.readdir("/etc/postgresql")).slice(0, 20)) candidates.push(`/etc/postgresql/${v}/main/postgresql.conf`);
  } catch {
    candidates = [...candidates];
  }
  for (const path of candidates) {
    const text = await r.text(path);
    if (text === undefined) continue;
    const s = settings(text, /^(\w+)\s*=\s*(.+)$/);
    const port = Number(s.get("port")?.value.replace(/\s.*$/, "") ?? 5432);
    const listen = (s.get("listen_addresses")?.value ?? "localhost").split(",").map((a) => a.trim());
    if (!validPort(port)) continue;
    return [{ port, protocol: "tcp", evidence: s.get("port") ? `${path}: ${s.get("port")!.line}` : "default", loopbackOnly: listen.every((a) => isLoopback(a)) }];
  }
  return fallback(5432, "tcp", true);
};

const redis: PortFinder = async (r) => {
  for (const path of ["/etc/redis/redis.conf", "/etc/redis.conf"]) {
    const text = await r.text(path);
    if (text === undefined) continue;
    const s = settings(text, /^(\w+)\s+(.+)$/);
    const port = Number(s.get("port")?.value ?? 6379);
    const bind = (s.get("bind")?.value ?? "").split(/\s+/).filter((a) => a !== "");
    if (port === 0 || !validPort(port)) return [];
    return [{ port, protocol: "tcp", evidence: s.get("port") ? `${path}: ${s.get("port")!.line}` : "default", loopbackOnly: bind.length > 0 && bind.every((a) => isLoopback(a.replace(/^-/, ""))) }];
  }
  return fallback(6379, "tcp", true);
};

const postfix: PortFinder = async (r) => {
  const text = (await r.text("/etc/postfix/main.cf")) ?? "";
  const s = settings(text, /^(\w+)\s*=\s*(.*)$/);
  const interfaces = s.get("inet_interfaces")?.value ?? "all";
  return [{ port: 25, protocol: "tcp", evidence: s.get("inet_interfaces") ? `/etc/postfix/main.cf: ${s.get("inet_interfaces")!.line}` : "default", loopbackOnly: /loopback-only|^localhost$|^127\./.test(interfaces) }];
};

const vsftpd: PortFinder = async (r) => {
  for (const path of ["/etc/vsftpd/vsftpd.conf", "/etc/vsftpd.conf"]) {
    const text = await r.text(path);
    if (text === undefined) continue;
    const s = settings(text, /^(\w+)\s*=\s*(.*)$/);
    const port = Number(s.get("listen_port")?.value ?? 21);
    return validPort(port) ? [{ port, protocol: "tcp", evidence: s.get("listen_port") ? `${path}: ${s.get("listen_port")!.line}` : "default", loopbackOnly: false }] : [];
  }
  return fallback(21);
};

const dns: PortFinder = async () => [...fallback(53, "tcp"), ...fallback(53, "udp")];

/** Services whose ports we know how to read, by the names guests give them. */
const finders: [RegExp, PortFinder][] = [
  [/^(apache2|httpd)$/, apache],
  [/^nginx$/, nginx],
  [/^lighttpd$/, lighttpd],
  [/^(ssh|sshd)$/, sshd],
  [/^(mysql|mysqld|mariadb)$/, mysql],
  [/^postgresql(@.*|-\d.*)?$/, postgresql],
  [/^redis(-server)?$/, redis],
  [/^postfix$/, postfix],
  [/^vsftpd$/, vsftpd],
  [/^(named|bind9)$/, dns],
  [/^squid3?$/, async () => fallback(3128)],
  [/^memcached$/, async () => fallback(11211)],
  [/^tomcat\d*$/, async () => fallback(8080)],
];

/** `apache2.service` → `apache2`: the name configuration is found by. */
export function serviceBaseName(name: string): string {
  return name.replace(/\.service$/, "");
}

/**
 * The ports the guest's enabled services are configured to listen on, read offline from their
 * own configuration (Apache `Listen`, nginx `listen`, lighttpd `server.port`, sshd `Port`,
 * my.cnf `port`, …) — nothing listens in a disk image, so nothing is scanned.
 */
export async function servicePorts(guest: GuestFS, services: readonly EnabledService[]): Promise<ServicePort[]> {
  const reader = new ConfigReader(guest);
  const out: ServicePort[] = [];
  const seen = new Set<string>();
  for (const s of services) {
    if (!s.atBoot) continue;
    const name = serviceBaseName(s.name);
    if (seen.has(name)) continue;
    seen.add(name);
    const finder = finders.find(([re]) => re.test(name))?.[1];
    if (!finder) continue;
    for (const p of await finder(reader, name)) out.push({ service: name, ...p });
  }
  // One entry per port and protocol; an exposed binding wins over a loopback one.
  const byKey = new Map<string, ServicePort>();
  for (const p of out) {
    const key = `${p.port}/${p.protocol}`;
    const prev = byKey.get(key);
    if (!prev || (prev.loopbackOnly && !p.loopbackOnly)) byKey.set(key, p);
  }
  return [...byKey.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}
