/**
 * Item-to-item sources over the pipeline's precomputed top-N neighbour lists (recs_neighbours):
 *  - copurchase: item-kNN, cosine over invoice baskets;
 *  - content: TF-IDF cosine over descriptions (reaches items nobody bought yet: cold items).
 * Score of an item = Σ over seed items of weight × similarity. Seeds: the request's page/cart items (weight 1 each),
 * then the user's history items weighted by their recency-decayed count / its maximum.
 */
import type { UserHistory } from "../history";
import { neighboursOf, type ItemTables, type NeighbourKind } from "../tables";
import { EMPTY, topPositive, type Scored } from "./scored";

export interface Seeds {
  items: number[];
  weights: number[];
}

export function seedsOf(h: UserHistory | null, context: readonly number[]): Seeds {
  const items = [...context];
  const weights = context.map(() => 1);
  if (h) {
    let max = 0;
    for (const d of h.decay) max = Math.max(max, d);
    const div = Math.max(max, 1e-9);
    for (let j = 0; j < h.items.length; j++) {
      items.push(h.items[j]!);
      weights.push(Math.fround(h.decay[j]! / div));
    }
  }
  return { items, weights };
}

export function neighbourSource(t: ItemTables, kind: NeighbourKind, seeds: Seeds, k: number): Scored {
  if (seeds.items.length === 0) return EMPTY;
  const acc = new Float64Array(t.ids.length);
  for (let s = 0; s < seeds.items.length; s++) {
    const w = seeds.weights[s]!;
    const { ids, sims } = neighboursOf(t, kind, seeds.items[s]!);
    for (let r = 0; r < ids.length; r++) {
      const j = ids[r]!;
      acc[j] = acc[j]! + Math.fround(sims[r]! * w);
    }
  }
  return topPositive(acc, k);
}
