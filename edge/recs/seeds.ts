/**
 * The seed items of a request, which the item-to-item and MF sources score from: the request's page/cart items
 * (weight 1 each), then the user's history items weighted by their recency-decayed count / its maximum (as
 * vitrine_gpu.recs.sources._seeds).
 */
import type { UserHistory } from "./history";

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
