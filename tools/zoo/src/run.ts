// Running the real tools the zoo is built with, with errors that say which Debian package to install.
import { execFileSync, spawnSync } from "node:child_process";
import { ZooError } from "./errors.js";

/** Debian package per tool, for the "install it" hint (scripts/debian-tools.txt lists them all). */
const debianPackage: Record<string, string> = {
  "mkfs.ext4": "e2fsprogs",
  e2fsck: "e2fsprogs",
  "mkfs.xfs": "xfsprogs",
  xfs_repair: "xfsprogs",
  "mkfs.vfat": "dosfstools",
  mcopy: "mtools",
  mkswap: "util-linux",
  sfdisk: "fdisk",
  "qemu-img": "qemu-utils",
  rpm: "rpm",
  rpmbuild: "rpm",
  rpmdb: "rpm",
  "db5.3_load": "db5.3-util",
  "db5.3_dump": "db5.3-util",
  debootstrap: "debootstrap",
  losetup: "mount",
  pvs: "lvm2",
  vgs: "lvm2",
  lvs: "lvm2",
  "dpkg-query": "dpkg",
  "fsck.vfat": "dosfstools",
  mtype: "mtools",
  debugfs: "e2fsprogs",
  blkid: "util-linux",
  xfs_db: "xfsprogs",
  gcc: "gcc",
  cpio: "cpio",
};

/** PATH with the sbin directories, where mkfs and friends live on Debian. */
export const toolEnv: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin`,
  LC_ALL: "C",
};

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bytes of stdout to allow (default 64 MiB). */
  maxBuffer?: number;
}

/** Runs `tool args…`, returns stdout; a missing tool or a non-zero exit becomes a ZooError. */
export function run(tool: string, args: string[], options: RunOptions = {}): Buffer {
  try {
    return execFileSync(tool, args, {
      input: options.input,
      env: { ...toolEnv, ...options.env },
      cwd: options.cwd,
      maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer; status?: number };
    if (e.code === "ENOENT") {
      const pkg = debianPackage[tool] ?? "the package that provides it";
      throw new ZooError("ZOO_TOOL_MISSING", `${tool} is missing: install Debian's ${pkg} (scripts/install-debian-tools.sh does)`, { cause: err });
    }
    const stderr = e.stderr?.toString("utf8").trim().slice(0, 2000) ?? "";
    throw new ZooError("ZOO_TOOL_FAILED", `${tool} ${args.join(" ")} failed (exit ${e.status ?? "?"}): ${stderr}`, { cause: err });
  }
}

/**
 * Runs a tool that reports failures only on stderr (debugfs exits 0 whatever its commands did):
 * any stderr line that `expected` does not accept becomes a ZooError.
 */
export function runCheckingStderr(tool: string, args: string[], expected: RegExp, options: RunOptions = {}): void {
  const r = spawnSync(tool, args, { input: options.input, env: { ...toolEnv, ...options.env }, cwd: options.cwd, encoding: "utf8", maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
    throw new ZooError("ZOO_TOOL_MISSING", `${tool} is missing: install Debian's ${debianPackage[tool] ?? "the package that provides it"} (scripts/install-debian-tools.sh does)`, { cause: r.error });
  }
  const complaints = (r.stderr ?? "").split("\n").filter((l) => l.trim() !== "" && !expected.test(l));
  if (r.status !== 0 || complaints.length > 0) {
    throw new ZooError("ZOO_TOOL_FAILED", `${tool} ${args.join(" ")} failed (exit ${r.status ?? r.signal}): ${complaints.join("; ").slice(0, 2000)}`);
  }
}

/** Same as run(), stdout as text. */
export function runText(tool: string, args: string[], options: RunOptions = {}): string {
  return run(tool, args, options).toString("utf8");
}
