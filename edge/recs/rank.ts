/**
 * The recommendation surface's side of the two-stage ranker (edge/ranking/two-stage.ts), as
 * vitrine_gpu.recs.evaluate.cascade_rank: the plan's recs-light ONNX ranker over every candidate (the merge order
 * stands in if it fails) → the light top M with the user's purchase sequence to the recs-heavy sequence model on the
 * GPU tier → light + w × heavy over the top M (the plan's residual combine). The titles and prices of the items that
 * can make the answer are read while the GPU stage runs; an item that is not an available product of the store is
 * never answered.
 */
import type { DegradedReason } from "../ranking/degraded";
import type { RankPlan } from "../ranking/plan";
import type { RankingRequest } from "../ranking/request";
import { heavyStage, lightStage } from "../ranking/two-stage";
import type { UserHistory } from "./history";
import { productInfo } from "./products";
import type { Candidates } from "./sources/merge";
import { SOURCES, type Source } from "./sources/scored";
import type { ItemTables } from "./tables";

/**
 * Events sent to the sequence model: the most recent ones. The GPU tier takes ≤ 1000 (CONTRACTS.md C4) and the model
 * reads its `max_len` latest (50 by default); the store's heaviest buyers hold > 1000 distinct items.
 */
export const MAX_SEQUENCE = 200;

/** The user's purchase sequence for the sequence model: one event per item at its last purchase, oldest first. */
export function sequenceOf(
  t: Pick<ItemTables, "ids">,
  h: UserHistory | null,
  max = MAX_SEQUENCE,
): { id: string; ts: number }[] {
  if (!h) return [];
  const events = Array.from(h.items, (i, j) => ({ id: t.ids[i]!, ts: h.last[j]! })).sort((a, b) => a.ts - b.ts);
  return events.slice(-max);
}

export type ItemScores = Record<Source, number> & { light: number; heavy: number | null };

export interface RecommendItem {
  id: string;
  title: string;
  price: number | null;
  /** the value the final position was decided by (light + w × heavy over the heavy top M, else light) */
  score: number;
  scores: ItemScores;
  /** the candidate sources that proposed the item */
  sources: Source[];
}

export interface RecsRankInput {
  store: string;
  tables: ItemTables;
  candidates: Candidates;
  /** the recs-light features of every candidate (edge/recs/features.ts) */
  features: Float32Array;
  history: UserHistory | null;
  /** the version's clock (days) */
  now: number;
  k: number;
}

export interface RecsRanking {
  /** the top k, final order */
  items: RecommendItem[];
  degradedReasons: DegradedReason[];
  heavyModel: string;
  timings: { light: number; gpu: number };
}

export async function rankRecs(
  req: Pick<RankingRequest, "env" | "gpu" | "d1" | "geo">,
  plan: RankPlan,
  input: RecsRankInput,
): Promise<RecsRanking> {
  const { candidates: c, tables: t, store } = input;
  const n = c.items.length;
  const idOf = (k: number): string => t.ids[c.items[k]!]!;
  const light = await lightStage(plan, {
    n,
    features: () => input.features,
    fallback: (k) => (n - k) / Math.max(n, 1),
  });
  // the final top k come from the light top max(M, k); k more stand in for products no longer available
  const answerable = light.order.slice(0, Math.max(Math.min(plan.topM, n), input.k) + input.k).map(idOf);
  const info = req.d1.read((db) => productInfo(db, store, answerable));
  info.catch(() => undefined); // awaited below, after the GPU stage: a failure meanwhile is not unhandled
  const ranked = await heavyStage(
    req.env,
    plan,
    light,
    (head) => ({
      task: "recommend",
      store,
      sequence: sequenceOf(t, input.history),
      candidates: head.map(idOf),
      now: input.now,
    }),
    req.gpu,
    req.geo,
  );
  const products = await info;
  const served = ranked.entries.filter((e) => products.has(idOf(e.index))).slice(0, input.k);
  const items = served.map(({ index: k, light: l, heavy, score }): RecommendItem => {
    const id = idOf(k);
    const p = products.get(id)!;
    const scores = Object.fromEntries(SOURCES.map((s) => [s, c.scores[s][k]!])) as ItemScores;
    scores.light = l;
    scores.heavy = heavy;
    return {
      id,
      title: p.title,
      price: p.price ?? t.price[c.items[k]!] ?? null,
      score,
      scores,
      sources: SOURCES.filter((s) => c.ranks[s][k]! > 0),
    };
  });
  return { items, degradedReasons: ranked.degradedReasons, heavyModel: ranked.heavyModel, timings: ranked.timings };
}
