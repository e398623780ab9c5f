// Unified diffs of guest text files, for dry runs: Myers' O(ND) line diff (conversions change a
// few lines of files that may be long), printed with three lines of context as `diff -u` does.

type Op = { kind: " " | "-" | "+"; line: string };

/** Lines of a text; a final newline does not make an extra empty line. */
function toLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The shortest edit script from `a` to `b` (Myers 1986, greedy forward search). */
function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const v = new Map<number, number>([[1, 0]]);
  const trace: Map<number, number>[] = [];
  outer: for (let d = 0; d <= max; d++) {
    trace.push(new Map(v));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && (v.get(k - 1) ?? 0) < (v.get(k + 1) ?? 0)) ? (v.get(k + 1) ?? 0) : (v.get(k - 1) ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v.set(k, x);
      if (x >= n && y >= m) break outer;
    }
  }
  // Walk back through the saved frontiers.
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0 && (x > 0 || y > 0); d--) {
    const vd = trace[d] as Map<number, number>;
    const k = x - y;
    const prevK = k === -d || (k !== d && (vd.get(k - 1) ?? 0) < (vd.get(k + 1) ?? 0)) ? k + 1 : k - 1;
    const prevX = vd.get(prevK) ?? 0;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      ops.push({ kind: " ", line: a[x] as string });
    }
    if (d > 0) {
      if (x === prevX) ops.push({ kind: "+", line: b[--y] as string });
      else ops.push({ kind: "-", line: a[--x] as string });
    }
  }
  return ops.reverse();
}

/** `diff -u`-style text of the change from `before` to `after` ("" when equal). */
export function unifiedDiff(before: string, after: string, fromName: string, toName: string, context = 3): string {
  if (before === after) return "";
  const a = toLines(before);
  const b = toLines(after);
  const ops = editScript(a, b);
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  let i = 0;
  while (i < ops.length) {
    if ((ops[i] as Op).kind === " ") {
      i++;
      continue;
    }
    // A hunk: back up `context` lines, then run until `2*context` unchanged lines in a row.
    let start = i;
    while (start > 0 && i - start < context && (ops[start - 1] as Op).kind === " ") start--;
    let end = i;
    let same = 0;
    while (end < ops.length && same <= 2 * context) {
      same = (ops[end] as Op).kind === " " ? same + 1 : 0;
      end++;
    }
    end -= Math.max(0, same - context);
    let aLine = 1;
    let bLine = 1;
    for (let j = 0; j < start; j++) {
      if ((ops[j] as Op).kind !== "+") aLine++;
      if ((ops[j] as Op).kind !== "-") bLine++;
    }
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.kind !== "+").length;
    const bCount = hunk.filter((o) => o.kind !== "-").length;
    out.push(`@@ -${aCount === 0 ? aLine - 1 : aLine},${aCount} +${bCount === 0 ? bLine - 1 : bLine},${bCount} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    i = end;
  }
  return `${out.join("\n")}\n`;
}
