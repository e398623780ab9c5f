// VirtualBox VDI, read-only: static (every block allocated in order) and dynamic (a block map
// where an entry is a block number in the data area, or "free" / "zero").
import type { FormatDriver } from "./block-device.js";
import type { ImageFile } from "./image-file.js";
import { corrupt, isPowerOfTwoIn, mappedImage, safeU64, unsupported, type BlockLocation } from "./mapped-image.js";

const VDI_SIGNATURE = 0xbeda107f;
const HEADER_BYTES = 512;
const BLOCK_FREE = 0xffffffff;
const BLOCK_ZERO = 0xfffffffe;
const TYPE_DYNAMIC = 1;
const TYPE_STATIC = 2;

export const vdiDriver: FormatDriver = {
  format: "vdi",
  probe(head) {
    return head.length >= 72 && new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(64, true) === VDI_SIGNATURE;
  },
  async open(file) {
    try {
      return await openVdi(file);
    } catch (error) {
      await file.close();
      throw error;
    }
  },
};

async function openVdi(file: ImageFile) {
  const { path } = file;
  const header = await file.readBytes(0, HEADER_BYTES, "VDI header");
  if (header.readUInt32LE(64) !== VDI_SIGNATURE) throw corrupt(path, "no VDI signature");
  const version = header.readUInt32LE(68);
  if (version >>> 16 !== 1) throw unsupported(path, `VDI version ${version >>> 16}.${version & 0xffff} is not supported (only 1.x); convert the disk with VirtualBox (VBoxManage clonemedium)`);
  const imageType = header.readUInt32LE(76);
  const blockMapOffset = header.readUInt32LE(340);
  const dataOffset = header.readUInt32LE(344);
  const sectorSize = header.readUInt32LE(360);
  const diskSize = safeU64(header.readBigUInt64LE(368), "disk size", path);
  const blockSize = header.readUInt32LE(376);
  const blockExtra = header.readUInt32LE(380);
  const blocksInImage = header.readUInt32LE(384);
  const parentUuid = header.subarray(440, 456);

  if (imageType !== TYPE_DYNAMIC && imageType !== TYPE_STATIC) {
    throw unsupported(path, `VDI image type ${imageType} (undo or differencing) is not supported; merge the snapshot in VirtualBox first`);
  }
  if (parentUuid.some((b) => b !== 0)) throw unsupported(path, "differencing VDI images (with a parent) are not supported; merge the snapshot in VirtualBox first");
  if (sectorSize !== 512) throw unsupported(path, `VDI sector size ${sectorSize} is not supported (only 512)`);
  if (!isPowerOfTwoIn(blockSize, 512, 256 * 1024 * 1024)) throw corrupt(path, `VDI block size ${blockSize} is not a power of two between 512 B and 256 MiB`);
  if (blockExtra !== 0) throw unsupported(path, `VDI blocks with ${blockExtra} extra bytes are not supported`);
  if (diskSize > blocksInImage * blockSize) {
    throw corrupt(path, `the disk size ${diskSize} exceeds the ${blocksInImage} blocks of ${blockSize} bytes the block map covers`);
  }
  if (blockMapOffset % 512 !== 0 || dataOffset % 512 !== 0) throw corrupt(path, "VDI block map or data offset is not sector aligned");
  // Only the blocks the disk size needs are ever looked up.
  const blockCount = Math.ceil(diskSize / blockSize);
  const map = await file.readBytes(blockMapOffset, blocksInImage * 4, "VDI block map");
  const locations: BlockLocation[] = new Array(blockCount);
  for (let i = 0; i < blockCount; i++) {
    const entry = map.readUInt32LE(i * 4);
    if (entry === BLOCK_FREE) locations[i] = { kind: "unallocated" };
    else if (entry === BLOCK_ZERO) locations[i] = { kind: "zero" };
    else {
      const fileOffset = dataOffset + entry * blockSize;
      if (entry >= blocksInImage || fileOffset >= file.size) {
        throw corrupt(path, `VDI block ${i} points to block ${entry} at offset ${fileOffset}, past the end of the ${file.size}-byte file`);
      }
      locations[i] = { kind: "data", fileOffset };
    }
  }
  return mappedImage({ format: "vdi", size: diskSize, blockSize, file, locate: (index) => locations[index]!, details: { clusterSize: blockSize } });
}
