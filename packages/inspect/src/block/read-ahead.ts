import type { BlockDevice } from "@leapp/storage";
import { BlockCache } from "./volumes-io.js";

/** Bytes read at once for a small read, and how many such windows are kept. */
export const READ_AHEAD_WINDOW = 1024 * 1024;
export const READ_AHEAD_WINDOWS = 16;

/**
 * A read-only view of `device` whose small reads are served from large aligned windows, read
 * once and kept in a small LRU. A filesystem puts a directory's files, inodes and blocks near one
 * another, so reading a whole guest file by file costs one read of the image per window instead
 * of one (or several, through a format's cluster map) per file — on this machine each read is a
 * trip through libuv's thread pool that costs more than the bytes. Reads of half a window or more
 * go straight to the device. A window that cannot be read (a damaged cluster beside the bytes
 * asked for) is never an error of its own: the read is retried for just its bytes.
 *
 * Only for devices nobody writes while they are read (an image opened read-only): the windows
 * would not see a write. A writable device is returned as it is.
 */
export function readAheadDevice(device: BlockDevice, window = READ_AHEAD_WINDOW, windows = READ_AHEAD_WINDOWS): BlockDevice {
  if (device.writable) return device;
  const cache = new BlockCache(device, window, windows, "image window");
  // The last partial window is never cached: its reads go to the device as they are.
  const cachedEnd = Math.floor(device.size / window) * window;
  const view: BlockDevice = {
    format: device.format,
    size: device.size,
    writable: false,
    ...(device.details ? { details: device.details } : {}),
    async read(buffer, position) {
      const end = position + buffer.length;
      if (buffer.length === 0 || buffer.length >= window / 2 || !Number.isSafeInteger(position) || position < 0 || end > cachedEnd) return device.read(buffer, position);
      const first = Math.floor(position / window);
      const last = Math.floor((end - 1) / window);
      let windowed: Uint8Array[];
      try {
        windowed = first === last ? [await cache.block(first)] : await Promise.all([cache.block(first), cache.block(last)]);
      } catch {
        return device.read(buffer, position);
      }
      for (const [i, bytes] of windowed.entries()) {
        const start = (first + i) * window;
        const from = Math.max(position, start);
        const to = Math.min(end, start + window);
        buffer.set(bytes.subarray(from - start, to - start), from - position);
      }
    },
    extents: (start, length) => device.extents(start, length),
    write: (data, position) => device.write(data, position),
    flush: () => device.flush(),
    close: () => device.close(),
  };
  return view;
}
