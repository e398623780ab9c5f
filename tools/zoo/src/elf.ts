// A minimal but well-formed x86-64 ELF executable header: inspection reads a guest's architecture
// from the ELF header of /bin/bash (or /bin/ls…), so the zoo's placeholder binaries carry one.
export function elfExecutableX8664(note = ""): Buffer {
  const header = Buffer.alloc(120);
  header.write("\x7fELF", 0, "latin1");
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // little-endian
  header[6] = 1; // EV_CURRENT
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(62, 18); // EM_X86_64
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(0x400078n, 24); // entry
  header.writeBigUInt64LE(64n, 32); // program headers follow the ELF header
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(1, 56);
  header.writeUInt32LE(1, 64); // PT_LOAD
  header.writeUInt32LE(5, 68); // R+X
  header.writeBigUInt64LE(0x400000n, 80);
  header.writeBigUInt64LE(0x400000n, 88);
  header.writeBigUInt64LE(120n, 96);
  header.writeBigUInt64LE(120n, 104);
  header.writeBigUInt64LE(0x1000n, 112);
  return note === "" ? header : Buffer.concat([header, Buffer.from(note)]);
}
