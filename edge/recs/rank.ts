/**
 * The recommendation cascade after the candidates (as vitrine_gpu.recs.evaluate.cascade_rank): the plan's recs-light
 * ONNX ranker over every candidate (WASM, the shared ORT session code) → the light top M → the recs-heavy sequence
 * model on the GPU tier (heavyRank, `task: "recommend"`, same deadline / breakers / failover as search) → final
 * = light + RECS_HEAVY_WEIGHT × heavy over the top M, the rest in light order. A GPU failure leaves the light order
 * (degraded, never thrown); a light-model failure leaves the merge order.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { heavyRank } from "../gpu/index";
import type { GpuDrillScope } from "../gpu/types";
import { scoreLight } from "../scoring/light";
import { gpuDegradedReason, type DegradedReason } from "../search/degraded";
import type { RankPlan } from "../search/rank-plan";
import type { UserHistory } from "./history";
import type { Candidates } from "./sources/merge";
import type { ItemTables } from "./tables";

export interface RecsRanked {
  /** position in the candidate list */
  k: number;
  id: string;
  light: number;
  heavy: number | null;
  /** the value the final position was decided by */
  score: number;
}

export interface RecsRankResult {
  /** every candidate, final order */
  items: RecsRanked[];
  degradedReasons: DegradedReason[];
  heavyModel: string;
  timings: { light: number; gpu: number };
}

export interface RecsRankInput {
  store: string;
  tables: ItemTables;
  candidates: Candidates;
  features: Float32Array;
  history: UserHistory | null;
  /** the version's clock (days) */
  now: number;
  drill?: GpuDrillScope;
  /** started with the light top max(M, k) ids once they are known (e.g. the product lookup), awaited by the caller */
  onLightOrder?: (ids: string[]) => void;
  k: number;
}

/**
 * Events sent to the sequence model: the most recent ones. The GPU tier takes ≤ 1000 (CONTRACTS.md C4) and the model
 * reads its `max_len` latest (50 by default); the store's heaviest buyers hold > 1000 distinct items.
 */
export const MAX_SEQUENCE = 200;

/** The user's purchase sequence for the sequence model: one event per item at its last purchase, oldest first. */
export function sequenceOf(t: ItemTables, h: UserHistory | null, max = MAX_SEQUENCE): { id: string; ts: number }[] {
  if (!h) return [];
  const events = Array.from(h.items, (i, j) => ({ id: t.ids[i]!, ts: h.last[j]! })).sort((a, b) => a.ts - b.ts);
  return events.slice(-max);
}

export async function rankRecs(env: Bindings, plan: RankPlan, input: RecsRankInput): Promise<RecsRankResult> {
  const { candidates: c, tables: t } = input;
  const n = c.items.length;
  const degradedReasons: DegradedReason[] = [];
  const t0 = performance.now();
  let light: Float32Array;
  try {
    light = await scoreLight(plan.lightModel, input.features, n);
  } catch (err) {
    console.error("recs light model failed; falling back to the merge order", err);
    degradedReasons.push("light_model_error");
    light = Float32Array.from(c.items, (_, k) => (n - k) / Math.max(n, 1));
  }
  const lightOrder = Array.from(c.items, (_, k) => k).sort((a, b) => light[b]! - light[a]! || a - b);
  const ranked = (k: number, heavy: number | null, score: number): RecsRanked => ({
    k,
    id: t.ids[c.items[k]!]!,
    light: light[k]!,
    heavy,
    score,
  });
  const lightMs = performance.now() - t0;
  const m = Math.max(0, Math.min(plan.topM, n));
  input.onLightOrder?.(lightOrder.slice(0, Math.max(m, input.k)).map((k) => t.ids[c.items[k]!]!));
  const lightOnly = (): RecsRanked[] => lightOrder.map((k) => ranked(k, null, light[k]!));
  if (m === 0)
    return { items: lightOnly(), degradedReasons, heavyModel: plan.heavyModel, timings: { light: lightMs, gpu: 0 } };

  const t1 = performance.now();
  const head = lightOrder.slice(0, m);
  const heavy = await heavyRank(
    env,
    {
      task: "recommend",
      store: input.store,
      sequence: sequenceOf(t, input.history),
      candidates: head.map((k) => t.ids[c.items[k]!]!),
      now: input.now,
      model: plan.heavyModel,
      ...(plan.targetVariant ? { targetVariant: plan.targetVariant } : {}),
    },
    { deadlineMs: plan.deadlineMs, ...(input.drill ? { drill: input.drill } : {}) },
  );
  const gpuMs = performance.now() - t1;
  if (!heavy.ok) {
    return {
      items: lightOnly(),
      degradedReasons: [...degradedReasons, gpuDegradedReason(heavy.reason)],
      heavyModel: plan.heavyModel,
      timings: { light: lightMs, gpu: gpuMs },
    };
  }
  const w = config(env).recs.heavyWeight;
  const top = head
    .map((k, i) => ({ k, i, h: heavy.scores[i]!, final: light[k]! + w * heavy.scores[i]! }))
    .sort((a, b) => b.final - a.final || a.i - b.i);
  return {
    items: [
      ...top.map((x) => ranked(x.k, x.h, x.final)),
      ...lightOrder.slice(m).map((k) => ranked(k, null, light[k]!)),
    ],
    degradedReasons,
    heavyModel: heavy.model,
    timings: { light: lightMs, gpu: gpuMs },
  };
}
