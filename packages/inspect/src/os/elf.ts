/**
 * The architecture an ELF binary is built for, named as libguestfs's file_architecture names it
 * ("x86_64", "i386", "aarch64"…); undefined for anything that is not a readable ELF header.
 */
export function elfArchitecture(head: Uint8Array): string | undefined {
  if (head.length < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const elfClass = head[4]; // 1 = 32-bit, 2 = 64-bit
  const littleEndian = head[5] === 1;
  if ((elfClass !== 1 && elfClass !== 2) || (head[5] !== 1 && head[5] !== 2)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const machine = view.getUint16(18, littleEndian);
  const is64 = elfClass === 2;
  switch (machine) {
    case 3: return "i386";
    case 62: return "x86_64";
    case 183: return "aarch64";
    case 40: return "arm";
    case 20: return "ppc";
    case 21: return littleEndian ? "ppc64le" : "ppc64";
    case 22: return is64 ? "s390x" : "s390";
    case 243: return is64 ? "riscv64" : "riscv32";
    case 2: return "sparc";
    case 43: return "sparc64";
    case 50: return "ia64";
    case 8: return is64 ? "mips64" : "mips";
    case 258: return "loongarch64";
    default: return undefined;
  }
}

/** The binaries libguestfs looks at for the architecture, in its order (and usr-merged twins). */
export const architectureProbes = ["/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh", "/usr/bin/bash", "/usr/bin/ls"];
