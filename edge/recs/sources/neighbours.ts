/**
 * Item-to-item sources over the pipeline's precomputed top-N neighbour lists (recs_neighbours):
 *  - copurchase: item-kNN, cosine over invoice baskets;
 *  - content: TF-IDF cosine over descriptions (reaches items nobody bought yet: cold items).
 * Score of an item = Σ over seed items of weight × similarity (the seeds: edge/recs/seeds.ts).
 */
import type { Seeds } from "../seeds";
import { neighboursOf, type ItemTables, type NeighbourKind } from "../tables";
import { EMPTY, topPositive, type Scored } from "./scored";

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
