import type { BlockDevice } from "@leapp/storage";

/** Buffered bytes past this are written out at once (memory stays bounded whatever is copied in). */
const DEFAULT_CAPACITY = 8 * 1024 * 1024;
const PAGE = 4096;
/** Largest single write a drain makes out of adjacent pages. */
const MAX_RUN = 1024 * 1024;

/**
 * A write-back buffer over a writable device: written pages are kept in memory (reads see them at
 * once) and go to the device on `flush`, or when `capacity` bytes are waiting — in page order,
 * adjacent pages joined into large writes. A filesystem writer that writes each small file's
 * blocks and inode as it goes thus makes a few large writes instead of a round trip per file.
 * A write covering part of a page reads the rest of it from the device once. Closing drains the
 * buffer and closes the device.
 */
export function writeBackDevice(device: BlockDevice, capacity = DEFAULT_CAPACITY): BlockDevice {
  const pageCount = Math.ceil(device.size / PAGE);
  const pageLength = (index: number) => Math.min(PAGE, device.size - index * PAGE);
  /** Dirty pages by index. */
  let pages = new Map<number, Uint8Array>();
  /** Pages being read from the device so that a partial write can complete them. */
  const loading = new Map<number, Promise<Uint8Array>>();
  /** Pages a drain is writing: reads still see them until it is done. */
  let inflight = new Map<number, Uint8Array>();
  let draining: Promise<void> | undefined;
  // Pages and the run buffer are reused: a copy of many small files would otherwise churn
  // through more garbage than it copies.
  const free: Uint8Array[] = [];
  /** Reads in progress may still copy from drained pages: those are recycled only when none is. */
  let reading = 0;
  const run = new Uint8Array(MAX_RUN);
  const newPage = (index: number): Uint8Array => {
    const length = pageLength(index);
    const page = length === PAGE ? free.pop() : undefined;
    return page ?? new Uint8Array(length);
  };

  const load = (index: number): Promise<Uint8Array> => {
    let pending = loading.get(index);
    if (!pending) {
      pending = (async () => {
        const page = newPage(index);
        const draining = inflight.get(index);
        await device.read(page, index * PAGE);
        // Buffered meanwhile, or still on its way to the device when the read started? Those bytes win.
        const newer = pages.get(index) ?? draining;
        if (newer) page.set(newer);
        return page;
      })().finally(() => loading.delete(index));
      loading.set(index, pending);
    }
    return pending;
  };

  const drain = async (): Promise<void> => {
    while (draining) await draining;
    if (pages.size === 0) return;
    const queued = pages;
    pages = new Map();
    inflight = queued;
    draining = (async () => {
      const order = [...queued.keys()].sort((a, b) => a - b);
      for (let i = 0; i < order.length; ) {
        let j = i + 1;
        while (j < order.length && order[j] === order[j - 1]! + 1 && (j - i + 1) * PAGE <= MAX_RUN) j++;
        if (j === i + 1) await device.write(queued.get(order[i]!)!, order[i]! * PAGE);
        else {
          let length = 0;
          for (let k = i; k < j; k++) {
            const page = queued.get(order[k]!)!;
            run.set(page, length);
            length += page.length;
          }
          await device.write(run.subarray(0, length), order[i]! * PAGE);
        }
        i = j;
      }
    })().finally(() => {
      if (reading === 0) for (const page of queued.values()) if (page.length === PAGE && free.length * PAGE < capacity) free.push(page);
      inflight = new Map();
      draining = undefined;
    });
    await draining;
  };

  /** Copies the buffered pages of `layer` that [position, position + buffer.length) covers over `buffer`. */
  const overlay = (layer: Map<number, Uint8Array>, buffer: Uint8Array, position: number) => {
    if (layer.size === 0) return;
    const stop = position + buffer.length;
    for (let index = Math.floor(position / PAGE); index * PAGE < stop; index++) {
      const page = layer.get(index);
      if (!page) continue;
      const from = Math.max(index * PAGE, position);
      const to = Math.min(index * PAGE + page.length, stop);
      buffer.set(page.subarray(from - index * PAGE, to - index * PAGE), from - position);
    }
  };

  return {
    format: device.format,
    size: device.size,
    writable: device.writable,
    ...(device.details ? { details: device.details } : {}),
    async read(buffer, position) {
      // What is buffered when the read starts may be drained while the device reads: keep hold of it.
      const older = inflight;
      const waiting = pages;
      reading++;
      try {
        await device.read(buffer, position);
        overlay(older, buffer, position);
        overlay(waiting, buffer, position);
        if (pages !== waiting) overlay(pages, buffer, position);
      } finally {
        reading--;
      }
    },
    async *extents(start, length) {
      await drain();
      yield* device.extents(start, length);
    },
    async write(data, position) {
      if (!device.writable || !Number.isSafeInteger(position) || position < 0 || position + data.length > device.size) {
        return device.write(data, position); // the device's own refusal
      }
      const stop = position + data.length;
      // The caller may reuse `data` as soon as this returns a promise: every byte is copied before the first await.
      const partial: Array<{ index: number; bytes: Uint8Array; offset: number }> = [];
      for (let index = Math.floor(position / PAGE); index * PAGE < stop && index < pageCount; index++) {
        const start = index * PAGE;
        const length = pageLength(index);
        const from = Math.max(start, position);
        const to = Math.min(start + length, stop);
        let page = pages.get(index);
        if (!page && from === start && to === start + length) pages.set(index, (page = newPage(index)));
        if (page) page.set(data.subarray(from - position, to - position), from - start);
        else partial.push({ index, bytes: data.slice(from - position, to - position), offset: from - start });
      }
      for (const { index, bytes, offset } of partial) {
        const loaded = await load(index);
        // A concurrent write may have made the page while this one waited for the device.
        const page = pages.get(index) ?? loaded;
        pages.set(index, page);
        page.set(bytes, offset);
      }
      if (pages.size * PAGE > capacity) await drain();
    },
    async flush() {
      await drain();
      await device.flush();
    },
    async close() {
      try {
        await drain();
      } finally {
        await device.close();
      }
    },
  };
}
