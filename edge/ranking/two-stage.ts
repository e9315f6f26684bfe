/**
 * The two-stage ranker both surfaces call (search: edge/search/answer.ts; recommend: edge/recs/answer.ts), under a
 * rank plan (edge/ranking/plan.ts):
 *
 *   light  the plan's light model (ONNX in the isolate, edge/scoring/light.ts) scores every candidate from the
 *          surface's features; if it fails, the surface's fallback scores stand in (degraded light_model_error);
 *          candidates are ordered by light score, ties keeping candidate order;
 *   heavy  the light top M go to the plan's heavy model on the GPU tier (heavyRank: deadline, breakers, failover),
 *          as the request the surface builds for them; a failure leaves the light order (degraded gpu_<reason>);
 *   final  the top M ordered by the plan's combine over their light and heavy scores (ties: light order), the rest
 *          in light order; each entry's `score` is the value its position was decided by.
 *
 * The stages are two calls so that a surface can start work that needs only the light order (a product lookup)
 * while the GPU stage runs; rankTwoStage runs both. Nothing here throws for a model or GPU failure.
 */
import type { Bindings } from "../env";
import { heavyRank } from "../gpu/index";
import type { GeoTrace } from "../gpu/request-location";
import type { GpuScope, RecommendRankRequest, SearchRankRequest } from "../gpu/types";
import { scoreLight } from "../scoring/light";
import { gpuDegradedReason, type DegradedReason } from "./degraded";
import { combineFor, type Combine, type RankPlan } from "./plan";

type Planned = "model" | "targetVariant" | "deadlineMs";
/** What a surface asks the GPU tier about its light top M; the plan adds the model, the variant, the deadline. */
export type HeavyAsk = Omit<SearchRankRequest, Planned> | Omit<RecommendRankRequest, Planned>;

/** What a surface brings to the light stage: n candidates, their features, and the scores used if the model fails. */
export interface LightInput {
  n: number;
  /** the row-major [n × model features] matrix for the plan's light model (may throw: the fallback then stands) */
  features: () => Float32Array;
  /** candidate i's stand-in light score when the light model fails (e.g. its retrieval score) */
  fallback: (i: number) => number;
}

export interface LightRanked {
  /** candidate indices, light order */
  order: number[];
  /** light score per candidate (index = candidate) */
  light: Float32Array;
  degradedReasons: DegradedReason[];
  ms: number;
}

/** One candidate in the final order. */
export interface RankedEntry {
  /** the candidate's index in the surface's list */
  index: number;
  light: number;
  /** null: not heavy-ranked (below the top M, or the GPU stage failed) */
  heavy: number | null;
  /** the value the final position was decided by */
  score: number;
}

export interface TwoStageResult {
  /** every candidate, final order */
  entries: RankedEntry[];
  /** empty: not degraded */
  degradedReasons: DegradedReason[];
  /** the heavy model that actually scored (as the GPU tier reported), else the planned one */
  heavyModel: string;
  timings: { light: number; gpu: number };
}

/** The light stage: scores, order, timing. */
export async function lightStage(plan: RankPlan, input: LightInput): Promise<LightRanked> {
  const t0 = performance.now();
  const degradedReasons: DegradedReason[] = [];
  let light: Float32Array;
  try {
    light = await scoreLight(plan.lightModel, input.features(), input.n);
  } catch (err) {
    console.error(`light model ${plan.lightModel} failed; the ${plan.surface} fallback order stands`, err);
    degradedReasons.push("light_model_error");
    light = Float32Array.from({ length: input.n }, (_, i) => input.fallback(i));
  }
  const order = Array.from({ length: input.n }, (_, i) => i).sort((a, b) => light[b]! - light[a]! || a - b);
  return { order, light, degradedReasons, ms: performance.now() - t0 };
}

/** Per-list z-scores (a constant list maps to zeros), as the pipeline's evaluation does. */
function zScores(xs: readonly number[]): number[] {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return xs.map((x) => (x - mean) / (sd > 1e-9 ? sd : 1));
}

/** The keys the top M are ordered by — the one place stages are combined. */
export function combinedKeys(combine: Combine, light: readonly number[], heavy: readonly number[]): number[] {
  switch (combine.kind) {
    case "heavy":
      return [...heavy];
    case "blend": {
      if (heavy.length === 0) return [];
      const zh = zScores(heavy);
      const zl = zScores(light);
      return zh.map((z, i) => z + combine.weight * zl[i]!);
    }
    case "residual":
      return heavy.map((h, i) => light[i]! + combine.weight * h);
  }
}

/** The final order: the top M by `keys` (ties: light order), then the rest in light order; no keys = light order. */
export function finalOrder(
  ranked: Pick<LightRanked, "order" | "light">,
  heavy: { scores: readonly number[]; keys: readonly number[] } | null,
): RankedEntry[] {
  const lightEntry = (index: number): RankedEntry => ({
    index,
    light: ranked.light[index]!,
    heavy: null,
    score: ranked.light[index]!,
  });
  if (!heavy) return ranked.order.map(lightEntry);
  const m = heavy.scores.length;
  const top = ranked.order
    .slice(0, m)
    .map((index, i) => ({ index, i, h: heavy.scores[i]!, key: heavy.keys[i]! }))
    .sort((a, b) => b.key - a.key || a.i - b.i)
    .map(({ index, h, key }): RankedEntry => ({ index, light: ranked.light[index]!, heavy: h, score: key }));
  return [...top, ...ranked.order.slice(m).map(lightEntry)];
}

/**
 * The heavy stage on the light top M: `request` builds the GPU request for those candidates (light order), `scope`
 * is the GPU scope of synthetic traffic (undefined for real traffic).
 */
export async function heavyStage(
  env: Bindings,
  plan: RankPlan,
  ranked: LightRanked,
  request: (head: readonly number[]) => HeavyAsk,
  scope?: GpuScope,
  geo?: GeoTrace,
): Promise<TwoStageResult> {
  const m = Math.max(0, Math.min(plan.topM, ranked.order.length));
  const done = (entries: RankedEntry[], extra: DegradedReason[], heavyModel: string, gpu: number): TwoStageResult => ({
    entries,
    degradedReasons: [...ranked.degradedReasons, ...extra],
    heavyModel,
    timings: { light: ranked.ms, gpu },
  });
  if (m === 0) return done(finalOrder(ranked, null), [], plan.heavyModel, 0);
  const head = ranked.order.slice(0, m);
  const t0 = performance.now();
  const heavy = await heavyRank(
    env,
    {
      ...request(head),
      model: plan.heavyModel,
      ...(plan.targetVariant ? { targetVariant: plan.targetVariant } : {}),
    } as SearchRankRequest | RecommendRankRequest,
    { deadlineMs: plan.deadlineMs, ...(scope ? { scope } : {}), ...(geo ? { geo } : {}) },
  );
  const gpuMs = performance.now() - t0;
  if (!heavy.ok) return done(finalOrder(ranked, null), [gpuDegradedReason(heavy.reason)], plan.heavyModel, gpuMs);
  const keys = combinedKeys(
    combineFor(plan, heavy.model),
    head.map((i) => ranked.light[i]!),
    heavy.scores,
  );
  return done(finalOrder(ranked, { scores: heavy.scores, keys }), [], heavy.model, gpuMs);
}

/** Both stages; an empty candidate list is an empty, non-degraded answer. */
export async function rankTwoStage(
  env: Bindings,
  plan: RankPlan,
  input: LightInput,
  request: (head: readonly number[]) => HeavyAsk,
  scope?: GpuScope,
  geo?: GeoTrace,
): Promise<TwoStageResult> {
  if (input.n === 0)
    return { entries: [], degradedReasons: [], heavyModel: plan.heavyModel, timings: { light: 0, gpu: 0 } };
  return heavyStage(env, plan, await lightStage(plan, input), request, scope, geo);
}
