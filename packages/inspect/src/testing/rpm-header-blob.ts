// Test support: rpm header blobs made by hand, for the rpmdb readers' tests.

/** An rpm header blob as rpmdb stores it (index count, data length, index, data). */
export function rpmHeader(entries: [number, number, string | number][]): Uint8Array {
  const data: number[] = [];
  const index: number[][] = [];
  for (const [tag, type, value] of entries) {
    if (type === 4) while (data.length % 4) data.push(0);
    index.push([tag, type, data.length, 1]);
    if (typeof value === "number") data.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    else data.push(...new TextEncoder().encode(value), 0);
  }
  const out = new Uint8Array(8 + index.length * 16 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, index.length);
  v.setUint32(4, data.length);
  index.forEach(([tag, type, offset, count], i) => {
    v.setInt32(8 + i * 16, tag as number);
    v.setUint32(12 + i * 16, type as number);
    v.setInt32(16 + i * 16, offset as number);
    v.setUint32(20 + i * 16, count as number);
  });
  out.set(data, 8 + index.length * 16);
  return out;
}
