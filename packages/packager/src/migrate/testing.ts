/** Test support of the migration tests (not exported from index.ts). */

/** Polls until `fn` returns a value, or fails with the last error after `ms`. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms / 1000} s${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The page a web server answers on 127.0.0.1:port, or undefined while it does not. */
export async function page(port: number): Promise<string | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
  return r.ok ? await r.text() : undefined;
}
