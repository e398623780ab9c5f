/** Orders packages by name, then version, then release (plain text order: stable, not rpmvercmp). */
export function byNameVersionRelease(a: { name: string; version: string; release: string }, b: { name: string; version: string; release: string }): number {
  const key = (p: typeof a): string => `${p.name}\0${p.version}\0${p.release}`;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
