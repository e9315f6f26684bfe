/**
 * The rank plan: everything that decides how one request is ranked, resolved once per request in this one module
 * (the way a Vespa rank profile keeps its phase sizes and models together) — the experiment and the caller's sticky
 * variant, the light and heavy model versions, the SageMaker production variant, how many candidates retrieval
 * returns (N) and how many go to the heavy model (M), the GPU deadline and the blend weight of the final order.
 * The cascade (edge/search/cascade.ts) and the response cache key read it; nothing else re-derives these values.
 * It depends on the store, the surface and the caller, not on the route, so any ranking route can resolve one: the
 * experiment is the active one of the request's store and surface (edge/experiments/config.ts). The
 * "recommend" surface plans with the recommendation models (recs-light bundled here, recs-heavy on the GPU tier),
 * retrieval N = the recs-light version's candidate cap and M = RECS_TOP_M; its final order is light +
 * RECS_HEAVY_WEIGHT × heavy (edge/recs/rank.ts), so blendWeight is null there.
 */
import { RERANK_MAX, config } from "../config";
import type { Bindings } from "../env";
import { assignVariant } from "../experiments/assign";
import {
  defaultModels,
  getExperimentConfig,
  type ExperimentConfig,
  type ExperimentScope,
  type Variant,
} from "../experiments/config";
import { HEAVY_BLEND_WEIGHTS, LIGHT_MODELS, RECS_LIGHT_MODELS } from "../generated/models";

export interface RankPlan {
  experimentId: string;
  /** the caller's variant of that experiment */
  variant: string;
  /** the light model version this worker runs for the variant (an unbundled version falls back to the default) */
  lightModel: string;
  /** the heavy model version asked of the GPU tier ("" = the GPU tier's own default) */
  heavyModel: string;
  /** SageMaker production variant to pin (TargetVariant); undefined = the endpoint routes */
  targetVariant?: string;
  /** candidates retrieval returns */
  retrievalN: number;
  /** light-ranked candidates sent to the heavy model */
  topM: number;
  /** budget of the whole GPU stage, all attempts included */
  deadlineMs: number;
  /** w in z(heavy) + w·z(light) for the planned heavy model; null = order by the heavy score alone */
  blendWeight: number | null;
}

/**
 * What the caller brings besides the query: `candidates` is the size of a caller-supplied candidate list
 * (POST /v1/rerank). Such a list is ranked whole: M = max(variant M, list length), capped at RERANK_MAX, so every
 * candidate of a list ≤ RERANK_MAX gets a heavy score.
 */
export interface RankAsk {
  candidates?: number;
}

/** The blend weight the pipeline's cross-validation chose for a heavy model version (null: none chosen). */
export function blendWeightFor(heavyModel: string): number | null {
  return HEAVY_BLEND_WEIGHTS[heavyModel] ?? null;
}

/** The plan for one variant of an experiment on a surface. */
export function planFor(
  env: Bindings,
  experiment: ExperimentConfig,
  variant: Variant,
  ask: RankAsk = {},
  surface = "search",
): RankPlan {
  const cfg = config(env);
  const recommend = surface === "recommend";
  const defaults = defaultModels(surface);
  const bundled = recommend ? RECS_LIGHT_MODELS : LIGHT_MODELS;
  const heavyModel = variant.heavyModel || defaults.heavyModel;
  const lightModel = Object.hasOwn(bundled, variant.lightModel) ? variant.lightModel : defaults.lightModel;
  const variantM = variant.topM ?? (recommend ? cfg.recs.topM : cfg.search.lightTopM);
  const retrievalN = recommend
    ? (RECS_LIGHT_MODELS[lightModel]?.sources.maxCandidates ?? cfg.search.retrievalN)
    : cfg.search.retrievalN;
  return {
    experimentId: experiment.experimentId,
    variant: variant.name,
    lightModel,
    heavyModel,
    ...(variant.gpuTargetVariant ? { targetVariant: variant.gpuTargetVariant } : {}),
    retrievalN,
    topM: ask.candidates === undefined ? variantM : Math.min(RERANK_MAX, Math.max(variantM, ask.candidates)),
    deadlineMs: cfg.search.gpuDeadlineMs,
    blendWeight: recommend ? null : blendWeightFor(heavyModel),
  };
}

/**
 * The plan of a unit (user or anonymous id, edge/experiments/assign.ts) on the active experiment of a store's surface.
 */
export async function resolveRankPlan(
  env: Bindings,
  scope: ExperimentScope,
  unit: string,
  ask: RankAsk = {},
): Promise<RankPlan> {
  const experiment = await getExperimentConfig(env, scope);
  return planFor(env, experiment, await assignVariant(experiment, unit), ask, scope.surface);
}
