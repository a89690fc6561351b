// "Did you mean …?" for a mistyped option, command or action: the known word
// a typo most likely came from, or none when nothing is close enough to be
// worth a guess (a wrong guess sends the user the wrong way).

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate `word` most likely meant: the only one it begins (`--serv`
 * for `--server`), else the nearest within one edit per four letters (at
 * least one), when no other is as near.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  if (lower.length >= 3) {
    const starts = candidates.filter((c) => c.toLowerCase().startsWith(lower) && c.length > lower.length);
    if (starts.length === 1) return starts[0];
  }
  const limit = Math.max(1, Math.floor(lower.length / 4));
  let best: string | undefined;
  let bestDistance = Infinity;
  let tie = false;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance) tie = true;
  }
  return bestDistance <= limit && !tie ? best : undefined;
}

/** "; did you mean X?" when one candidate is close, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const guess = closest(word, candidates);
  return guess === undefined ? '' : `; did you mean ${guess}?`;
}
