/**
 * History sources: the user's own purchases (in this data repeats are most of what people buy).
 *  - repeat: by the number of invoices holding the item (ties: the more recent first);
 *  - recency: by the recency-decayed purchase count (TIFU-like; edge/recs/history.ts says how D1 rows give it).
 */
import type { UserHistory } from "../history";
import { EMPTY, top, type Scored } from "./scored";

export function repeatFrequency(h: UserHistory | null): Scored {
  if (!h) return EMPTY;
  const o = Array.from(h.items, (_, j) => j).sort((a, b) => h.n[b]! - h.n[a]! || h.last[b]! - h.last[a]! || a - b);
  return { items: Int32Array.from(o, (j) => h.items[j]!), scores: Float32Array.from(o, (j) => h.n[j]!) };
}

export function repeatRecency(h: UserHistory | null): Scored {
  return h ? top(h.items, h.decay) : EMPTY;
}
