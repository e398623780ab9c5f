import { firstLine, parseShellVars, textLines } from "../text.js";

/** Distro names as libguestfs spells them (virt-inspector's <distro>). */
export type Distro =
  | "alpinelinux" | "altlinux" | "archlinux" | "centos" | "coreos" | "debian" | "fedora" | "gentoo" | "linuxmint"
  | "mageia" | "mandriva" | "opensuse" | "oraclelinux" | "pldlinux" | "redhat-based" | "rhel" | "rocky"
  | "scientificlinux" | "sles" | "suse-based" | "ubuntu" | "voidlinux" | "unknown";

export interface OsIdentity {
  distro: Distro;
  productName: string | undefined;
  majorVersion: number;
  minorVersion: number;
}

const osReleaseIds: Record<string, Distro> = {
  alpine: "alpinelinux",
  altlinux: "altlinux",
  arch: "archlinux",
  centos: "centos",
  coreos: "coreos",
  debian: "debian",
  fedora: "fedora",
  mageia: "mageia",
  opensuse: "opensuse",
  pld: "pldlinux",
  rhel: "rhel",
  rocky: "rocky",
  sles: "sles",
  sled: "sles",
  ubuntu: "ubuntu",
  void: "voidlinux",
};

/** `X.Y` or `X` at the start of a version string; undefined when there is none. */
function versionXYorX(s: string): [number, number] | undefined {
  const m = /^(\d{1,9})(?:\.(\d{1,9}))?/.exec(s.trim());
  if (!m) return undefined;
  return [Number(m[1]), m[2] === undefined ? 0 : Number(m[2])];
}

/**
 * `/etc/os-release`, as libguestfs reads it: only accepted when ID, PRETTY_NAME and VERSION_ID
 * are all there — and for Debian and CentOS, whose VERSION_ID carries only the major version,
 * not at all when the minor is 0 (their release files know better).
 */
export function parseOsRelease(text: string): OsIdentity | undefined {
  const vars = parseShellVars(text);
  const distro = osReleaseIds[vars.get("ID") ?? ""];
  const productName = vars.get("PRETTY_NAME");
  if (distro === undefined || productName === undefined) return undefined;
  const version = versionXYorX(vars.get("VERSION_ID") ?? "");
  if (version === undefined) {
    if (distro === "voidlinux") return { distro, productName, majorVersion: 0, minorVersion: 0 };
    return undefined;
  }
  if ((distro === "debian" || distro === "centos") && version[1] === 0) return undefined;
  return { distro, productName, majorVersion: version[0], minorVersion: version[1] };
}

/** `/etc/lsb-release` (Ubuntu, Mint, Mandriva, CoreOS); undefined if it names no known distro. */
export function parseLsbRelease(text: string): OsIdentity | undefined {
  let distro: Distro | undefined;
  let productName: string | undefined;
  let version: [number, number] | undefined;
  for (const line of textLines(text, 10)) {
    if (distro === undefined && line === "DISTRIB_ID=Ubuntu") distro = "ubuntu";
    else if (distro === undefined && line === "DISTRIB_ID=LinuxMint") distro = "linuxmint";
    else if (distro === undefined && line === "DISTRIB_ID=MandrivaLinux") distro = "mandriva";
    else if (distro === undefined && line === 'DISTRIB_ID="Mageia"') distro = "mageia";
    else if (distro === undefined && line === "DISTRIB_ID=CoreOS") distro = "coreos";
    else if (line.startsWith("DISTRIB_RELEASE=")) version = versionXYorX(line.slice(16));
    else if (productName === undefined && line.startsWith("DISTRIB_DESCRIPTION=")) {
      productName = line.slice(20).replace(/^(["'])(.*)\1$/, "$2");
    }
  }
  if (distro === undefined && productName === undefined) return undefined;
  return { distro: distro ?? "unknown", productName, majorVersion: version?.[0] ?? 0, minorVersion: version?.[1] ?? 0 };
}

/** `<name>.*release N.M`, `… release N … Update M` and `… release N`, as libguestfs matches them. */
function releaseVersion(fullProduct: string, name: string): [number, number] | undefined {
  // The patterns backtrack over `.*`: a guest's 2 MB one-line release file must not cost minutes.
  const product = fullProduct.slice(0, 1024);
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const old = new RegExp(`${esc}.*release (\\d{1,9}).*Update (\\d{1,9})`).exec(product);
  if (old) return [Number(old[1]), Number(old[2])];
  const xy = new RegExp(`${esc}.*release (\\d{1,9})\\.(\\d{1,9})`).exec(product);
  if (xy) return [Number(xy[1]), Number(xy[2])];
  const x = new RegExp(`${esc}.*release (\\d{1,9})`).exec(product);
  if (x) return [Number(x[1]), 0];
  return undefined;
}

/** Any `X.Y` in a product name (Debian's debian_version, Gentoo…). */
function anyMajorMinor(fullProduct: string): [number, number] {
  const product = fullProduct.slice(0, 1024);
  const m = /(\d{1,9})\.(\d{1,9})/.exec(product);
  if (m) return [Number(m[1]), Number(m[2])];
  const x = /(\d{1,9})/.exec(product);
  return x ? [Number(x[1]), 0] : [0, 0];
}

/** The release files libguestfs looks at, in its order, after os-release and lsb-release. */
export const releaseFiles = [
  "/etc/oracle-release",
  "/etc/centos-release",
  "/etc/rocky-release",
  "/etc/altlinux-release",
  "/etc/redhat-release",
  "/etc/debian_version",
  "/etc/arch-release",
  "/etc/gentoo-release",
  "/etc/SuSE-release",
  "/etc/alpine-release",
] as const;

/** What one release file says (its path tells which parser applies). */
export function parseReleaseFile(path: (typeof releaseFiles)[number], text: string): OsIdentity | undefined {
  const product = firstLine(text);
  const ident = (distro: Distro, v: [number, number] | undefined): OsIdentity => ({ distro, productName: product, majorVersion: v?.[0] ?? 0, minorVersion: v?.[1] ?? 0 });
  if (path === "/etc/arch-release") return { distro: "archlinux", productName: undefined, majorVersion: 0, minorVersion: 0 };
  if (product.trim() === "") return undefined;
  switch (path) {
    case "/etc/oracle-release":
      return ident("oraclelinux", releaseVersion(product, "Oracle Linux"));
    case "/etc/centos-release":
      return ident("centos", releaseVersion(product, "CentOS"));
    case "/etc/rocky-release":
      return ident("rocky", releaseVersion(product, "Rocky Linux"));
    case "/etc/altlinux-release":
      return ident("altlinux", anyMajorMinor(product));
    case "/etc/redhat-release": {
      const fedora = /Fedora release (\d{1,9})/.exec(product);
      if (fedora) return ident("fedora", [Number(fedora[1]), 0]);
      for (const [name, distro] of [["Red Hat", "rhel"], ["CentOS", "centos"], ["Scientific Linux", "scientificlinux"]] as const) {
        const v = releaseVersion(product, name);
        if (v) return ident(distro, v);
      }
      return ident("redhat-based", undefined);
    }
    case "/etc/debian_version":
      return ident("debian", anyMajorMinor(product));
    case "/etc/gentoo-release":
      return ident("gentoo", anyMajorMinor(product));
    case "/etc/alpine-release":
      return ident("alpinelinux", anyMajorMinor(product));
    case "/etc/SuSE-release":
      return parseSuseRelease(text);
  }
}

function parseSuseRelease(text: string): OsIdentity | undefined {
  const lines = textLines(text, 10);
  const product = lines[0] ?? "";
  if (/^SUSE (Linux|LINUX) Enterprise /.test(product) || /^Novell Linux Desktop /.test(product)) {
    const major = /^VERSION = (\d{1,9})/.exec(lines[1] ?? "");
    const minor = /^PATCHLEVEL = (\d{1,9})/.exec(lines[2] ?? "");
    return { distro: "sles", productName: product, majorVersion: major ? Number(major[1]) : 0, minorVersion: minor ? Number(minor[1]) : 0 };
  }
  if (/^(openSUSE|SuSE Linux|SUSE LINUX) /.test(product)) {
    const v = /^VERSION = (\d{1,9})\.(\d{1,9})/.exec(lines[1] ?? "");
    return { distro: "opensuse", productName: product, majorVersion: v ? Number(v[1]) : 0, minorVersion: v ? Number(v[2]) : 0 };
  }
  return { distro: "suse-based", productName: product, majorVersion: 0, minorVersion: 0 };
}

/** virt-inspector's osinfo short id for a Linux guest, derived exactly as libguestfs does. */
export function osinfoShortId(os: { distro: Distro; majorVersion: number; minorVersion: number }): string {
  const { distro, majorVersion: major, minorVersion: minor } = os;
  switch (distro) {
    case "centos":
      if (major >= 8) return `centos${major}`;
      if (major === 7) return "centos7.0";
      if (major === 6) return `centos6.${minor}`;
      break;
    case "rocky":
      if (major >= 8) return `rocky${major}`;
      break;
    case "debian":
      if (major >= 4) return `debian${major}`;
      break;
    case "fedora":
    case "mageia":
      return `${distro}${major}`;
    case "sles":
      return minor === 0 ? `sles${major}` : `sles${major}sp${minor}`;
    case "ubuntu":
      return `ubuntu${major}.${String(minor).padStart(2, "0")}`;
    case "archlinux":
    case "gentoo":
    case "voidlinux":
      return distro;
    case "altlinux":
      return major >= 8 ? `alt${major}.${minor}` : `altlinux${major}.${minor}`;
    default:
      break;
  }
  if (distro !== "unknown" && (major > 0 || minor > 0)) return `${distro}${major}.${minor}`;
  return "unknown";
}

/** libguestfs's package format and manager for a distro and major version. */
export function packageFormatOf(distro: Distro): "rpm" | "deb" | "pacman" | "ebuild" | "apk" | "xbps" | undefined {
  switch (distro) {
    case "fedora": case "redhat-based": case "rhel": case "mageia": case "mandriva": case "suse-based": case "opensuse":
    case "sles": case "centos": case "scientificlinux": case "oraclelinux": case "altlinux": case "rocky":
      return "rpm";
    case "debian": case "ubuntu": case "linuxmint":
      return "deb";
    case "archlinux": return "pacman";
    case "gentoo": return "ebuild";
    case "alpinelinux": return "apk";
    case "voidlinux": return "xbps";
    default: return undefined;
  }
}

export function packageManagementOf(distro: Distro, major: number, hasDnf: boolean): "yum" | "dnf" | "up2date" | "apt" | "pacman" | "portage" | "urpmi" | "zypper" | "apk" | "xbps" | undefined {
  switch (distro) {
    case "fedora":
      if (major >= 22 && hasDnf) return "dnf";
      return major >= 1 ? "yum" : undefined;
    case "redhat-based": case "rhel": case "centos": case "scientificlinux": case "oraclelinux": case "rocky":
      if (major >= 8) return "dnf";
      if (major >= 5) return "yum";
      return major >= 2 ? "up2date" : undefined;
    case "debian": case "ubuntu": case "linuxmint": case "altlinux": return "apt";
    case "archlinux": return "pacman";
    case "gentoo": return "portage";
    case "mageia": case "mandriva": return "urpmi";
    case "suse-based": case "opensuse": case "sles": return "zypper";
    case "alpinelinux": return "apk";
    case "voidlinux": return "xbps";
    default: return undefined;
  }
}
