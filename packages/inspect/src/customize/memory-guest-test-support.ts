// Test support: small guests on the in-memory STAND-IN filesystem (guestfs/memory-filesystem-test-support.ts),
// for unit tests of the operations. Real guests — the zoo's images, judged by fsck and the
// kernel — are in customize.int.test.ts.
import type { NodeAttributes } from "../fs/filesystem.js";
import { MemoryFilesystem } from "../guestfs/memory-filesystem-test-support.js";
import { writableGuestFS, type GuestMount, type WritableGuest } from "../guestfs/writable-guest.js";

export interface GuestSpec {
  /** Files by guest path: content, or content with attributes. Parent directories are made. */
  files?: Record<string, string | { content: string | Uint8Array } & NodeAttributes>;
  dirs?: string[];
  links?: Record<string, string>;
  /** Extra filesystems: mountpoint → device name (the mountpoint directory is made on the parent). */
  mounts?: Record<string, string>;
}

export const centos6: GuestSpec = {
  files: {
    "/etc/redhat-release": "CentOS release 6.10 (Final)\n",
    "/etc/fstab": "/dev/xvda1 / ext4 defaults 1 1\n",
    "/etc/hosts": "127.0.0.1 localhost localhost.localdomain\n",
    "/etc/sysconfig/network": "NETWORKING=yes\nHOSTNAME=web01.example.com\n",
    "/etc/sysconfig/clock": 'ZONE="America/New_York"\n',
    "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nadmin:x:500:500::/home/admin:/bin/bash\n",
    "/etc/shadow": { content: "root:$6$old$hash:17000:0:99999:7:::\nadmin:!!:17000:0:99999:7:::\n", mode: 0 },
    "/usr/share/zoneinfo/Europe/London": "TZif2 london",
    "/usr/share/zoneinfo/UTC": "TZif2 utc",
    "/bin/bash": "ELF",
  },
  dirs: ["/root", "/home/admin", "/var/log", "/tmp"],
  links: { "/etc/localtime": "/usr/share/zoneinfo/America/New_York" },
};

export const debian12: GuestSpec = {
  files: {
    "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
    "/etc/debian_version": "12.5\n",
    "/etc/fstab": "UUID=x / ext4 defaults 0 1\n",
    "/etc/hostname": "old-name\n",
    "/etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\told-name.example.org old-name\n# old-name in a comment\n::1 localhost ip6-localhost\n",
    "/etc/timezone": "Etc/UTC\n",
    "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
    "/etc/shadow": { content: "root:*:19000:0:99999:7:::\n", mode: 0o640, gid: 42 },
    "/usr/share/zoneinfo/Europe/Paris": "TZif2 paris",
    "/usr/bin/bash": "ELF",
  },
  dirs: ["/root"],
  links: { "/bin": "usr/bin", "/etc/localtime": "/usr/share/zoneinfo/Etc/UTC" },
};

const encoder = new TextEncoder();

/** Builds a guest from a spec; returns it and its filesystems by mountpoint. */
export async function memoryGuest(spec: GuestSpec): Promise<{ guest: WritableGuest; filesystems: Map<string, MemoryFilesystem> }> {
  const filesystems = new Map<string, MemoryFilesystem>([["/", new MemoryFilesystem({ type: "ext4" })]]);
  const mounts: GuestMount[] = [{ mountpoint: "/", fs: filesystems.get("/")!, device: "/dev/sda1" }];
  for (const [mountpoint, device] of Object.entries(spec.mounts ?? {})) {
    const fs = new MemoryFilesystem({ type: "xfs" });
    filesystems.set(mountpoint, fs);
    mounts.push({ mountpoint, fs, device });
  }
  const guest = writableGuestFS(mounts);
  const mkdirs = async (path: string) => {
    let at = "";
    for (const c of path.split("/").filter(Boolean)) {
      at += `/${c}`;
      if (!(await guest.exists(at))) await guest.mkdir(at);
    }
  };
  for (const m of Object.keys(spec.mounts ?? {}).sort()) await mkdirs(m);
  for (const d of spec.dirs ?? []) await mkdirs(d);
  for (const [path, file] of Object.entries(spec.files ?? {})) {
    await mkdirs(path.slice(0, path.lastIndexOf("/")));
    const { content, ...attributes } = typeof file === "string" ? { content: file } : file;
    await guest.writeFile(path, typeof content === "string" ? encoder.encode(content) : content, attributes);
  }
  for (const [path, target] of Object.entries(spec.links ?? {})) {
    await mkdirs(path.slice(0, path.lastIndexOf("/")));
    await guest.symlink(target, path);
  }
  return { guest, filesystems };
}

export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
