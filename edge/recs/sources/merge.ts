/**
 * Merge of the sources into ≤ maxCandidates items, exactly as vitrine_gpu.recs.sources.candidates: the user's
 * history by recency first (up to maxHistory), then round-robin over co-purchase, MF, recency, content and
 * trending, skipping duplicates and the request's own page/cart items. Every source's score and 1-based rank
 * (0 = not proposed) is kept per candidate for the light ranker.
 */
import type { RecsSourceSettings } from "../../generated/models";
import type { UserHistory } from "../history";
import type { ItemTables } from "../tables";
import { embedding } from "./embedding";
import { repeatFrequency, repeatRecency } from "./history";
import { seedsOf } from "../seeds";
import { neighbourSource } from "./neighbours";
import { SOURCES, type Scored, type Source } from "./scored";
import { trending } from "./trending";

export interface Candidates {
  items: Int32Array;
  scores: Record<Source, Float32Array>;
  ranks: Record<Source, Float32Array>;
}

export interface CandidateInput {
  history: UserHistory | null;
  /** page / cart item indices */
  context: readonly number[];
}

/** Each source's list for the request. */
export function sourceLists(t: ItemTables, s: RecsSourceSettings, input: CandidateInput): Record<Source, Scored> {
  const seeds = seedsOf(input.history, input.context);
  return {
    repeat: repeatFrequency(input.history),
    recency: repeatRecency(input.history),
    copurchase: neighbourSource(t, "copurchase", seeds, s.perSource),
    mf: embedding(t, s.perSource),
    content: neighbourSource(t, "content", seeds, s.perSource),
    trending: trending(t, s.perSource),
  };
}

const ROUND_ROBIN: readonly Source[] = ["copurchase", "mf", "recency", "content", "trending"];

export function mergeCandidates(
  lists: Record<Source, Scored>,
  s: RecsSourceSettings,
  context: readonly number[],
): Candidates {
  const cap = s.maxCandidates;
  const chosen: number[] = [];
  const seen = new Set<number>(context);
  const recent = lists.recency.items;
  for (let j = 0; j < Math.min(recent.length, s.maxHistory); j++) {
    if (chosen.length >= cap) break;
    const i = recent[j]!;
    if (!seen.has(i)) {
      seen.add(i);
      chosen.push(i);
    }
  }
  const pos: Record<string, number> = Object.fromEntries(ROUND_ROBIN.map((n) => [n, 0]));
  const more = (): boolean => ROUND_ROBIN.some((n) => pos[n]! < lists[n].items.length);
  while (chosen.length < cap && more()) {
    for (const n of ROUND_ROBIN) {
      const ids = lists[n].items;
      while (pos[n]! < ids.length) {
        const i = ids[pos[n]!]!;
        pos[n] = pos[n]! + 1;
        if (!seen.has(i)) {
          seen.add(i);
          chosen.push(i);
          break;
        }
      }
      if (chosen.length >= cap) break;
    }
  }
  const items = Int32Array.from(chosen);
  const where = new Map(chosen.map((i, k) => [i, k]));
  const scores = {} as Record<Source, Float32Array>;
  const ranks = {} as Record<Source, Float32Array>;
  for (const n of SOURCES) {
    const sc = new Float32Array(items.length);
    const rk = new Float32Array(items.length);
    const l = lists[n];
    for (let r = 0; r < l.items.length; r++) {
      const k = where.get(l.items[r]!);
      if (k !== undefined) {
        sc[k] = l.scores[r]!;
        rk[k] = r + 1;
      }
    }
    scores[n] = sc;
    ranks[n] = rk;
  }
  return { items, scores, ranks };
}

/** Candidates for one request: every source, then the merge. */
export function candidates(t: ItemTables, s: RecsSourceSettings, input: CandidateInput): Candidates {
  return mergeCandidates(sourceLists(t, s, input), s, input.context);
}
