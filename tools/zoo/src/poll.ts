/**
 * Polls until `fn` returns a value (not undefined), retrying on errors; after `ms` fails with the
 * last error. For tests waiting on a booting guest, a starting container or a server.
 */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number, what: string, intervalMs = 500): Promise<T> {
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
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The page a web server answers on http://127.0.0.1:port/, or undefined while it answers no 2xx. */
export async function localPage(port: number): Promise<string | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
  return r.ok ? await r.text() : undefined;
}
