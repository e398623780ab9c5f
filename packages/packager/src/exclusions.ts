import { PackagerError } from "./errors.js";

/**
 * A part of the guest that does not go into the image. `all`: the path and everything below it;
 * `contents`: everything below it, the (empty) directory itself stays, since the runtime mounts
 * over it; `files`: everything below it but directories (stale runtime state, while services
 * still expect their directories).
 */
export interface ExclusionRule {
  /** Absolute guest path; `*` matches within one path component. */
  path: string;
  what: "all" | "contents" | "files";
  reason: string;
}

/**
 * What never goes into a macrocontainer image, in one place. `--include PATH` brings a path back;
 * `--exclude PATH` adds to the list. The container host provides its own kernel, devices, network
 * configuration and runtime state.
 */
export const defaultExclusions: readonly ExclusionRule[] = [
  { path: "/proc", what: "contents", reason: "kernel interface: the runtime mounts its own" },
  { path: "/sys", what: "contents", reason: "kernel interface: the runtime mounts its own" },
  { path: "/dev", what: "contents", reason: "device nodes: the runtime provides the container's" },
  { path: "/run", what: "files", reason: "runtime state of the machine that ran it" },
  { path: "/var/run", what: "files", reason: "runtime state of the machine that ran it" },
  { path: "/var/lock", what: "files", reason: "runtime state of the machine that ran it" },
  { path: "/tmp", what: "contents", reason: "temporary files" },
  { path: "/boot", what: "contents", reason: "the kernel and boot loader: a container runs on the host's kernel" },
  { path: "/lib/modules", what: "contents", reason: "kernel modules: a container runs on the host's kernel" },
  { path: "/usr/lib/modules", what: "contents", reason: "kernel modules: a container runs on the host's kernel" },
  { path: "/lost+found", what: "contents", reason: "filesystem repair leftovers" },
  { path: "/swapfile", what: "all", reason: "swap file" },
  { path: "/swap.img", what: "all", reason: "swap file" },
  { path: "/.autorelabel", what: "all", reason: "would start an SELinux relabel and a reboot" },
  { path: "/etc/sysconfig/network-scripts/ifcfg-[!l]*", what: "all", reason: "host network configuration: the container gets its network from the runtime" },
  { path: "/etc/sysconfig/network-scripts/route-*", what: "all", reason: "host network configuration: the container gets its network from the runtime" },
  { path: "/etc/udev/rules.d/70-persistent-net.rules", what: "all", reason: "host network device names" },
  { path: "/etc/netplan", what: "contents", reason: "host network configuration: the container gets its network from the runtime" },
  { path: "/etc/NetworkManager/system-connections", what: "contents", reason: "host network configuration: the container gets its network from the runtime" },
  { path: "/etc/systemd/network", what: "contents", reason: "host network configuration: the container gets its network from the runtime" },
  { path: "/etc/network/interfaces.d", what: "contents", reason: "host network configuration: the container gets its network from the runtime" },
];

/** Why a guest path is left out, or undefined when it goes in. */
export type ExclusionMatcher = (path: string, isDirectory: boolean) => ExclusionRule | undefined;

/** `/a/b/../c/` → `/a/c`; a user's path must be absolute. */
export function normalizeRulePath(path: string): string {
  if (!path.startsWith("/") || path.includes("\0")) throw new PackagerError("PACKAGER_BAD_INPUT", `${JSON.stringify(path)} is not an absolute guest path; write it as /etc/example`);
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return "/" + out.join("/");
}

/** One path component pattern: `*`, `?` and `[!x]`/`[x]` classes, as fnmatch without FNM_PATHNAME crossing. */
function componentRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close < 0) re += "\\[";
      else {
        const body = pattern.slice(i + 1, close);
        re += body.startsWith("!") ? `[^/${body.slice(1).replace(/[\\\]^]/g, "\\$&")}]` : `[${body.replace(/[\\\]^]/g, "\\$&")}]`;
        i = close;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function pathPattern(path: string): (candidate: string) => boolean {
  if (!/[*?[]/.test(path)) return (candidate) => candidate === path;
  const parts = path.split("/").slice(1).map(componentRegex);
  return (candidate) => {
    const c = candidate.split("/").slice(1);
    return c.length === parts.length && parts.every((re, i) => re.test(c[i]!));
  };
}

/** The parents of `/a/b/c`: `/a/b`, `/a`, `/`. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) out.push(path.slice(0, i));
  out.push("/");
  return out;
}

/**
 * A matcher for the walk: `rules` (defaults and the user's), with `includes` taking a path (and
 * what is below it) back from the rules. The walk never descends into what is excluded, so the
 * path itself and, for `contents`/`files`, its parents are all that need testing.
 */
export function exclusionMatcher(rules: readonly ExclusionRule[], includes: readonly string[] = []): ExclusionMatcher {
  const compiled = rules.map((rule) => ({ rule, matches: pathPattern(normalizeRulePath(rule.path)) }));
  const kept = includes.map(normalizeRulePath);
  const isIncluded = (path: string) => kept.some((inc) => path === inc || path.startsWith(inc === "/" ? "/" : inc + "/") || inc.startsWith(path + "/"));
  return (path, isDirectory) => {
    if (kept.length > 0 && isIncluded(path)) return undefined;
    const parents = ancestors(path);
    for (const { rule, matches } of compiled) {
      if (rule.what === "all" && matches(path)) return rule;
      if (rule.what === "contents" && matches(parents[0]!)) return rule;
      if (rule.what === "files" && !isDirectory && parents.some(matches)) return rule;
    }
    return undefined;
  };
}
