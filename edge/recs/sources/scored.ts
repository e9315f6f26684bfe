/** What every candidate source answers: item indices and their scores, best first (CONTRACTS.md C5b). */

export const SOURCES = ["repeat", "recency", "copurchase", "mf", "trending", "content"] as const;
export type Source = (typeof SOURCES)[number];

export interface Scored {
  items: Int32Array;
  /** float32, as the pipeline's sources give them */
  scores: Float32Array;
}

export const EMPTY: Scored = { items: new Int32Array(0), scores: new Float32Array(0) };

/**
 * The k best of `items` by `scores` (descending; ties keep the order of `items`), as numpy's stable argsort then
 * [:k]. Selection first: the k-th largest score (a native typed-array sort) bounds the set, only ≤ k entries are
 * sorted with the comparator.
 */
export function top(items: ArrayLike<number>, scores: ArrayLike<number>, k?: number): Scored {
  const n = items.length;
  let picked: number[];
  if (k === undefined || k >= n) {
    picked = Array.from({ length: n }, (_, i) => i);
  } else if (k <= 0) {
    picked = [];
  } else {
    const kth = Float64Array.from(scores).sort()[n - k]!;
    let above = 0;
    for (let i = 0; i < n; i++) if (scores[i]! > kth) above++;
    let ties = k - above;
    picked = [];
    for (let i = 0; i < n; i++) {
      const s = scores[i]!;
      if (s > kth || (s === kth && ties-- > 0)) picked.push(i);
    }
  }
  picked.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return { items: Int32Array.from(picked, (i) => items[i]!), scores: Float32Array.from(picked, (i) => scores[i]!) };
}

/** top() over a dense score array indexed by item (only positive scores count; ties: lower index first). */
export function topPositive(acc: Float64Array, k: number): Scored {
  let n = 0;
  for (let i = 0; i < acc.length; i++) if (acc[i]! > 0) n++;
  if (n === 0 || k <= 0) return EMPTY;
  const values = new Float64Array(n);
  let w = 0;
  for (let i = 0; i < acc.length; i++) if (acc[i]! > 0) values[w++] = acc[i]!;
  const kth = k >= n ? 0 : values.sort()[n - k]!;
  let ties = k;
  if (k < n) for (let i = 0; i < n; i++) if (values[i]! > kth) ties--;
  const picked: number[] = [];
  for (let i = 0; i < acc.length; i++) {
    const s = acc[i]!;
    if (s > 0 && (s > kth || (s === kth && ties-- > 0))) picked.push(i);
  }
  picked.sort((a, b) => acc[b]! - acc[a]! || a - b);
  return { items: Int32Array.from(picked), scores: Float32Array.from(picked, (i) => acc[i]!) };
}
