/**
 * Matrix-factorisation source (implicit ALS, the pipeline's recs_vectors): the items with the largest dot product with
 * the user's vector — or, for a user the version does not know, with the weighted mean vector of their seed items
 * (page/cart items, history), as in Python. The request's tables hold the ANN index's answer (edge/recs/ann/: the D1
 * top-N lists, or Vectorize in production; read by edge/recs/tables.ts): no scan over the catalogue at the edge.
 */
import type { ItemTables } from "../tables";
import type { Scored } from "./scored";

export function embedding(t: ItemTables, k: number): Scored {
  return { items: t.mf.items.slice(0, k), scores: t.mf.scores.slice(0, k) };
}
