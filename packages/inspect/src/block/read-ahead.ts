import type { BlockDevice } from "@leapp/storage";

/** Bytes read at once for a small read, and how many such windows are kept. */
export const READ_AHEAD_WINDOW = 1024 * 1024;
export const READ_AHEAD_WINDOWS = 16;

/** One window of the device: its bytes once `ready` says they were read; pinned while a read copies from it. */
interface Window {
  bytes: Uint8Array;
  ready: Promise<boolean>;
  pins: number;
}

/**
 * A read-only view of `device` whose small reads are served from large aligned windows, read
 * once and kept in a small LRU. A filesystem puts a directory's files, inodes and blocks near one
 * another, so reading a whole guest file by file costs one read of the image per window instead
 * of one (or several, through a format's cluster map) per file — each a trip through libuv's
 * thread pool that costs more than the bytes. Reads of half a window or more go straight to the
 * device. A window that cannot be read (a damaged cluster beside the bytes asked for) is never an
 * error of its own: the read is retried for just its bytes. Evicted windows' buffers are reused,
 * so a walk of a whole image allocates a few windows, not one per window read.
 *
 * Only for devices nobody writes while they are read (an image opened read-only): the windows
 * would not see a write. A writable device is returned as it is.
 */
export function readAheadDevice(device: BlockDevice, window = READ_AHEAD_WINDOW, windows = READ_AHEAD_WINDOWS): BlockDevice {
  if (device.writable) return device;
  const cached = new Map<number, Window>(); // in LRU order: the oldest first
  const free: Uint8Array[] = [];
  // The last partial window is never cached: its reads go to the device as they are.
  const cachedEnd = Math.floor(device.size / window) * window;

  /** The window `index`, pinned: read now if it is not held. */
  const take = (index: number): Window => {
    let w = cached.get(index);
    if (w) {
      cached.delete(index);
      cached.set(index, w);
    } else {
      // The least recently used windows no read is copying from make room (if all are being
      // copied from, there is one window more for now); a few of their buffers are kept.
      for (const [i, old] of cached) {
        if (cached.size < windows) break;
        if (old.pins > 0) continue;
        cached.delete(i);
        if (free.length < windows) free.push(old.bytes);
      }
      const bytes = free.pop() ?? new Uint8Array(window);
      const fresh: Window = { bytes, pins: 0, ready: undefined! };
      fresh.ready = device.read(bytes, index * window).then(
        () => true,
        () => {
          if (cached.get(index) === fresh) cached.delete(index);
          return false;
        },
      );
      cached.set(index, fresh);
      w = fresh;
    }
    w.pins++;
    return w;
  };

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
      const taken = first === last ? [take(first)] : [take(first), take(last)];
      try {
        const read = await Promise.all(taken.map((w) => w.ready));
        if (read.includes(false)) return await device.read(buffer, position);
        for (const [i, w] of taken.entries()) {
          const start = (first + i) * window;
          const from = Math.max(position, start);
          const to = Math.min(end, start + window);
          buffer.set(w.bytes.subarray(from - start, to - start), from - position);
        }
      } finally {
        for (const w of taken) w.pins--;
      }
    },
    extents: (start, length) => device.extents(start, length),
    write: (data, position) => device.write(data, position),
    flush: () => device.flush(),
    close: () => device.close(),
  };
  return view;
}
