import type { BlockDevice } from "@leapp/storage";

/**
 * A device that gathers writes landing right after one another (a writer laying out many small
 * files in order) into one large write, instead of one device round trip each. A read of the
 * gathered range, a write elsewhere, `flush` or `close` writes the gathered bytes first, so every
 * read sees every write.
 */
export function writeBehind(device: BlockDevice, limit = 4 * 1024 * 1024): BlockDevice & { drain(): Promise<void> } {
  // One staging buffer, reused: the caller may reuse its own once a write returns.
  const staging = new Uint8Array(limit);
  let start = 0;
  let pendingBytes = 0;
  const drain = async () => {
    if (pendingBytes === 0) return;
    const length = pendingBytes;
    pendingBytes = 0;
    await device.write(staging.subarray(0, length), start);
  };
  return {
    get format() {
      return device.format;
    },
    get size() {
      return device.size;
    },
    get writable() {
      return device.writable;
    },
    get details() {
      return device.details;
    },
    drain,
    async read(buffer, position) {
      // Only a read of the gathered range needs it on the device first.
      if (pendingBytes > 0 && position < start + pendingBytes && position + buffer.length > start) await drain();
      return device.read(buffer, position);
    },
    async *extents(from, length) {
      await drain();
      yield* device.extents(from, length);
    },
    async write(data, position) {
      if (pendingBytes > 0 && (position !== start + pendingBytes || pendingBytes + data.length > limit)) await drain();
      if (data.length >= limit / 2) return device.write(data, position);
      if (pendingBytes === 0) start = position;
      staging.set(data, pendingBytes);
      pendingBytes += data.length;
    },
    async flush() {
      await drain();
      return device.flush();
    },
    async close() {
      await drain();
      return device.close();
    },
  };
}
