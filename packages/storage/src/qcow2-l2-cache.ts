// The L2 table cache of a qcow2 image: least recently used tables are dropped beyond a byte
// budget, loads in flight are shared, and a table is never dropped while it is dirty (not yet
// written) or pinned by the write being planned.

export interface L2Table {
  /** Host offset of the table. */
  offset: number;
  bytes: Uint8Array;
  view: DataView;
  /** Changed since it was last written. */
  dirty: boolean;
}

export class L2Cache {
  // LRU order is the Map's insertion order.
  readonly #tables = new Map<number, L2Table>();
  readonly #loading = new Map<number, Promise<L2Table>>();
  readonly #pinned = new Set<L2Table>();
  #bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The cached table at `offset`, made the most recently used. */
  get(offset: number): L2Table | undefined {
    const table = this.#tables.get(offset);
    if (table) {
      this.#tables.delete(offset);
      this.#tables.set(offset, table);
    }
    return table;
  }

  /** The cached table at `offset`, its place in the LRU order left alone (the write planner's look). */
  peek(offset: number): L2Table | undefined {
    return this.#tables.get(offset);
  }

  /** Loads the table at `offset` with `read` (once, however many ask at the same time) and caches it. */
  load(offset: number, read: (bytes: Uint8Array) => Promise<void>, size: number): Promise<L2Table> {
    const loading = this.#loading.get(offset);
    if (loading) return loading;
    const promise = (async () => {
      const bytes = new Uint8Array(size);
      await read(bytes);
      const table: L2Table = { offset, bytes, view: new DataView(bytes.buffer), dirty: false };
      this.add(table);
      return table;
    })();
    this.#loading.set(offset, promise);
    const done = () => this.#loading.delete(offset);
    promise.then(done, done);
    return promise;
  }

  /** Caches `table` (a new one, or one just loaded), dropping clean, unpinned tables beyond the budget. */
  add(table: L2Table): void {
    this.#tables.set(table.offset, table);
    this.#bytes += table.bytes.length;
    this.#evict(table);
  }

  /** Keeps `table` cached until `unpinAll` (a write being planned holds it). */
  pin(table: L2Table): void {
    this.#pinned.add(table);
  }

  unpinAll(): void {
    this.#pinned.clear();
  }

  /** Drops clean tables the budget no longer has room for (after dirty ones were written). */
  trim(): void {
    this.#evict(undefined);
  }

  /** The tables changed since they were last written. */
  dirtyTables(): L2Table[] {
    return [...this.#tables.values()].filter((t) => t.dirty);
  }

  /** Bytes of changed tables held in memory. */
  dirtyBytes(): number {
    let n = 0;
    for (const t of this.#tables.values()) if (t.dirty) n += t.bytes.length;
    return n;
  }

  #evict(keep: L2Table | undefined): void {
    if (this.#bytes <= this.maxBytes) return;
    for (const [offset, t] of this.#tables) {
      if (this.#bytes <= this.maxBytes) break;
      if (t.dirty || t === keep || this.#pinned.has(t)) continue; // dirty tables stay until written
      this.#tables.delete(offset);
      this.#bytes -= t.bytes.length;
    }
  }
}
