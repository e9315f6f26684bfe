/**
 * Matrix-factorisation source (implicit ALS, the pipeline's recs_vectors): the dot product of the user vector with
 * every sold item's vector — a scan over the version's item matrix, held per isolate (edge/recs/tables.ts). At
 * this size (≈4k items × 48 factors) the scan is well under a millisecond; past ~10^5 items an ANN index
 * (Cloudflare Vectorize) replaces it (README "Recommendations"). Users unknown to the version get the weighted mean
 * vector of their seed items (page/cart items, history), as in Python.
 */
import type { ItemTables } from "../tables";
import type { Seeds } from "./neighbours";
import { EMPTY, top, type Scored } from "./scored";

export function userVectorOf(t: ItemTables, known: Float32Array | null, seeds: Seeds): Float32Array | null {
  if (known && known.length === t.factors) return known;
  if (seeds.items.length === 0 || t.factors === 0) return null;
  const f = t.factors;
  const v = new Float32Array(f);
  let wsum = 0;
  for (let s = 0; s < seeds.items.length; s++) {
    const w = seeds.weights[s]!;
    wsum = Math.fround(wsum + w);
    const base = seeds.items[s]! * f;
    for (let j = 0; j < f; j++) v[j] = v[j]! + Math.fround(t.vectors[base + j]! * w);
  }
  const div = Math.max(wsum, 1e-9);
  for (let j = 0; j < f; j++) v[j] = v[j]! / div;
  return v;
}

export function embedding(t: ItemTables, v: Float32Array | null, k: number): Scored {
  if (!v) return EMPTY;
  const f = t.factors;
  const sold = t.soldItems;
  const vectors = t.vectors;
  const user = Float64Array.from(v);
  const scores = new Float32Array(sold.length);
  for (let a = 0; a < sold.length; a++) {
    const base = sold[a]! * f;
    let s = 0;
    for (let j = 0; j < f; j++) s += vectors[base + j]! * user[j]!;
    scores[a] = s;
  }
  return top(sold, scores, k);
}
