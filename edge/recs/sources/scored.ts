/** What every candidate source answers: item indices and their scores, best first (CONTRACTS.md C5b). */

export const SOURCES = ["repeat", "recency", "copurchase", "mf", "trending", "content"] as const;
export type Source = (typeof SOURCES)[number];

export interface Scored {
  items: Int32Array;
  /** float32, as the pipeline's sources give them */
  scores: Float32Array;
}

export const EMPTY: Scored = { items: new Int32Array(0), scores: new Float32Array(0) };

/** The k best of `items` by `scores` (descending; ties keep the order of `items`), as numpy's stable argsort. */
export function top(items: ArrayLike<number>, scores: ArrayLike<number>, k?: number): Scored {
  const order = Array.from({ length: items.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const o = k === undefined ? order : order.slice(0, k);
  return { items: Int32Array.from(o, (i) => items[i]!), scores: Float32Array.from(o, (i) => scores[i]!) };
}
